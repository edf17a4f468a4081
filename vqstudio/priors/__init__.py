"""Stage 2: priors over the tokenizer's latents, their training, and long-recording sampling.

- `diffusion.DiffusionDenoiser`: latent diffusion (default), `schedule.CosineSchedule`,
  `samplers.SAMPLERS` (DDIM, DPM-Solver++(2M)).
- `autoregressive.AutoregressivePrior`: causal transformer over code indices.
- `continuation`: any-length sampling for both, and seamless decoding.
- `training.train_prior`: the stage-2 training job; `store.load_prior`: a trained prior.

This package imports torch; import it only from torch-using code.
"""
