"""A generic folder of real pairs, for any other real set (RealBokeh, a team's own photos)::

    ROOT/original/NAME.jpg     the sharp input (.jpg, .jpeg or .png)
    ROOT/bokeh/NAME.jpg        the same scene at a wide aperture
    ROOT/depth/NAME.png        optional: disparity (1 = near), a grey 8/16-bit PNG, a
                               colour-mapped picture (Spectral_r), .npy, .npz or .pfm
    ROOT/focus.json            optional: per NAME, ``[x, y]`` or
                               ``{"focus": [x, y], "fnumber": 2.0, "input_fnumber": 16}``

Keys are the file stems. Pairs without a focus point are focused at the image centre and say so.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bokeh.data.real import (
    FOCUS_ANNOTATED,
    FOCUS_CENTRE,
    PairEntry,
    RealPair,
    RealPairs,
    centre_of,
    check_sizes,
    index_folder,
    read_json,
    read_rgb,
)
from bokeh.data.vabm import read_depth_picture
from bokeh.depth.files import load_depth_file
from bokeh.errors import DatasetNotFoundError, ImageReadError

__all__ = ["is_pairs_root", "load_pairs"]

DEPTH_EXTENSIONS = (".png", ".npy", ".npz", ".pfm")


def is_pairs_root(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds ``original/`` and ``bokeh/`` folders."""
    base = Path(root)
    return (base / "original").is_dir() and (base / "bokeh").is_dir()


def _number(value: Any, what: str, key: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (math.isfinite(number) and number > 0):
        raise DatasetNotFoundError(f"focus.json: {what} of {key!r} must be a positive number.")
    return number


def _annotation(raw: Any, key: str) -> dict[str, Any]:
    """focus (x, y) or None, fnumber and input_fnumber from one focus.json entry."""
    if raw is None:
        return {"focus": None, "fnumber": None, "input_fnumber": None}
    entry = {"focus": raw} if isinstance(raw, (list, tuple)) else raw
    if not isinstance(entry, dict):
        raise DatasetNotFoundError(f"focus.json: the entry of {key!r} must be [x, y] or an object.")
    focus = entry.get("focus")
    if focus is not None:
        try:
            x, y = (float(v) for v in focus)
        except (TypeError, ValueError):
            raise DatasetNotFoundError(f"focus.json: focus of {key!r} must be [x, y].") from None
        focus = (x, y)
    return {
        "focus": focus,
        "fnumber": _number(entry.get("fnumber"), "fnumber", key),
        "input_fnumber": _number(entry.get("input_fnumber"), "input_fnumber", key),
    }


def _depth_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in DEPTH_EXTENSIONS and path.stem not in found:
                found[path.stem] = path
    return found


def load_pairs(root: str | os.PathLike, split: str = "all") -> RealPairs:
    """The pairs of a generic paired folder (see the module docstring); ``split`` is ``all``.

    Raises :class:`~bokeh.errors.DatasetNotFoundError` when the layout, the split or
    ``focus.json`` is wrong, or no name has both images.
    """
    base = Path(root).expanduser()
    if not is_pairs_root(base):
        raise DatasetNotFoundError(
            f"{base} is not a paired folder: expected {base}/original/ and {base}/bokeh/."
        )
    if split != "all":
        raise DatasetNotFoundError(f"A paired folder has one split, 'all' (got {split!r}).")
    inputs, targets = index_folder(base / "original"), index_folder(base / "bokeh")
    depths = _depth_files(base / "depth")
    notes = read_json(base / "focus.json")
    entries = []
    for stem in sorted(set(inputs) & set(targets)):
        ann = _annotation(notes.get(stem), stem)
        entries.append(
            PairEntry(
                stem,
                inputs[stem],
                targets[stem],
                ann["fnumber"],
                ann["input_fnumber"],
                {"depth": depths.get(stem), "focus": ann["focus"]},
            )
        )
    if not entries:
        raise DatasetNotFoundError(f"{base} holds no name with both original/ and bokeh/ images.")
    has_depth = all(e.extra["depth"] is not None for e in entries)
    n_focus = sum(e.extra["focus"] is not None for e in entries)
    return RealPairs(
        entries,
        _load,
        name="pairs",
        root=base,
        split=split,
        has_depth=has_depth,
        description=f"paired folder {base} ({len(entries)} pairs, {n_focus} with a focus point)",
        provenance={
            "dataset": "pairs",
            "split": split,
            "root": str(base),
            "layout": "pairs",
            "n_images": len(entries),
            "annotated_focus": n_focus,
        },
    )


def _read_depth(path: Path, key: str, shape: tuple[int, ...]):
    """(disparity, note) of a depth file: colour-mapped pictures are decoded by nearest colour,
    anything else is read as disparity by :func:`bokeh.depth.files.load_depth_file`."""
    if path.suffix.lower() == ".png":
        with Image.open(path) as im:
            colour = im.mode in ("RGB", "RGBA", "P")
        if colour:
            decoded = read_depth_picture(path, key)
            return decoded.disparity, (
                f"dataset depth {path.name} ({decoded.colormap}, mean "
                f"colour error {decoded.mean_error:.2f})"
            )
    disparity = load_depth_file(path, kind="disparity", size=(shape[1], shape[0]))
    return np.asarray(disparity, np.float32), f"dataset depth {path.name} (disparity)"


def _load(entry: PairEntry) -> RealPair:
    key = entry.key
    image = read_rgb(entry.input, "original", key)
    target = read_rgb(entry.target, "bokeh photo", key)
    check_sizes(image, target, key, "bokeh photo")
    depth, note, path = None, "", entry.extra["depth"]
    if path is not None:
        depth, note = _read_depth(path, key, image.shape)
        check_sizes(image, depth, key, "depth map")
    focus = entry.extra["focus"]
    if focus is None:
        focus, source, focus_note = centre_of(image.shape), FOCUS_CENTRE, ""
    else:
        h, w = image.shape[:2]
        if not (0 <= focus[0] < w and 0 <= focus[1] < h):
            raise ImageReadError(f"Pair {key}: focus {focus} lies outside the {w}x{h} image.")
        source, focus_note = FOCUS_ANNOTATED, "focus.json"
    return RealPair(
        key,
        image,
        target,
        entry.input,
        entry.target,
        entry.fnumber,
        entry.input_fnumber,
        depth,
        path,
        note,
        focus,
        source,
        focus_note,
    )
