"""Stage 2: priors over the tokenizer's latents and long-recording sampling.

- `registry.PRIORS`: every prior by name (config and model class); torch-free.
- `config`: the priors' configs, size presets and sampling options; torch-free.
- `diffusion.DiffusionDenoiser`: latent diffusion (default), `schedule.CosineSchedule`,
  `samplers.SAMPLERS` (DDIM, DPM-Solver++(2M)).
- `autoregressive.AutoregressivePrior`: causal transformer over code indices.
- `continuation`: any-length sampling for both, and seamless decoding.
- `store`: building, saving and loading a prior.

Training a prior is `vqstudio.training.prior_stage`. The model modules import torch; import them
only from torch-using code.
"""
