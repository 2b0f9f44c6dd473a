"""Shape and range checks shared by the pure rendering functions."""

from __future__ import annotations

import numpy as np


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` as float32 HxWx3, or raise ValueError naming the expected shape."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (H, W, 3), got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} is empty: {image.shape}")
    return np.ascontiguousarray(image, dtype=np.float32)


def check_map(values: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    """Return a float32 HxW map matching ``shape`` (H, W), or raise ValueError."""
    if not isinstance(values, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape {shape}, got {type(values).__name__}")
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[..., 0]
    if values.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (the image's H, W), got {values.shape}")
    values = np.ascontiguousarray(values, dtype=np.float32)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return values


def check_unit_range(values: np.ndarray, name: str, tol: float = 1e-4) -> None:
    lo, hi = float(values.min()), float(values.max())
    if lo < -tol or hi > 1 + tol:
        raise ValueError(f"{name} must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
