"""Depth maps saved as colour-mapped pictures, decoded back to numbers.

Datasets such as VABD and the VABM release of EBB! store depth as an RGB picture made with
matplotlib's ``Spectral_r`` colour map (Depth Anything's own ``run.py`` does the same): the
disparity is quantised to 256 levels, and level ``i`` is painted with entry ``i`` of the map
(red = near, violet = far). :func:`decode_colormap_depth` inverts that exactly, by nearest colour.

The map is built here from its published definition, so that matplotlib is not a dependency:
the ColorBrewer "Spectral" 11-class colours, linearly interpolated to 256 entries the way
``matplotlib.colors.LinearSegmentedColormap`` does, reversed, and turned into bytes as
``Colormap(..., bytes=True)`` does (``(lut * 255).astype(uint8)``, a truncation). Every one of
the 256 colours in the VABD depth pictures is an entry of this table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bokeh.errors import ImageReadError

__all__ = ["COLORMAPS", "DecodedDepth", "colormap_lut", "decode_colormap_depth", "encode_depth"]

# ColorBrewer "Spectral", 11 classes (Cynthia Brewer, colorbrewer2.org), as matplotlib lists it.
_SPECTRAL_11 = ("9e0142", "d53e4f", "f46d43", "fdae61", "fee08b", "ffffbf",
                "e6f598", "abdda4", "66c2a5", "3288bd", "5e4fa2")  # fmt: skip
COLORMAPS = ("Spectral_r", "gray")
# A picture whose colours lie this far (mean RGB distance, 0..441) from the map is refused.
MAX_MEAN_ERROR = 4.0


@dataclass(frozen=True)
class DecodedDepth:
    """A decoded depth picture: ``disparity`` (H, W) float32 in [0, 1] (1 = nearest), the map
    it matched (``colormap``) and the mean RGB distance of its pixels to that map
    (``mean_error``: 0 for a lossless picture, a few levels for a JPEG)."""

    disparity: np.ndarray
    colormap: str
    mean_error: float


def _segment_lut(anchors: np.ndarray, n: int) -> np.ndarray:
    """matplotlib's ``_create_lookup_table`` for equally spaced anchors (x = 0..1), per channel."""
    x = np.linspace(0.0, 1.0, len(anchors))
    xind = np.linspace(0.0, 1.0, n)
    ind = np.searchsorted(x, xind)[1:-1]
    dist = (xind[1:-1] - x[ind - 1]) / (x[ind] - x[ind - 1])
    out = np.empty((n, anchors.shape[1]))
    out[0], out[-1] = anchors[0], anchors[-1]
    out[1:-1] = dist[:, None] * (anchors[ind] - anchors[ind - 1]) + anchors[ind - 1]
    return np.clip(out, 0.0, 1.0)


def colormap_lut(name: str = "Spectral_r") -> np.ndarray:
    """The (256, 3) uint8 colour table of ``name`` ("Spectral_r" or "gray"); entry ``i`` paints
    disparity level ``i / 255``."""
    if name == "gray":
        return np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    if name != "Spectral_r":
        raise ValueError(f"Unknown colour map {name!r}; known: {', '.join(COLORMAPS)}.")
    spectral = np.array([[int(h[i : i + 2], 16) for i in (0, 2, 4)] for h in _SPECTRAL_11]) / 255.0
    # Reversing the anchors is what matplotlib's ``reversed()`` does to a list-defined map.
    return (_segment_lut(spectral[::-1], 256) * 255).astype(np.uint8)


def encode_depth(disparity: np.ndarray, *, colormap: str = "Spectral_r") -> np.ndarray:
    """Paint a normalised disparity (H, W) in [0, 1] as (H, W, 3) uint8, as the datasets do
    (quantised to 256 levels, ``floor(d * 255)``)."""
    d = np.asarray(disparity, dtype=np.float64)
    if d.ndim != 2 or not np.isfinite(d).all() or d.min() < 0 or d.max() > 1:
        raise ValueError("disparity must be an (H, W) array of finite values in [0, 1].")
    return colormap_lut(colormap)[(d * 255).astype(np.uint8)]


def _nearest_level(colours: np.ndarray, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (K, 3) colours: index of the nearest LUT entry and the distance to it."""
    diff = colours[:, None, :].astype(np.int32) - lut[None].astype(np.int32)
    dist2 = (diff * diff).sum(-1)
    idx = dist2.argmin(1)
    return idx, np.sqrt(dist2[np.arange(len(idx)), idx])


def decode_colormap_depth(rgb: np.ndarray, *, name: str = "depth picture") -> DecodedDepth:
    """Invert a colour-mapped depth picture by nearest colour.

    Args:
        rgb: (H, W, 3) uint8 picture, or (H, W) uint8 grey.
        name: what to call the picture in error messages.

    Returns:
        :class:`DecodedDepth`: level ``i`` of the best-matching map in :data:`COLORMAPS` becomes
        disparity ``i / 255``; ``mean_error`` is the mean RGB distance to that map.

    Raises:
        ImageReadError: not 8-bit, or no known map comes within :data:`MAX_MEAN_ERROR`.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim not in (2, 3) or (rgb.ndim == 3 and rgb.shape[2] != 3):
        raise ImageReadError(
            f"The {name} must be 8-bit RGB or grey; got {rgb.dtype} {tuple(rgb.shape)}."
        )
    if rgb.ndim == 2:
        return DecodedDepth(rgb.astype(np.float32) / np.float32(255), "gray", 0.0)
    # Decode each distinct colour once (a colour-mapped picture has at most a few thousand).
    key = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    uniq, inverse, counts = np.unique(key.ravel(), return_inverse=True, return_counts=True)
    colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1)
    best = None
    for cmap in COLORMAPS:
        lut = colormap_lut(cmap)
        idx, dist = [], []
        for start in range(0, len(colours), 4096):  # bounded memory for noisy pictures
            i, d = _nearest_level(colours[start : start + 4096], lut)
            idx.append(i)
            dist.append(d)
        idx, dist = np.concatenate(idx), np.concatenate(dist)
        error = float((dist * counts).sum() / counts.sum())
        if best is None or error < best[2]:
            best = (cmap, idx, error)
    cmap, idx, error = best
    if error > MAX_MEAN_ERROR:
        raise ImageReadError(
            f"The {name} matches no known colour map (closest: {cmap}, mean colour error "
            f"{error:.1f}); save depth as a grey 8/16-bit PNG or as .npy instead."
        )
    levels = (idx.astype(np.float32) / np.float32(255))[inverse].reshape(rgb.shape[:2])
    return DecodedDepth(levels.astype(np.float32), cmap, error)
