"""Many photos, one method, the same settings: the batch side of ``python -m bokeh render``.

* :func:`is_batch` / :func:`collect_inputs`: INPUT arguments (files, folders, glob patterns) ->
  the photos, in order, each once. A folder gives its image files (not its subfolders); a
  pattern gives the files it matches (``**`` descends into folders).
* :func:`output_paths`: one ``NAME.png`` per photo in the output folder (names that would
  collide keep their extension: ``a_jpg.png``, ``a_png.png``).
* :func:`read_focus_csv`: per-photo focus points from a CSV with the columns ``file,x,y``.
* :func:`run_batch`: render each photo with a progress bar on stderr; a photo that fails
  prints one line ``error: NAME: message`` and the batch goes on.
"""

from __future__ import annotations

import csv
import glob
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from bokeh.errors import BokehError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif",
                  ".avif", ".gif", ".ppm")  # fmt: skip


class BatchError(BokehError):
    """A problem with the batch as a whole (no inputs, a bad focus CSV, ...)."""


def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


def is_batch(inputs: Sequence[str]) -> bool:
    """True for several inputs, a folder, or a glob pattern that is not an existing file."""
    if len(inputs) != 1:
        return True
    path = Path(inputs[0]).expanduser()
    return path.is_dir() or (not path.exists() and _has_magic(inputs[0]))


def collect_inputs(inputs: Sequence[str]) -> list[Path]:
    """The photos that INPUT arguments name, in order, without repeats. A missing file is kept
    (its render fails with one line); a folder without images or a pattern matching nothing
    is a BatchError."""
    found: list[Path] = []
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            images = sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)  # fmt: skip
            if not images:
                raise BatchError(f"the folder {text!r} holds no images "
                                 f"({', '.join(IMAGE_SUFFIXES)}).")  # fmt: skip
            found += images
        elif not path.exists() and _has_magic(text):
            matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                raise BatchError(f"no file matches {text!r}.")
            found += files
        else:
            found.append(path)
    seen: set[str] = set()
    unique = []
    for path in found:
        key = os.path.normcase(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def output_paths(inputs: Sequence[Path], folder: Path) -> list[Path]:
    """``folder/NAME.png`` for each input; a name that two inputs share keeps the extension
    (``a_jpg.png``), then a counter if that still collides."""
    stems = Counter(p.stem.lower() for p in inputs)
    taken: set[str] = set()
    out = []
    for path in inputs:
        name = path.stem
        if stems[name.lower()] > 1:
            name = f"{path.stem}_{path.suffix.lstrip('.').lower()}"
        candidate, n = name, 2
        while candidate.lower() in taken:
            candidate, n = f"{name}-{n}", n + 1
        taken.add(candidate.lower())
        out.append(folder / f"{candidate}.png")
    return out


def read_focus_csv(path: str | os.PathLike, inputs: Sequence[Path]
                   ) -> tuple[dict[Path, tuple[float, float]], list[str]]:  # fmt: skip
    """Per-input focus points from a CSV with a header ``file,x,y`` (x, y in pixels of the
    original photo). ``file`` is a path (as on the command line, or from the current folder)
    or a bare file name. Returns ({input: (x, y)}, names that match no input)."""
    by_path = {os.path.normcase(os.path.abspath(p)): p for p in inputs}
    by_name: dict[str, list[Path]] = {}
    for p in inputs:
        by_name.setdefault(p.name, []).append(p)
    rows = _csv_rows(path)
    focus: dict[Path, tuple[float, float]] = {}
    unmatched: list[str] = []
    where = Path(path).name
    for line, name, x, y in rows:
        key = os.path.normcase(os.path.abspath(os.path.expanduser(name)))
        target = by_path.get(key)
        if target is None and name in by_name:
            if len(by_name[name]) > 1:
                raise BatchError(f"{where} line {line}: {name!r} names several inputs; give "
                                 "its path instead.")  # fmt: skip
            target = by_name[name][0]
        if target is None:
            unmatched.append(name)
            continue
        if target in focus:
            raise BatchError(f"{where} line {line}: {name!r} is listed twice.")
        focus[target] = (x, y)
    return focus, unmatched


def _csv_rows(path: str | os.PathLike) -> list[tuple[int, str, float, float]]:
    """(line, file, x, y) of each data row; BatchError with the line for anything wrong."""
    where = Path(path).name
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip().lower() for h in next(reader, [])]
            if not {"file", "x", "y"} <= set(header):
                raise BatchError(f"{where} must start with the header file,x,y; "
                                 f"got {','.join(header) or 'an empty file'}.")  # fmt: skip
            col = {name: header.index(name) for name in ("file", "x", "y")}
            rows = []
            for line, row in enumerate(reader, start=2):
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) <= max(col.values()):
                    raise BatchError(f"{where} line {line}: expected file,x,y.")
                rows.append((line, row[col["file"]].strip(),
                             *_coordinates(row[col["x"]], row[col["y"]], where, line)))  # fmt: skip
    except OSError as exc:
        raise BatchError(f"could not read the focus CSV {str(path)!r}: "
                         f"{exc.strerror or exc}.") from None  # fmt: skip
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchError(f"{where} is not a readable CSV file ({exc}).") from None
    return rows


def _coordinates(x: str, y: str, where: str, line: int) -> tuple[float, float]:
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        raise BatchError(f"{where} line {line}: x and y must be numbers (pixels); "
                         f"got {x.strip()!r}, {y.strip()!r}.") from None  # fmt: skip
    if not (math.isfinite(fx) and math.isfinite(fy)):
        raise BatchError(f"{where} line {line}: x and y must be finite numbers.")
    return fx, fy


@dataclass
class BatchSummary:
    """What a batch did: counts, time, and the depth source of each rendered photo."""

    rendered: int = 0
    failed: int = 0
    seconds: float = 0.0
    depth_sources: Counter = field(default_factory=Counter)

    def line(self, method: str, folder: Path) -> str:
        """One line for people, e.g. "rendered 3 of 4 photos with depth-lens in 2.41 s ..."."""
        total = self.rendered + self.failed
        each = f" ({self.seconds / total:.2f} s each)" if total else ""
        text = (f"rendered {self.rendered} of {total} photos with {method} in "
                f"{self.seconds:.2f} s{each} to {folder}; failed {self.failed}")  # fmt: skip
        if self.depth_sources:
            text += "; depth: " + ", ".join(f"{k} {v}" for k, v in
                                            sorted(self.depth_sources.items()))  # fmt: skip
        return text


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (BokehError, OSError, ValueError)):
        return text
    return f"unexpected {type(exc).__name__}: {text}"


def run_batch(jobs: Sequence[Any], render_one: Callable[[Any], dict], *, name: Callable[[Any], str],
              quiet: bool = False, err: TextIO | None = None) -> BatchSummary:  # fmt: skip
    """Call ``render_one(job)`` for each job (it returns the result's info) with a progress bar
    on ``err`` (stderr); a failing job prints ``error: NAME: message`` and the rest still run.
    KeyboardInterrupt stops the batch."""
    err = err or sys.stderr
    summary = BatchSummary()
    start = time.perf_counter()
    bar = tqdm(jobs, desc="render", unit="photo", file=err, disable=quiet, dynamic_ncols=True)
    for job in bar:
        try:
            info = render_one(job)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one photo's problem, whatever it is, must not stop the rest
            summary.failed += 1
            tqdm.write(f"error: {name(job)}: {_one_line(exc)}", file=err)
            continue
        summary.rendered += 1
        if info.get("depth_source"):
            summary.depth_sources[info["depth_source"]] += 1
    bar.close()
    summary.seconds = time.perf_counter() - start
    return summary
