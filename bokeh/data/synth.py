"""A synthetic bokeh benchmark the project can make by itself, deterministically.

Each scene is a stack of layers, back to front:

1. a far background (a crop of one of scikit-image's bundled photos, dimmed) at disparity
   0..0.08, sprinkled with small bright light sources (pixel values at 1.0) that the renderer's
   highlight boost turns into bokeh balls;
2. optionally a ground plane whose disparity grows linearly from the horizon to the bottom edge
   (a plane's disparity is affine in image coordinates), textured in perspective;
3. one to four foreground objects (ellipses, rounded boxes, blobs and head-and-shoulders
   figures) at distinct constant disparities in 0.3..0.95, textured with photo crops; with a
   ground plane they stand on it at the row where its disparity equals theirs.

The "bokeh" image is rendered from the full layers (so the background hidden behind an object is
known) with :func:`bokeh.render.lens.render_scene` at f/1.8 strength focused on one foreground
object; the "original" is the same scene at f/16 (blur radius below 0.7 px at 256 px height).

Output of :func:`generate` (the ``python -m bokeh synth`` command), readable unchanged by
:class:`bokeh.data.ebb.PairDataset`::

    Training/original/{i}.png   uint8 RGB, lossless PNG (a benchmark should not carry JPEG loss)
    Training/bokeh/{i}.png
    depth/{i}.png               uint16 grey PNG: disparity * 65535, disparity in [0, 1],
                                1 = near, on the same scale as ``focus_disparity`` and the
                                renderer's ``strength`` (not stretched per image)
    metadata.json               generator version, arguments, render settings, split ids and
                                per-scene focus point (x, y) and focus disparity

Determinism: scene ``i`` of seed ``s`` draws from ``Generator(PCG64(SeedSequence([s, i])))``
only, so it does not depend on ``count``; PNGs are written with fixed settings and no
timestamps; metadata holds no time or path. The same arguments give byte-identical files with the
same package versions (recorded in the metadata, with a SHA-256 over all image files).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bokeh.errors import BokehError

GENERATOR = "bokeh.data.synth"
GENERATOR_VERSION = 2

BOKEH_FNUMBER = 1.8
ORIGINAL_FNUMBER = 16.0
HIGHLIGHT_BOOST = 4.0
BAND = 0.0
BLADES = 0

HOLDOUT_NAME = "holdout-v2"
HOLDOUT_COUNT = 64
HOLDOUT_SIZE = (384, 256)
HOLDOUT_SEED = 1001
HOLDOUT_FRACTION = 0.2  # share of a mixed set (split=None) kept as "holdout"
SPLITS = ("train", "holdout")

# Photos bundled with scikit-image (no download needed), by role.
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
    import skimage.data

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
    from PIL import Image

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
    from scipy import ndimage

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
    from scipy import ndimage

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


# --------------------------------------------------------------------------- rendering


def render_settings(height: int) -> dict[str, dict[str, float]]:
    """The lens settings of the bokeh and original renders at image ``height``."""
    from bokeh.render.lens import strength_for_fnumber

    common = {"band": BAND, "blades": BLADES, "rotation": 0.0, "highlight_boost": HIGHLIGHT_BOOST}
    return {
        "bokeh": {
            "fnumber": BOKEH_FNUMBER,
            "strength": float(strength_for_fnumber(BOKEH_FNUMBER, height)),
            **common,
        },
        "original": {
            "fnumber": ORIGINAL_FNUMBER,
            "strength": float(strength_for_fnumber(ORIGINAL_FNUMBER, height)),
            **common,
        },
    }


def render_pair(scene: Scene, settings: dict[str, dict[str, float]] | None = None):
    """Render ``scene`` as (original, bokeh), each float32 HxWx3 sRGB in [0, 1]."""
    from bokeh.render.lens import SceneLayer, render_scene

    height = scene.layers[0].alpha.shape[0]
    settings = settings or render_settings(height)
    layers = [SceneLayer(rgb=ly.rgb, alpha=ly.alpha, disparity=ly.disparity) for ly in scene.layers]
    out = []
    for which in ("original", "bokeh"):
        s = settings[which]
        out.append(
            render_scene(
                layers,
                focus_disparity=scene.focus_disparity,
                strength=s["strength"],
                band=s["band"],
                blades=int(s["blades"]),
                rotation=s["rotation"],
                highlight_boost=s["highlight_boost"],
            )
        )
    return out[0], out[1]


# --------------------------------------------------------------------------- writing


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    # fixed settings, no metadata chunks: identical input -> identical bytes
    Image.fromarray(array).save(path, format="PNG", compress_level=3, optimize=False)


def _environment() -> dict[str, str]:
    import PIL
    import scipy
    import skimage

    import bokeh

    return {
        "bokeh": bokeh.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-image": skimage.__version__,
        "pillow": PIL.__version__,
    }


def _split_ids(count: int, split: str | None) -> dict[str, list[int]]:
    ids = list(range(count))
    if split is None:
        n_hold = max(1, round(count * HOLDOUT_FRACTION)) if count > 1 else 0
        return {"train": ids[: count - n_hold], "holdout": ids[count - n_hold :]}
    return {split: ids}


def _parse_size(size: str | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, str):
        parts = size.lower().replace(" ", "").split("x")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"size must look like WIDTHxHEIGHT (e.g. 384x256), got {size!r}")
        size = (int(parts[0]), int(parts[1]))
    w, h = (int(v) for v in size)
    if w < 32 or h < 32 or w > 4096 or h > 4096:
        raise ValueError(f"size must be between 32x32 and 4096x4096 pixels, got {w}x{h}")
    return w, h


def _write_set(
    root: Path,
    count: int,
    size: tuple[int, int],
    seed: int,
    split: str | None,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """Write the whole set into the (empty) folder ``root``; return the metadata."""
    orig_dir, bokeh_dir, depth_dir = (
        root / "Training/original",
        root / "Training/bokeh",
        root / "depth",
    )
    for d in (orig_dir, bokeh_dir, depth_dir):
        d.mkdir(parents=True, exist_ok=True)
    settings = render_settings(size[1])
    digest = hashlib.sha256()
    scenes = []
    for i in range(count):
        scene = make_scene(seed, i, size)
        original, bokeh = render_pair(scene, settings)
        depth = np.round(np.clip(scene.disparity(), 0, 1) * 65535.0).astype(np.uint16)
        for path, arr in (
            (orig_dir / f"{i}.png", _to_uint8(original)),
            (bokeh_dir / f"{i}.png", _to_uint8(bokeh)),
            (depth_dir / f"{i}.png", depth),
        ):
            _save_png(path, arr)
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
        scenes.append(
            {
                "id": i,
                "focus": [scene.focus[0], scene.focus[1]],
                "focus_disparity": round(scene.focus_disparity, 6),
                **scene.info,
            }
        )
        if progress:
            progress(i + 1, count)
    return {
        "generator": GENERATOR,
        "version": GENERATOR_VERSION,
        "args": {"count": count, "size": list(size), "seed": seed, "split": split},
        "image_format": "png",
        "depth": {
            "path": "depth/{id}.png",
            "encoding": "uint16 PNG, normalised disparity * 65535 (1 = near); same scale as "
            "focus_disparity and the render strength",
        },
        "render": settings,
        "splits": _split_ids(count, split),
        "scenes": scenes,
        "environment": _environment(),
        "content_sha256": digest.hexdigest(),
    }


def _print_progress(done: int, total: int) -> None:
    step = max(1, total // 10)
    if done == total or done % step == 0:
        print(f"synth: {done}/{total} scenes", file=sys.stderr, flush=True)


def generate(
    out: str | os.PathLike,
    *,
    count: int,
    size: str | Sequence[int] = HOLDOUT_SIZE,
    seed: int = 0,
    split: str | None = None,
    progress: bool | Callable[[int, int], None] = False,
) -> Path:
    """Generate ``count`` scenes at ``size`` (``(w, h)`` or ``"WxH"``) into the folder ``out``.

    ``split``: ``"train"`` or ``"holdout"`` puts every scene in that split; ``None`` keeps the
    last 20 % as ``holdout`` and the rest as ``train``. The set is written to a temporary folder
    beside ``out`` and renamed into place, so ``out`` is either absent or complete; ``out`` must
    not exist or be empty. Returns ``out`` as a Path.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or None, got {split!r}")
    wh = _parse_size(size)
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BokehError(f"Output folder {str(out)!r} already exists and is not empty.")
    out.parent.mkdir(parents=True, exist_ok=True)
    callback = _print_progress if progress is True else (progress or None)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        meta = _write_set(tmp, int(count), wh, int(seed), split, callback)
        text = json.dumps(meta, indent=1, sort_keys=True) + "\n"
        (tmp / "metadata.json").write_text(text, encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def synth_main(
    out: str | os.PathLike,
    count: int,
    size: str | Sequence[int],
    seed: int,
    split: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Entry point of ``python -m bokeh synth --out DIR --count N --size WxH --seed S
    [--split train|holdout]``: generate the set, return a summary dict (``root``, ``count``,
    ``size``, ``seed``, ``splits`` (name -> count), ``seconds``, ``content_sha256``).

    Raises ValueError for bad arguments and :class:`~bokeh.errors.BokehError` when ``out`` is
    not empty.
    """
    start = time.perf_counter()
    root = generate(out, count=count, size=size, seed=seed, split=split, progress=progress)
    meta = json.loads((root / "metadata.json").read_text(encoding="utf-8"))
    seconds = time.perf_counter() - start
    if progress:
        print(f"synth: wrote {count} scenes to {root} in {seconds:.1f} s", file=sys.stderr)
    return {
        "root": str(root),
        "count": count,
        "size": meta["args"]["size"],
        "seed": seed,
        "splits": {k: len(v) for k, v in meta["splits"].items()},
        "seconds": round(seconds, 2),
        "content_sha256": meta["content_sha256"],
    }


def ensure_holdout(cache_dir: str | os.PathLike | None = None) -> Path:
    """Root of the default synthetic holdout (64 scenes, 384x256, split ``holdout``), generating
    it on first use into ``cache_dir`` (default ``bokeh.config.data_dir() / "synth"``) under
    ``holdout-v2``. Safe when several processes call it at once: each generates into its own
    temporary folder and the first rename wins.
    """
    if cache_dir is None:
        from bokeh.config import data_dir

        cache_dir = data_dir() / "synth"
    parent = Path(cache_dir).expanduser()
    root = parent / HOLDOUT_NAME
    if (root / "metadata.json").is_file():
        return root
    parent.mkdir(parents=True, exist_ok=True)
    tmp_out = Path(tempfile.mkdtemp(prefix=f".{HOLDOUT_NAME}.build-", dir=parent))
    try:
        built = generate(
            tmp_out / HOLDOUT_NAME,
            count=HOLDOUT_COUNT,
            size=HOLDOUT_SIZE,
            seed=HOLDOUT_SEED,
            split="holdout",
        )
        try:
            os.rename(built, root)
        except OSError:
            # another process finished first (root exists and is not empty): use theirs
            if not (root / "metadata.json").is_file():
                raise BokehError(
                    f"{str(root)!r} exists but holds no metadata.json; remove it so that the "
                    "synthetic holdout can be generated there."
                ) from None
    finally:
        shutil.rmtree(tmp_out, ignore_errors=True)
    return root


def load_synth(root: str | os.PathLike | None = None, split: str = "holdout", **kwargs: Any):
    """Open a synthetic set with :class:`bokeh.data.ebb.PairDataset` (``root=None``: the
    default holdout, generated on first use)."""
    from bokeh.data.ebb import PairDataset

    return PairDataset(ensure_holdout() if root is None else root, split, **kwargs)


# --------------------------------------------------------------------------- real-depth sample


@dataclass(frozen=True, eq=False)
class RealDepthSample:
    """A real photo with measured depth.

    ``image``: float32 HxWx3 sRGB in [0, 1]. ``disparity``: float32 HxW in [0, 1] (1 = near),
    min-max normalised over the measured pixels; pixels without ground truth (``valid`` False)
    are filled from the nearest measured pixel. ``focus``: a default (x, y) focus point.
    """

    name: str
    image: np.ndarray
    disparity: np.ndarray
    valid: np.ndarray
    focus: tuple[int, int]
    source: str


@lru_cache(maxsize=1)
def _motorcycle() -> RealDepthSample:
    import skimage.data
    from scipy import ndimage

    left, _right, disp = skimage.data.stereo_motorcycle()
    disp = np.asarray(disp, dtype=np.float64)
    valid = np.isfinite(disp)
    # fill holes (occlusions, no match) with the nearest measured value
    _, (iy, ix) = ndimage.distance_transform_edt(~valid, return_indices=True)
    filled = disp[iy, ix]
    lo, hi = float(filled[valid].min()), float(filled[valid].max())
    norm = np.clip((filled - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    image = (left.astype(np.float32) / 255.0).astype(np.float32)
    for a in (image, norm, valid):
        a.setflags(write=False)
    return RealDepthSample(
        name="motorcycle",
        image=image,
        disparity=norm,
        valid=valid,
        focus=(425, 195),  # the red fuel tank
        source="Middlebury 2014 'Motorcycle' (left view, 1/4 scale), via skimage.data",
    )


def motorcycle_sample() -> RealDepthSample:
    """The Middlebury motorcycle photo (741x500) with its ground-truth disparity, normalised,
    and a default focus point on the motorcycle's tank. Arrays are read-only; copy to edit."""
    return _motorcycle()


def contact_sheet(
    root: str | os.PathLike, ids: Sequence[int], out: str | os.PathLike, *, scale: float = 1.0
) -> Path:
    """Save a PNG with one row per id: original | bokeh | depth (with the focus point marked)."""
    from PIL import Image, ImageDraw

    from bokeh.data.ebb import PairDataset

    ds = PairDataset(root, "all")
    by_id = {e: k for k, e in enumerate(ds.ids)}
    rows = []
    for i in ids:
        item = ds[by_id[i]]
        depth = np.repeat(_to_uint8(item.depth)[..., None], 3, axis=2)
        row = np.concatenate([item.original, item.bokeh, depth], axis=1)
        rows.append(row)
    sheet = Image.fromarray(np.concatenate(rows, axis=0))
    draw = ImageDraw.Draw(sheet)
    h, w = rows[0].shape[0], rows[0].shape[1] // 3
    for r, i in enumerate(ids):
        fx, fy = ds[by_id[i]].focus
        for c in (0, 2):
            x, y = fx + c * w, fy + r * h
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), outline=(255, 40, 40), width=2)
    if scale != 1.0:
        sheet = sheet.resize((round(sheet.width * scale), round(sheet.height * scale)))
    out = Path(out)
    sheet.save(out, format="PNG")
    return out
