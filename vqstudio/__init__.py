"""VQ Studio engine: recordings in and out, tokenizer and prior training, generation, evaluation.

This package never imports Qt; the desktop app in `ui/` imports it, never the reverse.
Heavy modules (torch) are imported lazily by the functions that need them.
"""

__version__ = "0.1.0"
