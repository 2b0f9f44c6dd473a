"""Real photo pairs (a sharp input and the same scene shot at a wide aperture), shared by the
VABM-layout reader (:mod:`bokeh.data.vabm`) and the generic paired folder
(:mod:`bokeh.data.pairs`).

A :class:`RealPairs` is a lazy sequence of :class:`RealPair`: files are listed when it is made
and read on access. Images are uint8 RGB at the dataset's resolution, as stored (EXIF rotation
is ignored, like every published evaluation on these sets). Depth, when the dataset carries
it, is normalised disparity (float32, 1 = nearest); the focus point comes from the dataset's
annotation when there is one, else it is the image centre, and ``focus_source`` says which.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from bokeh.errors import DatasetNotFoundError, ImageReadError

__all__ = [
    "FOCUS_ANNOTATED",
    "FOCUS_CENTRE",
    "RealPair",
    "RealPairs",
    "focus_from_mask",
    "index_folder",
    "read_rgb",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
FOCUS_CENTRE = "image centre (no focus annotation)"
FOCUS_ANNOTATED = "annotation"


@dataclass(frozen=True, eq=False)
class RealPair:
    """One real pair.

    key: unique in the dataset (``"test/0099@f1.8"``). input, target: uint8 (H, W, 3).
    fnumber: the target's f-number when known; input_fnumber: the input's.
    depth: float32 (H, W) normalised disparity (1 = near) or None; depth_note says where it
    came from. focus: (x, y) pixel, always set; focus_source: "annotation" (with how it was
    derived in ``focus_note``) or :data:`FOCUS_CENTRE`.
    """

    key: str
    input: np.ndarray
    target: np.ndarray
    input_path: Path
    target_path: Path
    fnumber: float | None = None
    input_fnumber: float | None = None
    depth: np.ndarray | None = None
    depth_path: Path | None = None
    depth_note: str = ""
    focus: tuple[float, float] = (0.0, 0.0)
    focus_source: str = FOCUS_CENTRE
    focus_note: str = ""


@dataclass(frozen=True)
class PairEntry:
    """The files of one pair, listed but not read; ``load`` reads them into a RealPair."""

    key: str
    input: Path
    target: Path
    fnumber: float | None = None
    input_fnumber: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class RealPairs(Sequence[RealPair]):
    """A lazy sequence of :class:`RealPair` made by a layout reader.

    ``entries``: the listed pairs; ``load``: reads one entry into a RealPair; ``name``,
    ``root``, ``split``, ``description`` and ``provenance`` describe the set.
    """

    def __init__(
        self,
        entries: list[PairEntry],
        load: Callable[[PairEntry], RealPair],
        *,
        name: str,
        root: Path,
        split: str,
        description: str,
        provenance: dict[str, Any],
        has_depth: bool,
    ):
        self.entries, self._load = entries, load
        self.name, self.root, self.split = name, root, split
        self.description, self.provenance, self.has_depth = description, provenance, has_depth

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, k):  # type: ignore[override]
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        return self._load(self.entries[k])

    def __iter__(self) -> Iterator[RealPair]:
        for i in range(len(self)):
            yield self[i]

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.entries]


def index_folder(folder: Path) -> dict[str, Path]:
    """``{stem: path}`` of the images in ``folder`` (first of IMAGE_EXTENSIONS wins)."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        ext = path.suffix.lower()
        if ext in IMAGE_EXTENSIONS and path.is_file():
            prev = found.get(path.stem)
            if prev is None or IMAGE_EXTENSIONS.index(ext) < IMAGE_EXTENSIONS.index(
                prev.suffix.lower()
            ):
                found[path.stem] = path
    return found


def read_rgb(path: Path, what: str, key: str) -> np.ndarray:
    """uint8 (H, W, 3) of an image file, or ImageReadError naming the pair and the file."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # PIL raises many types for broken files
        raise ImageReadError(
            f"Pair {key}: the {what} {str(path)!r} could not be read ({exc})."
        ) from None


def read_mask(path: Path, key: str) -> np.ndarray:
    """A boolean (H, W) mask from a picture (non-zero = inside)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L")) > 127
    except Exception as exc:
        raise ImageReadError(
            f"Pair {key}: the focus mask {str(path)!r} could not be read ({exc})."
        ) from None


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path`` ({} when absent); a malformed file raises DatasetNotFoundError."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetNotFoundError(f"{path} is not a readable JSON file ({exc}).") from None
    if not isinstance(data, dict):
        raise DatasetNotFoundError(f"{path} must hold a JSON object keyed by image name.")
    return data


def centre_of(shape: tuple[int, ...]) -> tuple[float, float]:
    """The centre (x, y) of an (H, W, ...) image, as the pipelines define it."""
    return (shape[1] - 1) / 2, (shape[0] - 1) / 2


def focus_from_mask(mask: np.ndarray, disparity: np.ndarray | None) -> tuple[float, float]:
    """A focus point for an in-focus mask.

    Args:
        mask: (H, W) bool, True where the photo is in focus; must not be empty.
        disparity: (H, W) normalised disparity, or None.

    Returns:
        (x, y): among the mask's pixels whose disparity is closest to the mask's median
        disparity (all of the mask without a disparity), the one farthest from the mask's edge,
        so that a small window around it has that median disparity too.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("The focus mask is empty.")
    inside = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    if disparity is not None:
        d = np.asarray(disparity, dtype=np.float32)
        if d.shape != mask.shape:
            raise ValueError(f"mask {mask.shape} and disparity {d.shape} differ in shape.")
        median = float(np.median(d[mask]))
        gap = np.abs(d - median)
        closest = mask & (gap <= float(gap[mask].min()) + 1.0 / 255)
        # The window median matters, so prefer points whose neighbourhood is near the median.
        local = ndimage.uniform_filter((np.abs(d - median) <= 2.0 / 255).astype(np.float32), 15)
        score = np.where(closest, inside * (0.5 + local), -1.0)
    else:
        score = np.where(mask, inside, -1.0)
    y, x = np.unravel_index(int(np.argmax(score)), mask.shape)
    return float(x), float(y)


def check_sizes(a: np.ndarray, b: np.ndarray, key: str, what: str) -> None:
    if a.shape[:2] != b.shape[:2]:
        raise ImageReadError(
            f"Pair {key}: the input is {a.shape[1]}x{a.shape[0]} but the "
            f"{what} is {b.shape[1]}x{b.shape[0]}."
        )
