"""What every pipeline returns, and the focus check they share.

Every pipeline is built from its :class:`~bokeh.specs.MethodSpec` and called one way:
``pipe(image, *, focus=None, **settings) -> Result`` with ``image`` (H, W, 3) float32 in [0, 1]
(see :func:`bokeh.checks.check_image`). Pipelines are inference only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bokeh.errors import BokehError, brief


@dataclass
class Result:
    """Output of a pipeline call.

    image:     (H, W, 3) float32 sRGB in [0, 1], the input's size.
    disparity: (H, W) float32 normalised disparity actually used (1 = nearest), or None.
    info:      method, seconds, focus, settings, depth source, weights, notes: for people and
               logs.
    """

    image: np.ndarray
    disparity: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


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
