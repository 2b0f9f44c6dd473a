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

    uint8 images are scored from each channel's joint histogram of (pred, target) values
    (256 x 256 counts: the gain and the clipped squared error are exact sums over it), so no
    matched image is built; other types through :func:`exposure_matched`.
    """
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive number, got {data_range!r}")
    if _is_uint8(pred) and _is_uint8(target):
        sse, n = _sse_from_histograms(_uint8_batch(pred), _uint8_batch(target), float(data_range))
        mse = sse.sum(dim=1) / n
    else:
        matched = exposure_matched(pred, target, data_range=data_range)
        mse = ((matched - _batch(target, "target")) ** 2).mean(dim=(1, 2, 3))
    with torch.no_grad():
        return 10.0 * torch.log10(float(data_range) ** 2 / mse)


def _is_uint8(x: Any) -> bool:
    return getattr(x, "dtype", None) in (np.uint8, torch.uint8)


def _uint8_batch(x: Any) -> torch.Tensor:
    """(B, C, H, W) uint8 view of a uint8 tensor or array (layouts as :func:`_batch`)."""
    if isinstance(x, torch.Tensor):
        t = x
    else:  # read-only arrays are copied (torch warns on them; nothing is written here)
        a = np.ascontiguousarray(x)
        t = torch.from_numpy(a if a.flags.writeable else a.copy())
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4:
        raise ValueError(f"images must be one image or a batch of images; got {tuple(x.shape)}")
    return t if isinstance(x, torch.Tensor) else t.permute(0, 3, 1, 2)


def _sse_from_histograms(
    p: torch.Tensor, t: torch.Tensor, data_range: float
) -> tuple[torch.Tensor, int]:
    """(sum of squared errors after the clipped least-squares gain, (B, C) float64; values per
    image, C x H x W) of uint8 (B, C, H, W) images, from their joint histograms."""
    if p.shape != t.shape:
        raise ValueError(f"pred and target differ in shape: {tuple(p.shape)} vs {tuple(t.shape)}")
    b, c = p.shape[:2]
    v = torch.arange(256, dtype=torch.float64)
    sse = torch.zeros(b, c, dtype=torch.float64)
    for i in range(b):
        for j in range(c):
            index = p[i, j].to(torch.int32).mul_(256).add_(t[i, j]).reshape(-1)
            h = torch.bincount(index, minlength=65536).view(256, 256).to(torch.float64)
            spt, spp = v @ h @ v, h.sum(dim=1) @ (v * v)
            g = float(spt / spp) if spp > 0 else 1.0
            err = (torch.clamp(g * v, max=data_range)[:, None] - v[None, :]) ** 2
            sse[i, j] = (h * err).sum()
    return sse, p[0].numel()
