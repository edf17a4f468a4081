"""Recordings in memory and what training makes of them.

- `recording`: the one data model (`Recording`, `Channel`, `Annotation`), what every reader
  returns and every writer takes;
- `prep`: recordings to normalised, split training windows (channels, rate, filters, labels);
- `simulate`: the built-in demo recording (simulated EEG and ECG).
"""
