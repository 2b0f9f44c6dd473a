"""A slow, exact reference for the lens renderer (tests only).

Same lens model as :func:`bokeh.renderers.lens.render_lens`, written as plainly as possible:
every level is a full-resolution premultiplied layer, convolved directly with its aperture
kernel (scipy.ndimage.correlate, symmetric boundary), with no tiling and no downsampling;
then back-to-front "over" behind the focal plane and front-to-back "under" in front of it.

Lens character (:mod:`bokeh.renderers.character`): each colour channel is blurred with its own
spot (chromatic aberration scales the red and blue radii; the alpha channel goes with green).
With a cat-eye the spot depends on where the point lies in the frame, so each level is
*scattered* pixel by pixel: every source pixel (of the symmetrically padded layer) spreads its
light with the spot of its own position, normalised to sum 1 (:func:`_scatter`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from bokeh.renderers.character import (
    PLAIN,
    character_kernel,
    frame_position,
    half_width,
    pupil,
)
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


def _scatter(layer, radius, *, front, frame, **lens):
    """Every pixel of the (H, W, C) ``layer`` spread with the spot of its own frame position
    (symmetric boundary: the padded pixels scatter too)."""
    if radius < 0.5:
        return layer
    r = half_width(radius, lens["blades"])
    padded = np.pad(layer, ((r, r), (r, r), (0, 0)), mode="symmetric")
    h2, w2 = padded.shape[:2]
    yy, xx = np.mgrid[-r : h2 - r, -r : w2 - r]
    uy, ux = frame_position(yy, xx, frame)
    offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]

    def spot(dy, dx):
        return pupil(dx, dy, radius=radius, front=front, ux=ux, uy=uy, **lens)

    norm = sum(spot(dy, dx) for dy, dx in offsets)
    weighted = padded / np.maximum(norm, 1e-12)[..., None]
    out = np.zeros_like(padded)
    for dy, dx in offsets:
        part = weighted * spot(dy, dx)[..., None]
        ys, yd = slice(max(0, -dy), h2 - max(0, dy)), slice(max(0, dy), h2 + min(0, dy))
        xs, xd = slice(max(0, -dx), w2 - max(0, dx)), slice(max(0, dx), w2 + min(0, dx))
        out[yd, xd] += part[ys, xs]
    return out[r:-r, r:-r]


def _blur(layer, level, *, blades, rotation, character, frame):
    """Level ``level``'s (H, W, 4) premultiplied layer blurred: red, green, blue, alpha with
    the spots of radius |level| x the channel's scale (alpha as green)."""
    front = level > 0
    sr, sg, sb = character.channel_scales(front=front)
    lens = {"blades": blades, "rotation": rotation, "character": character}
    out = np.empty_like(layer)
    for channels, scale in (([0], sr), ([1, 3], sg), ([2], sb)):
        radius = abs(level) * scale
        if character.varies:
            out[..., channels] = _scatter(
                layer[..., channels], radius, front=front, frame=frame, **lens
            )
            continue
        kernel = character_kernel(radius, front=front, **lens).astype(np.float64)
        for c in channels:
            out[..., c] = ndimage.correlate(layer[..., c], kernel[::-1, ::-1], mode="reflect")
    return out


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
    falloff=0.0,
    character=PLAIN,
):
    image = image.astype(np.float64)
    coc = signed_coc(
        disparity, focus_disparity=focus_disparity, strength=strength, band=band, falloff=falloff
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
        lens = {
            "blades": blades,
            "rotation": rotation,
            "character": character,
            "frame": image.shape[:2],
        }
        layers.append(_blur(rgba, levels[k], **lens) if w.any() else rgba * 0)
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
