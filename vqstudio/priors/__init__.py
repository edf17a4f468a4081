"""Stage 2: priors over the tokenizer's latents and long-recording sampling.

A prior is one module: its config, model, loss and any-length sampling.

- `registry`: every prior by name (`PRIORS`, `register_prior`); torch-free.
- `config`: what every prior shares: the protocol of a prior's config and model, sampling options
  and their defaults, size presets, configs rebuilt from JSON; torch-free.
- `limits`: bounds of prior settings, weight and sampling-memory counts of transformer blocks.
- `diffusion`: latent diffusion (default), over `noise_schedule.CosineSchedule` and
  `samplers.SAMPLERS` (DDIM, DPM-Solver++(2M)), segment after overlapping segment.
- `autoregressive`: a causal transformer over code indices with a sliding key/value cache.
- `continuation`: any prior's sampling made latents, and seamless decoding; knows no prior class.
- `store`: building, saving and loading a prior.

Training a prior is `vqstudio.training.prior_stage`. The prior modules import torch; import them
only from torch-using code.
"""
