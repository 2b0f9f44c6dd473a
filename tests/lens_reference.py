"""A slow, exact reference for the lens renderer (tests only).

Same lens model as :func:`bokeh.renderers.lens.render_lens`, written as plainly as possible:
every level is a full-resolution premultiplied layer, convolved directly with its aperture
kernel (scipy.ndimage.correlate, symmetric boundary), with no tiling and no downsampling;
then back-to-front "over" behind the focal plane and front-to-back "under" in front of it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from bokeh.renderers.aperture import aperture_kernel
from bokeh.renderers.coc import signed_coc
from bokeh.renderers.lens import _fill, level_values


def _tent(coc, levels, k):
    w = np.zeros_like(coc, dtype=np.float64)
    c = levels[k]
    if k > 0:
        lo = levels[k - 1]
        m = (coc > lo) & (coc <= c)
        w[m] = (coc[m] - lo) / (c - lo)
    else:
        w[coc <= c] = 1
    if k + 1 < len(levels):
        hi = levels[k + 1]
        m = (coc > c) & (coc < hi)
        w[m] = (hi - coc[m]) / (hi - c)
    else:
        w[coc > c] = 1
    return w


def _blur(layer, radius, blades, rotation):
    kernel = aperture_kernel(radius, blades=blades, rotation=rotation, softness=1.0).astype(
        np.float64
    )
    return np.stack(
        [
            ndimage.correlate(layer[..., i], kernel[::-1, ::-1], mode="reflect")
            for i in range(layer.shape[-1])
        ],
        axis=-1,
    )


def reference_render(
    image,
    disparity,
    *,
    focus_disparity,
    strength,
    band=0.0,
    blades=0,
    rotation=0.0,
    highlight_boost=0.0,
    gamma=2.2,
):
    image = image.astype(np.float64)
    coc = signed_coc(
        disparity, focus_disparity=focus_disparity, strength=strength, band=band
    ).astype(np.float64)
    if np.abs(coc).max() < 0.5:
        return image
    lin = image**gamma
    if highlight_boost > 0:
        t = np.clip((image.max(axis=2) - 0.75) / 0.25, 0, 1)
        u = np.clip((np.abs(coc) - 0.5) / 1.5, 0, 1)
        lin = lin * (1 + highlight_boost * (t * t * (3 - 2 * t)) * (u * u * (3 - 2 * u)))[..., None]
    levels = level_values(float(np.abs(coc).max()))
    zero = int(np.argmin(np.abs(levels)))
    layers = []
    for k in range(len(levels)):
        w = _tent(coc, levels, k)
        rgba = np.concatenate([lin * w[..., None], w[..., None]], axis=-1)
        layers.append(_blur(rgba, abs(levels[k]), blades, rotation) if w.any() else rgba * 0)
    behind = np.zeros(image.shape[:2] + (4,))
    for k in range(zero + 1):  # back to front, "over"
        behind = layers[k] + (1 - layers[k][..., 3:]) * behind
    front = np.zeros_like(behind)
    coverage = np.zeros(image.shape[:2])
    for k in range(len(levels) - 1, zero, -1):  # front to back, "under"
        front = front + (1 - np.clip(front[..., 3:], 0, 1)) * layers[k]
        coverage += layers[k][..., 3]
    background = _fill(behind.transpose(2, 0, 1).astype(np.float32)).transpose(1, 2, 0)
    cover = np.clip(coverage, 0, 1)[..., None]
    color = front[..., :3] / np.maximum(front[..., 3:], 1e-6)
    out = cover * color + (1 - cover) * background
    return np.clip(out, 0, 1) ** (1 / gamma)
