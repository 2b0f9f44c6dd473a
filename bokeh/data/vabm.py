"""The VABM layout (Chen et al., "Variable Aperture Bokeh Rendering via Customized Focal Plane
Guidance", 2024), as published::

    ROOT/{train,test}/input/NAME.JPG     the f/16 photo (all in focus)
    ROOT/{train,test}/target/NAME.JPG    EBB! as distributed there: the f/1.8 photo
    ROOT/{train,test}/1_8|2_8|8/NAME.JPG VABD: the same scene at f/1.8, f/2.8 and f/8
    ROOT/{train,test}/depth/NAME.png     depth as a colour-mapped picture (Spectral_r)
    ROOT/{train,test}/focal/NAME.png     mask of the in-focus region (255 = in focus)

``load_vabm(root, split)`` lists one pair per (scene, aperture). ``split`` is ``train``,
``test`` or ``all``, optionally followed by ``@`` and an aperture (``all@1.8``, ``test@8``) to
keep one aperture; ``ROOT`` may also be a single split folder (one that holds ``input/``).
Keys read ``test/0099@f1.8``.

* Depth pictures are decoded by nearest colour (:mod:`bokeh.data.colormap`); the mean colour
  error of each is in the pair's ``depth_note``, and a picture that matches no known map is
  refused.
* The focus point is a point inside the focal mask whose disparity is the mask's median
  (:func:`bokeh.data.real.focus_from_mask`); without a mask, the image centre (and the pair
  says so).
* ``input_fnumber`` is 16 (both VABD and EBB! inputs are shot at f/16) unless given.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from bokeh.data.colormap import DecodedDepth, decode_colormap_depth
from bokeh.data.real import (
    FOCUS_ANNOTATED,
    FOCUS_CENTRE,
    PairEntry,
    RealPair,
    RealPairs,
    centre_of,
    check_sizes,
    focus_from_mask,
    index_folder,
    read_mask,
    read_rgb,
)
from bokeh.errors import DatasetNotFoundError, ImageReadError

__all__ = ["APERTURE_FOLDERS", "INPUT_FNUMBER", "is_vabm_root", "load_vabm", "read_depth_picture"]

# Target folder -> f-number. ``target`` is EBB!'s f/1.8 bokeh photo.
APERTURE_FOLDERS = {"1_8": 1.8, "2_8": 2.8, "8": 8.0, "target": 1.8}
INPUT_FNUMBER = 16.0
SPLITS = ("train", "test")


def _split_dirs(root: Path) -> dict[str, Path]:
    if (root / "input").is_dir():
        return {root.name: root}
    return {s: root / s for s in SPLITS if (root / s / "input").is_dir()}


def is_vabm_root(root: str | os.PathLike) -> bool:
    """Whether ``root`` is laid out as VABM (a split folder with input/, or train/ or test/)."""
    return bool(_split_dirs(Path(root)))


def _parse_split(split: str) -> tuple[str, float | None]:
    name, _, aperture = str(split).partition("@")
    if not aperture:
        return name, None
    try:
        value = float(aperture.lstrip("fF/"))
    except ValueError:
        raise DatasetNotFoundError(
            f"Unknown aperture {aperture!r} in split {split!r}; use e.g. 'all@1.8'."
        ) from None
    return name, value


def read_depth_picture(path: Path, key: str) -> DecodedDepth:
    """:class:`bokeh.data.colormap.DecodedDepth` of a depth picture (colour-mapped or grey)."""
    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I"):
                raw = np.asarray(im).astype(np.float32) / np.float32(65535)
                return DecodedDepth(np.clip(raw, 0, 1).astype(np.float32), "gray16", 0.0)
            rgb = np.asarray(im.convert("L" if im.mode in ("L", "P;L") else "RGB"))
    except Exception as exc:
        raise ImageReadError(
            f"Pair {key}: the depth picture {str(path)!r} could not be read ({exc})."
        ) from None
    return decode_colormap_depth(rgb, name=f"depth picture {path}")


def load_vabm(
    root: str | os.PathLike, split: str = "all", *, input_fnumber: float = INPUT_FNUMBER
) -> RealPairs:
    """The pairs of a VABM-layout folder (see the module docstring).

    Raises :class:`~bokeh.errors.DatasetNotFoundError` when the folder is not in that layout,
    the split or aperture does not exist, or it holds no complete pair.
    """
    base = Path(root).expanduser()
    dirs = _split_dirs(base)
    if not dirs:
        raise DatasetNotFoundError(
            f"{base} is not in the VABM layout: expected {base}/train/input/ or "
            f"{base}/test/input/ (or a split folder holding input/)."
        )
    name, aperture = _parse_split(split)
    if name != "all":
        if name not in dirs:
            raise DatasetNotFoundError(
                f"{base} has no split {name!r}; it has {', '.join(sorted(dirs))} and 'all'."
            )
        dirs = {name: dirs[name]}
    entries: list[PairEntry] = []
    apertures: set[float] = set()
    for sname, folder in sorted(dirs.items()):
        inputs = index_folder(folder / "input")
        for sub, fnum in APERTURE_FOLDERS.items():
            if aperture is not None and abs(fnum - aperture) > 1e-6:
                continue
            targets = index_folder(folder / sub)
            for stem in sorted(set(inputs) & set(targets)):
                apertures.add(fnum)
                entries.append(
                    PairEntry(
                        f"{sname}/{stem}@f{fnum:g}",
                        inputs[stem],
                        targets[stem],
                        fnum,
                        input_fnumber,
                        {"folder": folder, "stem": stem},
                    )
                )
    if not entries:
        want = "" if aperture is None else f" at f/{aperture:g}"
        raise DatasetNotFoundError(f"{base} (split {split}) holds no input/target pair{want}.")
    entries.sort(key=lambda e: (e.fnumber, e.key))
    has_depth = all((e.extra["folder"] / "depth").is_dir() for e in entries)
    shown = ", ".join(f"f/{a:g}" for a in sorted(apertures))
    return RealPairs(
        entries,
        _load,
        name="vabm",
        root=base,
        split=split,
        has_depth=has_depth,
        description=f"VABM layout {base}, split {split} ({len(entries)} pairs at {shown}, "
        f"input f/{input_fnumber:g})",
        provenance={
            "dataset": "vabm",
            "split": split,
            "root": str(base),
            "layout": "vabm",
            "n_images": len(entries),
            "apertures": sorted(apertures),
            "input_fnumber": input_fnumber,
        },
    )


def _load(entry: PairEntry) -> RealPair:
    key, folder, stem = entry.key, entry.extra["folder"], entry.extra["stem"]
    image = read_rgb(entry.input, "input", key)
    target = read_rgb(entry.target, "target", key)
    check_sizes(image, target, key, "target")
    depth = depth_path = None
    note = ""
    found = index_folder(folder / "depth").get(stem)
    if found is not None:
        decoded = read_depth_picture(found, key)
        check_sizes(image, decoded.disparity, key, "depth picture")
        depth, depth_path = decoded.disparity, found
        note = (
            f"dataset depth {found.name} ({decoded.colormap}, mean colour error "
            f"{decoded.mean_error:.2f})"
        )
    focus, source, focus_note = centre_of(image.shape), FOCUS_CENTRE, ""
    mask_path = index_folder(folder / "focal").get(stem)
    if mask_path is not None:
        mask = read_mask(mask_path, key)
        check_sizes(image, mask, key, "focus mask")
        if mask.any():
            focus = focus_from_mask(mask, depth)
            source = FOCUS_ANNOTATED
            focus_note = f"focal mask {mask_path.name}: a point at the mask's median disparity"
    return RealPair(
        key,
        image,
        target,
        entry.input,
        entry.target,
        entry.fnumber,
        entry.input_fnumber,
        depth,
        depth_path,
        note,
        focus,
        source,
        focus_note,
    )
