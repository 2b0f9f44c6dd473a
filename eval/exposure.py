"""Exposure-matched PSNR: PSNR after one gain per colour channel fitted to the target.

Real wide-aperture photos are often exposed differently from the sharp input (VABD's are 0.37
EV brighter on average), and a method that leaves exposure alone is then penalised for it. This
metric first scales each channel of the prediction by the least-squares gain
``g_c = sum(pred_c * target_c) / sum(pred_c^2)`` (on the stored values, so on display values;
for a power-law encoding this is an exposure change), clips to ``[0, data_range]``, then takes
the PSNR. Its gap to the plain PSNR is the part of the error an exposure change explains; what
remains is blur, misalignment and colour error.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["channel_gains", "exposure_matched", "psnr_exposure_matched"]


def _batch(x: Any, name: str) -> torch.Tensor:
    """(B, C, H, W) float64 from a tensor (B, C, H, W) / (C, H, W) or an array (H, W, C) /
    (B, H, W, C)."""
    if isinstance(x, torch.Tensor):
        t = x.detach().to(torch.float64)
        if t.ndim == 3:
            t = t[None]
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(np.array(x, dtype=np.float64))  # a copy: inputs may be read-only
        if t.ndim == 3:
            t = t[None]
        if t.ndim == 4:
            t = t.permute(0, 3, 1, 2)
    else:
        raise TypeError(f"{name} must be a torch tensor or a numpy array, got {type(x).__name__}")
    if t.ndim != 4:
        raise ValueError(f"{name} must be one image or a batch of images; got {tuple(x.shape)}")
    return t


def channel_gains(pred: Any, target: Any) -> torch.Tensor:
    """Least-squares gain per image and channel, (B, C): ``target ~ gain * pred``.

    Args:
        pred, target: images of the same shape (see :func:`psnr_exposure_matched`).
    """
    p, t = _batch(pred, "pred"), _batch(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target differ in shape: {tuple(p.shape)} vs {tuple(t.shape)}")
    num = (p * t).sum(dim=(2, 3))
    den = (p * p).sum(dim=(2, 3))
    return torch.where(den > 0, num / den.clamp_min(1e-30), torch.ones_like(num))


def exposure_matched(pred: Any, target: Any, *, data_range: float) -> torch.Tensor:
    """``pred`` with each channel scaled by :func:`channel_gains` and clipped to
    ``[0, data_range]``, as (B, C, H, W) float64."""
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive number, got {data_range!r}")
    p = _batch(pred, "pred")
    gains = channel_gains(p, target)
    return (p * gains[:, :, None, None]).clamp(0.0, float(data_range))


def psnr_exposure_matched(pred: Any, target: Any, *, data_range: float) -> torch.Tensor:
    """PSNR (dB) per image after :func:`exposure_matched`, shape (B,); ``inf`` when equal.

    Args:
        pred, target: a torch tensor (B, C, H, W) or (C, H, W), or a numpy array (H, W, C) or
            (B, H, W, C); values in ``[0, data_range]`` (nothing is rescaled).
        data_range: keyword-only, required (255 for uint8 images).
    """
    matched = exposure_matched(pred, target, data_range=data_range)
    t = _batch(target, "target")
    mse = ((matched - t) ** 2).mean(dim=(1, 2, 3))
    with torch.no_grad():
        return 10.0 * torch.log10(float(data_range) ** 2 / mse)
