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
known) with :func:`bokeh.renderers.lens.render_scene` at f/1.8 strength focused on one foreground
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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import scipy
import skimage
import skimage.data
from PIL import Image
from scipy import ndimage

from bokeh import lazy
from bokeh.config import data_dir
from bokeh.data.ebb import PairDataset
from bokeh.data.scenes import Scene, make_scene
from bokeh.errors import BokehError
from bokeh.renderers.coc import strength_for_fnumber
from bokeh.version import __version__

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
# --------------------------------------------------------------------------- rendering


def render_settings(height: int) -> dict[str, dict[str, float]]:
    """The lens settings of the bokeh and original renders at image ``height``."""
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
    height = scene.layers[0].alpha.shape[0]
    settings = settings or render_settings(height)
    lens = (
        lazy.load("bokeh.renderers.lens:SceneLayer"),
        lazy.load("bokeh.renderers.lens:render_scene"),
    )
    scene_layer, render_scene = lens
    layers = [
        scene_layer(rgb=ly.rgb, alpha=ly.alpha, disparity=ly.disparity) for ly in scene.layers
    ]
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
    # fixed settings, no metadata chunks: identical input -> identical bytes
    Image.fromarray(array).save(path, format="PNG", compress_level=3, optimize=False)


def _environment() -> dict[str, str]:

    return {
        "bokeh": __version__,
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
