"""What every pipeline returns, and the checks they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from bokeh.errors import BokehError, brief


@dataclass
class Result:
    """Output of a pipeline call.

    image: (H, W, 3) float32 sRGB in [0, 1], the input's size.
    depth: (H, W) float32 normalised disparity actually used (1 = nearest), or None.
    info: method, seconds, focus, settings, depth source, weights, notes: for people and logs.
    """

    image: np.ndarray
    depth: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Pipeline(Protocol):
    """Inference only; one call signature for every method."""

    name: str

    def __call__(
        self, image: np.ndarray, *, focus: tuple[float, float] | None = None, **settings: Any
    ) -> Result: ...


def check_input(image: np.ndarray) -> np.ndarray:
    """The library image format, (H, W, 3) float32 in [0, 1], or a clear BokehError."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise BokehError(
            f"Pipelines take an (H, W, 3) float image in [0, 1] (see bokeh.load_image); got {shape}."
        )
    if not np.issubdtype(image.dtype, np.floating):
        raise BokehError(f"Pipelines take a float image in [0, 1]; got dtype {image.dtype}.")
    return np.ascontiguousarray(image, dtype=np.float32)


def check_focus(focus, width: int, height: int) -> tuple[float, float]:
    """(x, y) in pixels inside the image; None means the centre."""
    if focus is None:
        return (width - 1) / 2, (height - 1) / 2
    try:
        x, y = (float(v) for v in focus)
    except (TypeError, ValueError, OverflowError):
        raise BokehError(
            f"Focus must be two numbers (x, y) in pixels; got {brief(focus)}."
        ) from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise BokehError(f"Focus must be finite pixel coordinates; got ({x}, {y}).")
    if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
        raise BokehError(
            f"Focus point ({x:g}, {y:g}) lies outside the {width}x{height} image; "
            f"x must be in 0..{width - 1} and y in 0..{height - 1}."
        )
    return x, y


def unknown_settings(settings: dict, allowed: set[str], method: str) -> None:
    extra = sorted(set(settings) - allowed)
    if extra:
        raise BokehError(
            f"{method} does not take {', '.join(extra)}; its settings are {', '.join(sorted(allowed))}."
        )
