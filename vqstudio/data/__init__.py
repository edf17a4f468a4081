"""What training makes of recordings (`vqstudio.recording`), knowing nothing of project folders.

- `prep`: recordings to normalised, split training windows (channels, rate, filters, labels);
- `working_rate`: the rate the model works at, chosen from the recordings' spectrum;
- `flat`: flat and saturated stretches, left out of the windows;
- `simulate`: the built-in demo recording (simulated EEG and ECG).
"""
