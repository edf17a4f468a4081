"""Runtime hook of the VQ Studio bundle: runs before the entry point, imports nothing heavy.

It must never import torch: the app shows its window before torch is loaded.
"""

import os

# No torch.compile in the shipped app: it needs a C compiler and writes caches at run time.
# With Dynamo disabled, torch.compile returns the function unchanged.
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
