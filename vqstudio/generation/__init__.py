"""From a trained project to new recordings.

- `sampling`: the `generate` job (prior, then decoder; any length, labels, seeds);
- `export`: writing generated recordings (file names, checks before sampling, EDF/BDF/CSV/NPY);
- `reconstruction`: a real recording encoded and decoded by the tokenizer, with its figures.
"""
