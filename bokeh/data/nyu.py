"""NYU Depth v2 as packaged for DenseDepth (Alhashim & Wonka 2018).

Training archive (``nyu_data.zip`` extracted; ``root`` is the folder that holds ``data/``)::

    data/nyu2_train.csv        rows "rgb_path,depth_path", paths relative to ``root``
    data/nyu2_train/<scene>/<n>.jpg   RGB
    data/nyu2_train/<scene>/<n>.png   8-bit depth, 255 = 10 m (value / 255 * 10 metres)
    data/nyu2_test.csv         (optional) the same for the 654 test pairs, whose depth PNGs are
                               16-bit millimetres (value / 1000 metres); 8-bit PNGs are read
                               with the training scale (unverified convention, see below)

Eigen test split as arrays (``nyu_test.zip`` extracted; in ``root`` or ``root/data``)::

    eigen_test_rgb.npy    (N, 480, 640, 3) uint8
    eigen_test_depth.npy  (N, 480, 640) float32 metres
    eigen_test_crop.npy   (4,) int: y0, y1, x0, x1 of the standard evaluation crop

Arrays are memory-mapped and loaded with ``allow_pickle=False``. Every item is a
:class:`DepthSample` with ``rgb`` uint8 HxWx3 and ``depth`` float32 HxW in metres (0 = no
measurement). Missing files raise :class:`~bokeh.errors.DatasetNotFoundError`; a file that does
not decode raises :class:`~bokeh.errors.ImageReadError` naming the row.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bokeh.errors import DatasetNotFoundError, ImageReadError

MAX_DEPTH_M = 10.0  # 8-bit training depth: 255 = 10 m
EIGEN_FILES = ("eigen_test_rgb.npy", "eigen_test_depth.npy", "eigen_test_crop.npy")


@dataclass(frozen=True, eq=False)
class DepthSample:
    """An RGB-D sample. ``rgb``: uint8 HxWx3. ``depth``: float32 HxW metres (0 = missing).
    ``crop``: (y0, y1, x0, x1) evaluation crop when the split defines one."""

    index: int
    rgb: np.ndarray
    depth: np.ndarray
    rgb_path: Path | None = None
    depth_path: Path | None = None
    crop: tuple[int, int, int, int] | None = None


def _decode_depth(raw: np.ndarray) -> np.ndarray:
    """Depth PNG values -> metres: 8-bit is 255 = 10 m, 16-bit is millimetres."""
    if raw.ndim == 3:
        raw = raw[..., 0]
    if raw.dtype == np.uint8:
        return raw.astype(np.float32) * np.float32(MAX_DEPTH_M / 255.0)
    if raw.dtype in (np.uint16, np.int32, np.uint32):  # PIL reads 16-bit PNG as I;16 or I
        return raw.astype(np.float32) / np.float32(1000.0)
    raise ValueError(f"unsupported depth PNG type {raw.dtype}")


class NYUPairs(Sequence[DepthSample]):
    """Lazy (rgb, depth) pairs listed in ``data/nyu2_{split}.csv`` under ``root``.

    Parameters
    ----------
    root : folder holding ``data/`` (the extracted DenseDepth ``nyu_data.zip``).
    split : ``"train"`` (``nyu2_train.csv``) or ``"test"`` (``nyu2_test.csv``).
    """

    def __init__(self, root: str | os.PathLike, split: str = "train") -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.root = Path(root).expanduser()
        self.split = split
        csv_path = self.root / "data" / f"nyu2_{split}.csv"
        if not csv_path.is_file():
            raise DatasetNotFoundError(
                f"NYU Depth v2 not found: expected {csv_path} (the DenseDepth archive "
                "nyu_data.zip extracted into the folder you pass)."
            )
        rows: list[tuple[str, str]] = []
        with csv_path.open(newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.reader(f), start=1):
                row = [c.strip() for c in row]
                if not any(row):
                    continue
                if len(row) < 2 or not row[0] or not row[1]:
                    raise DatasetNotFoundError(
                        f"{csv_path}, line {n}: expected 'rgb_path,depth_path', got {row!r}."
                    )
                rows.append((row[0], row[1]))
        if not rows:
            raise DatasetNotFoundError(f"{csv_path} lists no image pairs.")
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def paths(self, index: int) -> tuple[Path, Path]:
        """(rgb path, depth path) of row ``index``."""
        rgb, depth = self._rows[index]
        return self.root / rgb, self.root / depth

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        rgb_path, depth_path = self.paths(index)

        for p in (rgb_path, depth_path):
            if not p.is_file():
                raise DatasetNotFoundError(f"NYU {self.split} row {index}: {p} is missing.")
        try:
            with Image.open(rgb_path) as im:
                rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
            with Image.open(depth_path) as im:
                depth = _decode_depth(np.asarray(im))
        except Exception as exc:
            raise ImageReadError(
                f"NYU {self.split} row {index} ({rgb_path.name}, {depth_path.name}) could not "
                f"be read ({exc})."
            ) from None
        if depth.shape != rgb.shape[:2]:
            raise ImageReadError(
                f"NYU {self.split} row {index}: depth is {depth.shape[1]}x{depth.shape[0]} but "
                f"the image is {rgb.shape[1]}x{rgb.shape[0]}."
            )
        return DepthSample(index, rgb, depth, rgb_path, depth_path)


class EigenTest(Sequence[DepthSample]):
    """The Eigen test split stored as ``eigen_test_{rgb,depth,crop}.npy`` in ``root`` or
    ``root/data``. Items carry the evaluation crop (y0, y1, x0, x1)."""

    def __init__(self, root: str | os.PathLike) -> None:
        base = Path(root).expanduser()
        folder = next(
            (d for d in (base, base / "data") if all((d / f).is_file() for f in EIGEN_FILES)),
            None,
        )
        if folder is None:
            raise DatasetNotFoundError(
                f"NYU Eigen test arrays not found in {str(base)!r}: expected "
                f"{', '.join(EIGEN_FILES)} (the DenseDepth nyu_test.zip extracted)."
            )
        self.root = folder
        try:
            self.rgb = np.load(folder / EIGEN_FILES[0], mmap_mode="r", allow_pickle=False)
            self.depth = np.load(folder / EIGEN_FILES[1], mmap_mode="r", allow_pickle=False)
            crop = np.load(folder / EIGEN_FILES[2], allow_pickle=False)
        except ValueError as exc:
            raise DatasetNotFoundError(
                f"NYU Eigen test arrays in {str(folder)!r} could not be loaded ({exc})."
            ) from None
        if self.rgb.ndim != 4 or self.rgb.shape[-1] != 3:
            raise DatasetNotFoundError(
                f"eigen_test_rgb.npy must have shape (N, H, W, 3), got {self.rgb.shape}."
            )
        if self.depth.shape != self.rgb.shape[:3]:
            raise DatasetNotFoundError(
                f"eigen_test_depth.npy must have shape {self.rgb.shape[:3]}, got "
                f"{self.depth.shape}."
            )
        crop = np.asarray(crop).ravel()
        if crop.size != 4:
            raise DatasetNotFoundError(f"eigen_test_crop.npy must hold 4 numbers, got {crop}.")
        y0, y1, x0, x1 = (int(v) for v in crop)
        self.crop = (y0, y1, x0, x1)

    def __len__(self) -> int:
        return int(self.rgb.shape[0])

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        rgb = np.asarray(self.rgb[index])
        if rgb.dtype != np.uint8:  # some exports store floats in [0, 1] or [0, 255]
            scale = 255.0 if float(rgb.max()) <= 1.0 else 1.0
            rgb = np.clip(np.round(rgb.astype(np.float32) * scale), 0, 255).astype(np.uint8)
        depth = np.asarray(self.depth[index], dtype=np.float32)
        return DepthSample(index, rgb, depth, crop=self.crop)


def load_nyu(root: str | os.PathLike, split: str = "train") -> Sequence[DepthSample]:
    """NYU Depth v2 from the DenseDepth archives: ``split`` is ``"train"`` / ``"test"`` (the CSV
    lists) or ``"eigen"`` (the Eigen test arrays)."""
    if split == "eigen":
        return EigenTest(root)
    return NYUPairs(root, split)
