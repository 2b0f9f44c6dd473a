"""Score a folder of someone else's outputs against ground truth: ``python -m eval score``.

Files are matched by name stem (``4400.png`` in PRED_DIR against ``4400.jpg`` in GT_DIR):
``.png``, ``.jpg`` and ``.jpeg`` (any case) are read, as RGB uint8 at native resolution (alpha
dropped, greyscale replicated, EXIF orientation ignored, as every published EBB! evaluation
does). When one folder holds two files with the same stem, the PNG is used and the choice is
reported. Policies:

* **Missing counterpart** (a stem in one folder only): reported, not scored.
* **Size mismatch**: that id is not scored and is reported with both sizes (no resizing or
  cropping: a resized output would be scored on a different protocol).
* **Unreadable file**: that id is not scored and is reported.

Metrics are :func:`score_pair` (PSNR with data range 255 and both SSIM variants,
REFERENCE.md section 2). The CSV has columns ``id, psnr, ssim, ssim_gauss``, one row per scored
id in natural order (``2`` before ``10``), and a last row ``mean`` over the scored ids.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from bokeh.errors import BokehError
from eval.metric_table import METRICS
from eval.metrics import as_batch_native, shape_of

EXTENSIONS = (".png", ".jpg", ".jpeg")


@dataclass
class ScoreReport:
    """Result of :func:`score_folders`.

    rows: ``{"id", "psnr", "ssim", "ssim_gauss"}`` per scored id, natural order.
    mean: metric -> mean over ``rows`` (NaN when nothing was scored).
    missing_pred: ids in GT_DIR without an output; missing_gt: outputs without ground truth.
    errors: id -> why it was not scored (size mismatch, unreadable file).
    notes: other remarks (duplicate stems).
    """

    rows: list[dict] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    missing_pred: list[str] = field(default_factory=list)
    missing_gt: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """One line per problem, for people."""
        out = list(self.notes)
        if self.missing_pred:
            out.append(
                f"{len(self.missing_pred)} ground-truth image(s) have no output: "
                f"{_few(self.missing_pred)}"
            )
        if self.missing_gt:
            out.append(
                f"{len(self.missing_gt)} output(s) have no ground truth: {_few(self.missing_gt)}"
            )
        out += [f"{i}: {why}" for i, why in self.errors.items()]
        return out


def score_pair(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """All :data:`METRICS` for one prediction against its ground truth.

    Args:
        pred, gt: uint8 RGB numpy arrays (H, W, 3) of the same shape, at native resolution.

    Returns:
        ``{"psnr": dB, "ssim": [-1, 1], "ssim_gauss": [-1, 1]}`` with data_range=255
        (psnr is ``inf`` for identical images).
    """
    for name, a in (("pred", pred), ("gt", gt)):
        if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(
                f"{name} must be a uint8 numpy array of shape (H, W, 3); got "
                f"{type(a).__name__} {getattr(a, 'dtype', '')} {shape_of(a)}."
            )
    p = as_batch_native(pred, "pred")  # convert once, not once per metric
    g = as_batch_native(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(
            f"pred and gt must have the same shape; got pred {pred.shape} and gt {gt.shape}."
        )
    return {key: float(spec.compute(p, g, data_range=255)[0]) for key, spec in METRICS.items()}


def _few(ids: list[str], n: int = 10) -> str:
    return ", ".join(ids[:n]) + (f", ... ({len(ids)} in all)" if len(ids) > n else "")


def natural_key(text: str) -> list:
    """Sort key that orders ``"2"`` before ``"10"``."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text) if t]


def _index(folder: Path, notes: list[str]) -> dict[str, Path]:
    if not folder.is_dir():
        raise BokehError(f"{folder} is not a folder.")
    rank = {ext: k for k, ext in enumerate(EXTENSIONS)}
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        ext = p.suffix.lower()
        if ext not in rank or not p.is_file():
            continue
        prev = found.get(p.stem)
        if prev is not None:
            keep = p if rank[ext] < rank[prev.suffix.lower()] else prev
            notes.append(f"{folder}: several files named {p.stem}.*; using {keep.name}")
            found[p.stem] = keep
        else:
            found[p.stem] = p
    return found


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def score_folders(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike) -> ScoreReport:
    """Score every output in ``pred_dir`` against the same-stem image in ``gt_dir``.

    Raises :class:`~bokeh.errors.BokehError` when a folder does not exist or holds no images.
    """
    report = ScoreReport()
    preds = _index(Path(pred_dir).expanduser(), report.notes)
    gts = _index(Path(gt_dir).expanduser(), report.notes)
    if not gts:
        raise BokehError(f"{gt_dir} holds no .png/.jpg images.")
    if not preds:
        raise BokehError(f"{pred_dir} holds no .png/.jpg images.")
    report.missing_pred = sorted(set(gts) - set(preds), key=natural_key)
    report.missing_gt = sorted(set(preds) - set(gts), key=natural_key)
    for i in sorted(set(preds) & set(gts), key=natural_key):
        try:
            pred, gt = _read(preds[i]), _read(gts[i])
        except Exception as exc:  # PIL raises many types for broken files
            report.errors[i] = f"unreadable image ({type(exc).__name__}: {exc})"
            continue
        if pred.shape != gt.shape:
            report.errors[i] = (
                f"size mismatch: output is {pred.shape[1]}x{pred.shape[0]}, "
                f"ground truth is {gt.shape[1]}x{gt.shape[0]}; not scored"
            )
            continue
        report.rows.append({"id": i, **score_pair(pred, gt)})
    for key in METRICS:
        vals = [r[key] for r in report.rows]
        report.mean[key] = float(np.mean(vals)) if vals else math.nan
    return report


def to_csv(report: ScoreReport) -> str:
    """The CSV text: header ``id,psnr,ssim,ssim_gauss``, one line per id, ``mean`` last."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", *METRICS])
    for r in [*report.rows, {"id": "mean", **report.mean}]:
        writer.writerow([r["id"], *(_fmt(r[k]) for k in METRICS)])
    return buf.getvalue()


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6f}"
