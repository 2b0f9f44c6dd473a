"""The checks every image function runs at its door: one definition of "an image" and "a map".

The library's image is ``(H, W, 3)`` float32 sRGB in [0, 1]; maps (disparity, CoC) are
``(H, W)`` float32. Errors are :class:`ArrayError`, which is a :class:`~bokeh.errors.BokehError`
(a message for people) and a ``ValueError``/``TypeError`` (what numeric code expects).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bokeh.errors import BokehError

_DTYPES = {
    "float": (np.floating,),
    "uint8": (np.uint8,),
    "float_or_uint8": (np.floating, np.uint8),
}


class ArrayError(BokehError, ValueError, TypeError):
    """An array of the wrong type, shape or range was passed to an image function."""


def _shape_text(value: Any) -> str:
    return str(getattr(value, "shape", type(value).__name__))


def check_image(
    image: Any,
    name: str = "image",
    *,
    dtype: str = "float",
    channels: tuple[int, ...] | None = (3,),
    unit_range: bool = False,
    min_side: int = 1,
) -> np.ndarray:
    """``image`` as a contiguous array after checking it, else :class:`ArrayError`.

    dtype:      "float" (returned as float32), "uint8", or "float_or_uint8" (kept as given).
    channels:   allowed channel counts; 0 allows a 2-D (H, W) array; None allows any
                (H, W) or (H, W, C) array.
    unit_range: float values must be finite and within [0, 1] (1e-3 tolerance).
    min_side:   the smallest height and width accepted.
    """
    if not isinstance(image, np.ndarray):
        raise ArrayError(f"{name} must be a numpy array (H, W, 3); got {type(image).__name__}.")
    if channels is None:
        shape_ok = image.ndim in (2, 3)
    else:
        shape_ok = (image.ndim == 3 and image.shape[2] in channels) or (
            image.ndim == 2 and 0 in channels
        )
    if not shape_ok:
        allowed = (0, "C") if channels is None else channels
        wanted = " or ".join("(H, W)" if c == 0 else f"(H, W, {c})" for c in allowed)
        raise ArrayError(f"{name} must have shape {wanted}; got {_shape_text(image)}.")
    if image.shape[0] < min_side or image.shape[1] < min_side:
        raise ArrayError(f"{name} is too small: {image.shape[:2]} (at least {min_side} px a side).")
    if not any(np.issubdtype(image.dtype, t) for t in _DTYPES[dtype]):
        hint = " (divide 8-bit images by 255)" if image.dtype == np.uint8 else ""
        wanted = {"float": "float", "uint8": "uint8", "float_or_uint8": "float or uint8"}[dtype]
        raise ArrayError(f"{name} must be a {wanted} array; got dtype {image.dtype}{hint}.")
    if dtype == "float":
        image = np.ascontiguousarray(image, dtype=np.float32)
    if unit_range and np.issubdtype(image.dtype, np.floating):
        low, high = float(image.min()), float(image.max())
        if not (np.isfinite(low) and np.isfinite(high)) or low < -1e-3 or high > 1 + 1e-3:
            raise ArrayError(f"{name} values must lie in [0, 1]; got [{low:.4g}, {high:.4g}].")
    return image


def check_map(values: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    """A finite float32 ``(H, W)`` map matching ``shape`` ((H, W, 1) is accepted)."""
    if not isinstance(values, np.ndarray):
        raise ArrayError(
            f"{name} must be a numpy array of shape {shape}; got {type(values).__name__}."
        )
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[..., 0]
    if values.shape != tuple(shape):
        raise ArrayError(
            f"{name} must have shape {tuple(shape)} (the image's H, W); got {values.shape}."
        )
    values = np.ascontiguousarray(values, dtype=np.float32)
    if not np.isfinite(values).all():
        raise ArrayError(f"{name} contains NaN or infinite values.")
    return values


def check_unit_range(values: np.ndarray, name: str, tol: float = 1e-4) -> None:
    """Raise :class:`ArrayError` unless every value lies in [0, 1] (within ``tol``)."""
    lo, hi = float(values.min()), float(values.max())
    if lo < -tol or hi > 1 + tol:
        raise ArrayError(f"{name} must lie in [0, 1]; got [{lo:.4g}, {hi:.4g}].")


__all__ = ["ArrayError", "check_image", "check_map", "check_unit_range"]
