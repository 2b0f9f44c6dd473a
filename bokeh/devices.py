"""Where models run: one rule for every network the library loads."""

from __future__ import annotations

import torch


def default_device() -> str:
    """``"cuda"`` when a CUDA GPU is visible (a GPU machine, or inside ``spaces.GPU`` on a
    ZeroGPU Space), else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"
