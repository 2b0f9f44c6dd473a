"""Transfer between display (sRGB-encoded) values and linear light.

A plain power law (``gamma`` 2.2 by default) is used rather than the piecewise sRGB curve:
it is what most bokeh renderers use, it is cheap, and it is exactly invertible.
"""

from __future__ import annotations

import numpy as np

DEFAULT_GAMMA = 2.2


def to_linear(
    image: np.ndarray, *, gamma: float = DEFAULT_GAMMA, out: np.ndarray | None = None
) -> np.ndarray:
    """Display values in [0, 1] (any shape) -> linear light in [0, 1], float32 (written into
    ``out``, float32 of the same shape, when given)."""
    out = np.clip(image, 0.0, 1.0, dtype=np.float32, out=out)
    return np.power(out, np.float32(gamma), out=out)


def to_display(linear: np.ndarray, *, gamma: float = DEFAULT_GAMMA) -> np.ndarray:
    """Linear light (any shape, values >= 0; above 1 is clipped) -> display values in [0, 1]."""
    out = np.clip(linear, 0.0, 1.0, dtype=np.float32)
    return np.power(out, np.float32(1.0 / gamma), out=out)
