"""Pictures and sentences the page shows beside a result, without gradio: what a render changed
(its mean change in grey levels and an amplified difference image), and the aperture's shape.

Light: numpy only (the aperture kernel is plain numpy too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bokeh.errors import BokehError
from bokeh.renderers.aperture import aperture_kernel
from bokeh.rowbands import in_bands

# A mean change below this many grey levels (of 255) is hard to see without the difference view
# (the demo generators change real photos by 0.6-2.2 grey levels; a lens render by 10+).
TINY_CHANGE = 3.0
MAX_GAIN = 64
REAL_WEIGHTS_HOWTO = (
    "for real photos, train on EBB! (`python -m training {method} --dataset ebb`) and set "
    "`BOKEH_WEIGHTS_DIR` or `BOKEH_HUB_REPO`"
)


def _check_pair(before: np.ndarray, after: np.ndarray) -> None:
    if before.shape != after.shape or before.ndim != 3:
        raise BokehError(f"Cannot compare images of shapes {before.shape} and {after.shape}.")
    if before.dtype != np.uint8 or after.dtype != np.uint8:
        raise BokehError(f"Cannot compare images of types {before.dtype} and {after.dtype}.")


def _pair(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _check_pair(before, after)
    return before.astype(np.int16), after.astype(np.int16)


def mean_change(before: np.ndarray, after: np.ndarray) -> float:
    """Mean absolute difference of two (H, W, 3) uint8 images, in grey levels (0-255)."""
    _check_pair(before, after)

    def rows(y0: int, y1: int) -> int:  # bands of rows on threads
        change = np.maximum(before[y0:y1], after[y0:y1])  # |after - before| in uint8
        change -= np.minimum(before[y0:y1], after[y0:y1])
        return int(change.sum(dtype=np.int64))

    return float(sum(in_bands(rows, before.shape[0]))) / before.size


@dataclass(frozen=True)
class Difference:
    """|after - before| amplified: ``image`` (H, W, 3) uint8 is the per-channel difference
    times ``gain`` (clipped at 255); ``mean`` is the unamplified mean change in grey levels."""

    image: np.ndarray
    gain: int
    mean: float

    @property
    def caption(self) -> str:
        return f"What changed: |result − input| × {self.gain} (mean {self.mean:.1f} grey levels)"

    @property
    def label(self) -> str:
        """A short caption: the gain."""
        return f"What changed (× {self.gain})"


def difference(before: np.ndarray, after: np.ndarray, *, gain: int | None = None) -> Difference:
    """The amplified difference of two (H, W, 3) uint8 images. ``gain`` None: the power of two
    (1 to :data:`MAX_GAIN`) that brings the 99th percentile of the difference near 255, so a
    small change becomes visible; the gain is part of the result (and of its caption)."""
    a, b = _pair(before, after)
    diff = np.abs(b - a)
    if gain is None:
        p99 = float(np.percentile(diff.max(axis=2), 99)) if diff.size else 0.0
        gain = 1
        while gain < MAX_GAIN and p99 * gain * 2 <= 255:
            gain *= 2
    if not 1 <= int(gain) <= 255:
        raise BokehError(f"The difference gain must lie between 1 and 255; got {gain}.")
    image = np.clip(diff * int(gain), 0, 255).astype(np.uint8)
    return Difference(image, int(gain), float(diff.mean()))


def change_note(change: float, *, demo_weights: bool, method: str) -> str:
    """One sentence on how much a render changed the photo; when the change is tiny and the
    weights are the synthetic demo ones, why, and how to get weights for real photos."""
    text = f"Changed the photo by {change:.1f} grey levels on average (of 255)"
    if change >= TINY_CHANGE:
        return text + "."
    if demo_weights:
        return (
            f"{text}, barely visible: these demo weights were trained on synthetic scenes "
            f"and barely change real photos; {REAL_WEIGHTS_HOWTO.format(method=method)}."
        )
    return f"{text}, barely visible (the difference view shows what changed)."


def aperture_preview(blades: int | float | None, rotation: float | None, *, size: int = 96
                     ) -> np.ndarray:  # fmt: skip
    """(size, size, 3) uint8 picture of the aperture (a bright disc or polygon on black), as the
    lens renderer shapes an out-of-focus point with these ``blades`` (0 = round, 3..16) and
    ``rotation`` (degrees)."""
    blades = int(blades or 0)
    if blades != 0 and not 3 <= blades <= 16:
        raise BokehError(f"Aperture blades must be 0 (round) or 3 to 16; got {blades}.")
    if not 16 <= size <= 512:
        raise BokehError(f"The preview size must lie between 16 and 512 px; got {size}.")
    # The polygon's corners reach beyond the radius (equal area); keep them inside the picture.
    reach = (
        1.0 if not blades else math.sqrt(math.pi / (0.5 * blades * math.sin(2 * math.pi / blades)))
    )
    kernel = aperture_kernel(0.44 * size / reach, blades=blades, rotation=float(rotation or 0.0))
    shape = kernel / kernel.max()
    pad = (size - shape.shape[0]) // 2
    canvas = np.zeros((size, size), np.float32)
    canvas[pad : pad + shape.shape[0], pad : pad + shape.shape[1]] = shape
    warm = np.array([255, 214, 150], np.float32)  # a warm highlight, as bokeh balls look
    return (canvas[..., None] * warm + 0.5).astype(np.uint8)


__all__ = ["Difference", "TINY_CHANGE", "aperture_preview", "change_note", "difference",
           "mean_change"]  # fmt: skip
