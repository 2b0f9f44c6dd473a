"""Synthetic scenes for the benchmark (:mod:`bokeh.data.synth`): layers of textured shapes,
ground planes and point lights over photo backgrounds, with known disparity. Pure numpy; the
scene of (seed, index) depends on nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import skimage.data
from PIL import Image
from scipy import ndimage

from bokeh.errors import BokehError

BACKGROUND_SOURCES = (
    "coffee", "rocket", "astronaut", "chelsea", "hubble_deep_field",
    "immunohistochemistry", "retina", "grass", "gravel", "brick",
)  # fmt: skip
OBJECT_SOURCES = (
    "astronaut", "chelsea", "coffee", "rocket", "camera", "coins",
    "immunohistochemistry", "brick", "clock", "retina",
)  # fmt: skip
GROUND_SOURCES = ("grass", "gravel", "brick", "coffee")
# Surfaces are tone-mapped below this peak so that only the light sources (at 1.0) reach the
# renderer's highlight range (which starts at 0.75): textures must not turn into bokeh balls.
SURFACE_MAX = 0.76
SHAPES = ("ellipse", "rounded_box", "blob", "figure")


# --------------------------------------------------------------------------- source photos


@cache
def _source(name: str) -> np.ndarray:
    """A bundled scikit-image photo as uint8 HxWx3 (greyscale photos are replicated)."""
    try:
        img = getattr(skimage.data, name)()
    except Exception as exc:  # a photo that would need a download
        raise BokehError(
            f"scikit-image's sample photo {name!r} is not available offline ({exc})."
        ) from None
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def _random_tint(rng: np.random.Generator) -> np.ndarray:
    hue = rng.uniform(0, 2 * np.pi)
    sat = rng.uniform(0.15, 0.55)
    tint = 1.0 + sat * np.cos(hue - np.array([0.0, 2.0944, 4.1888]))
    return (tint / tint.max()).astype(np.float32)


def _crop(
    rng: np.random.Generator, name: str, width: int, height: int, zoom: tuple[float, float]
) -> np.ndarray:
    """A random crop of photo ``name`` resized to (height, width, 3) float32 in [0, 1].

    ``zoom`` 1 means the crop just covers the output; larger zooms in.
    """
    src = _source(name)
    sh, sw = src.shape[:2]
    scale = max(width / sw, height / sh) * rng.uniform(*zoom)
    cw, ch = min(width / scale, sw), min(height / scale, sh)
    x0, y0 = rng.uniform(0, sw - cw), rng.uniform(0, sh - ch)
    out = Image.fromarray(src).resize(
        (width, height), resample=Image.Resampling.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch)
    )
    img = np.asarray(out, dtype=np.float32) / 255.0
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if np.ptp(img - img.mean(axis=2, keepdims=True)) < 0.02:  # greyscale source: tint it
        img = img * _random_tint(rng)
    return np.ascontiguousarray(np.clip(img, 0.0, 1.0), dtype=np.float32)


def _knee(x: np.ndarray, start: float = 0.62) -> np.ndarray:
    """Identity below ``start``, then a soft shoulder that approaches SURFACE_MAX."""
    span = SURFACE_MAX - start
    over = np.maximum(x - start, 0.0)
    return np.where(x > start, start + span * (1.0 - np.exp(-over / span)), x).astype(np.float32)


# --------------------------------------------------------------------------- scene building


@dataclass
class _Layer:
    rgb: np.ndarray  # HxWx3 float32 [0, 1]
    alpha: np.ndarray  # HxW float32 [0, 1]
    disparity: np.ndarray  # HxW float32 [0, 1]


@dataclass
class Scene:
    """A layered scene (back to front) and where it is focused."""

    layers: list[_Layer]
    focus: tuple[int, int]  # (x, y)
    focus_disparity: float
    info: dict[str, Any] = field(default_factory=dict)

    def disparity(self) -> np.ndarray:
        """Visible disparity (HxW float32 in [0, 1]): the front-most layer with alpha >= 0.5."""
        d = self.layers[0].disparity.copy()
        for layer in self.layers[1:]:
            d = np.where(layer.alpha >= 0.5, layer.disparity, d)
        return d.astype(np.float32)


def _disc_alpha(xx, yy, cx, cy, r) -> np.ndarray:
    return np.clip(r + 0.5 - np.hypot(xx - cx, yy - cy), 0.0, 1.0)


def _add_lights(rng, rgb, xx, yy, width, height, y_max) -> int:
    """Paint small bright discs (values at 1.0) into ``rgb`` above row ``y_max``."""
    n = int(rng.integers(8, 28))
    s = height / 256.0
    if rng.random() < 0.5:  # a string of lights along a gentle curve
        t = np.sort(rng.uniform(0, 1, n))
        y0, y1 = rng.uniform(0.05, 0.7, 2) * y_max
        sag = rng.uniform(-0.15, 0.15) * y_max
        xs = t * width
        ys = y0 + (y1 - y0) * t + sag * 4 * t * (1 - t) + rng.normal(0, 2 * s, n)
    else:  # scattered lights
        xs = rng.uniform(0, width, n)
        ys = rng.uniform(0, 1, n) * y_max
    for x, y in zip(xs, ys, strict=True):
        r = rng.uniform(0.6, 1.8) * s
        colour = np.array([1.0, rng.uniform(0.7, 1.0), rng.uniform(0.45, 1.0)], np.float32)
        colour = colour[rng.permutation(3)]
        half = int(np.ceil(r + 2))
        ys_, xs_ = (
            slice(max(int(y) - half, 0), min(int(y) + half + 1, height)),
            slice(max(int(x) - half, 0), min(int(x) + half + 1, width)),
        )
        a = _disc_alpha(xx[ys_, xs_], yy[ys_, xs_], x, y, r)[..., None]
        rgb[ys_, xs_] = rgb[ys_, xs_] * (1 - a) + colour * a
    return n


def _ground(rng, width, height, xx, yy, bg_disp):
    """A textured ground plane: (layer, horizon row, disparity at horizon, at the bottom)."""
    y_h = rng.uniform(0.42, 0.68) * height
    d_h = bg_disp + rng.uniform(0.03, 0.1)
    d_b = rng.uniform(0.5, 0.85)
    rows = np.arange(height, dtype=np.float64)
    d_row = np.clip(d_h + (d_b - d_h) * (rows - y_h) / (height - y_h), d_h, 1.0)
    disparity = np.repeat(d_row[:, None], width, axis=1).astype(np.float32)
    alpha = np.clip(yy - y_h + 0.5, 0.0, 1.0).astype(np.float32)

    tex = _crop(rng, str(rng.choice(GROUND_SOURCES)), 256, 256, (1.0, 1.6))
    tex = _knee(tex * np.float32(rng.uniform(0.6, 1.0)))
    # Perspective mapping: texture u ~ x / d, v ~ 1 / d (ground coordinates), scaled so one
    # texel is about one pixel at the bottom row; farther rows are minified, so they sample
    # blurred copies of the texture (a tiny mipmap) to avoid aliasing.
    px = rng.uniform(0.8, 1.5) * (height / 256.0)
    slope = (d_b - d_h) / (height - y_h)
    inv = 1.0 / d_row
    v_row = (inv - 1.0 / d_b) * (d_b * d_b / slope) * px * rng.uniform(0.5, 0.9)
    minify = d_b / d_row  # texels per pixel relative to the bottom row
    u = (xx - width / 2) * (minify[:, None] * px) + rng.uniform(0, 256)
    v = np.repeat(-v_row[:, None] + 255.0, width, axis=1)
    levels = [tex]
    for sigma in (1.0, 2.0, 4.0, 8.0):
        levels.append(ndimage.gaussian_filter(tex, sigma=(sigma, sigma, 0), mode="mirror"))
    # vertical minification grows as minify**2, horizontal as minify: use their geometric mean
    level = np.clip(np.log2(np.maximum(minify**1.5 * px, 1.0)), 0, len(levels) - 1)[:, None]
    rgb = np.zeros((height, width, 3), np.float32)
    below = yy[:, 0] >= y_h - 1
    coords = np.stack([v[below].ravel(), u[below].ravel()])
    sampled = []
    for lvl in levels:
        chans = [
            ndimage.map_coordinates(lvl[..., c], coords, order=1, mode="mirror") for c in range(3)
        ]
        sampled.append(np.stack(chans, axis=-1).reshape(int(below.sum()), width, 3))
    lv = np.repeat(level[below], width, axis=1)[..., None]
    lo = np.floor(lv).astype(int)
    frac = (lv - lo).astype(np.float32)
    stack = np.stack(sampled)  # (L, rows, W, 3)
    hi = np.minimum(lo + 1, len(levels) - 1)
    rows_i, cols_i = np.indices(lo.shape[:2])
    lower = stack[lo[..., 0], rows_i, cols_i]
    upper = stack[hi[..., 0], rows_i, cols_i]
    rgb[below] = lower * (1 - frac) + upper * frac
    return _Layer(rgb, alpha, disparity), y_h, d_h, d_b


def _shape_alpha(rng, kind, xx, yy, cx, cy, a, b) -> np.ndarray:
    """Anti-aliased alpha of a shape centred at (cx, cy) with half-sizes (a, b)."""
    theta = rng.uniform(-0.35, 0.35)
    c, s = np.cos(theta), np.sin(theta)
    dx, dy = xx - cx, yy - cy
    xr, yr = c * dx + s * dy, -s * dx + c * dy
    m = min(a, b)
    if kind == "ellipse":
        sdf = (np.sqrt((xr / a) ** 2 + (yr / b) ** 2) - 1.0) * m
    elif kind == "rounded_box":
        p = rng.uniform(3.0, 6.0)
        sdf = ((np.abs(xr / a) ** p + np.abs(yr / b) ** p) ** (1 / p) - 1.0) * m
    elif kind == "blob":
        ang = np.arctan2(yr / b, xr / a)
        radius = np.ones_like(ang)
        for k in (2, 3, 5):
            radius += rng.uniform(0.03, 0.12) * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
        sdf = (np.hypot(xr / a, yr / b) - radius) * m
    else:  # figure: a head above rounded shoulders
        hr = 0.34 * a
        head = np.hypot(xr, yr + 0.55 * b) - hr
        body = (
            (np.abs(xr / a) ** 2.5 + np.abs((yr - 0.35 * b) / (0.65 * b)) ** 2.5) ** 0.4 - 1.0
        ) * min(a, 0.65 * b)
        sdf = np.minimum(head, body)
    return np.clip(0.5 - sdf, 0.0, 1.0).astype(np.float32)


def _visible_center(mask: np.ndarray) -> tuple[int, int]:
    """The pixel of ``mask`` farthest from its border, as (x, y)."""
    dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def make_scene(seed: int, index: int, size: tuple[int, int]) -> Scene:
    """Build scene ``index`` of ``seed`` at ``size = (width, height)`` (deterministic)."""
    width, height = size
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    info: dict[str, Any] = {}

    # 1. background with lights
    bg_name = str(rng.choice(BACKGROUND_SOURCES))
    bg_rgb = _knee(
        _crop(rng, bg_name, width, height, (1.0, 1.8)) * np.float32(rng.uniform(0.4, 0.8))
    )
    bg_disp = rng.uniform(0.0, 0.08)
    bg_d = np.full((height, width), bg_disp, np.float32)
    ground = rng.random() < 0.6
    info["background"] = bg_name
    layers = []
    y_max = float(height)
    if ground:
        ground_layer, y_h, d_h, d_b = _ground(rng, width, height, xx, yy, bg_disp)
        y_max = y_h
        info["ground"] = {"horizon_y": round(float(y_h), 3), "disparity": [d_h, d_b]}
    info["lights"] = _add_lights(rng, bg_rgb, xx, yy, width, height, y_max)
    layers.append(_Layer(np.clip(bg_rgb, 0, 1).astype(np.float32), np.ones_like(bg_d), bg_d))
    if ground:
        layers.append(ground_layer)

    # 2. foreground objects at distinct disparities (back to front)
    k = int(rng.integers(1, 5))
    grid = np.linspace(0.3, 0.95, 14)
    disps = np.sort(rng.choice(grid, size=k, replace=False) + rng.uniform(-0.01, 0.01, k))
    objects = []
    for d in disps:
        kind = str(rng.choice(SHAPES))
        b = height * (0.12 + 0.22 * d) * rng.uniform(0.75, 1.15)
        a = b * (rng.uniform(0.45, 0.8) if kind == "figure" else rng.uniform(0.5, 1.5))
        a = min(a, 0.45 * width)
        cx = rng.uniform(0.12, 0.88) * width
        if ground:
            contact = y_h + (d - d_h) / (d_b - d_h) * (height - y_h)  # where the ground is at d
            cy = min(contact - 0.9 * b, height - 0.35 * b)
        else:
            cy = rng.uniform(0.3, 0.8) * height
        alpha = _shape_alpha(rng, kind, xx, yy, cx, cy, a, b)
        src = str(rng.choice(OBJECT_SOURCES))
        tex = _crop(rng, src, width, height, (1.0, 1.6))
        shade = 0.8 + 0.35 * np.clip(
            1 - ((xx - cx + 0.3 * a) ** 2 + (yy - cy + 0.3 * b) ** 2) / (1.6 * max(a, b)) ** 2, 0, 1
        )
        rgb = _knee(np.clip(tex * shade[..., None].astype(np.float32), 0, 1))
        layers.append(_Layer(rgb, alpha, np.full((height, width), d, np.float32)))
        objects.append({"shape": kind, "texture": src, "disparity": round(float(d), 6)})
    info["objects"] = objects

    # 3. focus on a foreground object with enough visible area (nearest preferred)
    n_back = len(layers) - k
    visible = []
    for j in range(k):
        mask = layers[n_back + j].alpha >= 0.5
        for front in layers[n_back + j + 1 :]:
            mask &= front.alpha < 0.5
        visible.append(mask)
    areas = np.array([m.mean() for m in visible])
    # prefer subjects well in front of the background (so that it is clearly blurred)
    ok = (
        [j for j in range(k) if areas[j] >= 0.015 and disps[j] >= 0.45]
        or [j for j in range(k) if areas[j] >= 0.015]
        or [int(np.argmax(areas))]
    )
    j = ok[-1] if rng.random() < 0.6 else int(rng.choice(ok))
    focus = _visible_center(visible[j])
    info["focus_object"] = j
    return Scene(layers=layers, focus=focus, focus_disparity=float(disps[j]), info=info)
