"""Neural network modules: the VQ-VAE tokenizer (encoder, quantizer, decoder) and its losses.

These modules import torch at top level; only torch-using code (training, sampling) imports
them, so `import vqstudio` stays light. Models know nothing of files, threads or the UI.
"""
