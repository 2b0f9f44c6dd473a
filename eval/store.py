"""Evaluation run folders: their layout, rows, status and the one-evaluation-at-a-time lock.

Layout under the results directory (:func:`results_root`: the argument, else
``bokeh.config.results_dir()``: ``BOKEH_RESULTS_DIR`` or ``data_dir()/results``)::

    .eval.lock                    fcntl lock: one evaluation at a time (threads and processes)
    runs/<run_id>/run.json        provenance and status, rewritten atomically (tmp + os.replace)
    runs/<run_id>/rows.jsonl      one JSON line per (method, image), appended + fsynced when scored
    runs/<run_id>/outputs/<method>/<id>.png   each output, for review
    runs/<run_id>/per_image.csv   all rows          } written when the run ends (complete,
    runs/<run_id>/summary.csv     one row per method }  cancelled or failed)

``run_id`` sorts by start time: ``YYYYmmddTHHMMSSmmmZ-xxxxxx`` (UTC, milliseconds, random).

Status (``run.json["status"]``): ``running`` (with ``pid``, ``host`` and a ``heartbeat``
rewritten at most every few seconds), ``complete``, ``cancelled`` (stopped by the user or Ctrl-C;
rows kept) or ``failed`` (an unexpected error, in ``error``). A run whose file says ``running``
but whose process is gone (same host: the pid is dead or belongs to another process; other
host: no heartbeat for :data:`STALE_AFTER_S`) is reported as ``incomplete``.

Light (no torch): the app's Leaderboard and Review read runs through this module;
:mod:`eval.runs` writes them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import os
import secrets
import socket
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bokeh import config
from bokeh.errors import BokehError
from eval.metric_table import METRICS
from eval.variants import is_oracle, parse_label

FORMAT_VERSION = 1
STALE_AFTER_S = 3600.0  # no heartbeat for this long (other host) => incomplete
HEARTBEAT_EVERY_S = 5.0
LOCK_NAME = ".eval.lock"

ROW_COLUMNS = (
    "run_id", "dataset", "split", "id", "method", "base_method", "oracle", *METRICS, "seconds",
    "output", "input_path", "gt_path", "depth_source", "focus", "focus_source", "error",
)  # fmt: skip


class EvaluationBusyError(BokehError):
    """Another evaluation holds the results directory's lock."""


class ResultsWriteError(BokehError, OSError):
    """The results directory cannot be written (read-only, full, no permission)."""


# --------------------------------------------------------------------------- small helpers


def results_root(path: str | os.PathLike | None = None) -> Path:
    """Where results live: ``path``, else ``bokeh.config.results_dir()`` (``BOKEH_RESULTS_DIR``,
    else ``data_dir()/results``). A default that cannot be created raises
    :class:`ResultsWriteError`."""
    if path is not None and str(path) != "":
        return Path(path).expanduser()

    try:
        return Path(config.results_dir())
    except OSError as exc:
        raise write_error(Path(exc.filename or "the results directory"), exc) from None


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return (
            _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
            .replace(tzinfo=_dt.timezone.utc)
            .timestamp()
        )
    except ValueError:
        return None


def new_run_id() -> str:
    """A fresh run id that sorts by start time (UTC, milliseconds) plus 6 random hex digits."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def split_label(label: str) -> tuple[str, bool]:
    """``"depth-lens (oracle depth)"`` -> ``("depth-lens", True)``; other depth variants
    (``"depth-lens (classical)"``, see :mod:`eval.variants`) -> ``("depth-lens", False)``."""
    return parse_label(label)[0], is_oracle(label)


def slug(text: str) -> str:
    """A file-system-safe name: runs of other characters become ``_``."""
    out = "".join(c if c.isalnum() or c in "-." else "_" for c in text)
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_.") or "_"


def write_error(path: Path, exc: OSError) -> ResultsWriteError:
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    hint = " Set BOKEH_RESULTS_DIR (or --results) to a writable folder."
    if exc.errno == errno.ENOSPC:
        hint = " Free some space or set BOKEH_RESULTS_DIR (or --results) to another disk."
    return ResultsWriteError(f"Cannot write results to {path}: {reason}.{hint}")


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=1, default=str) + "\n")


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def proc_start(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return stat[stat.rindex(")") + 2 :].split()[19]
    except (ValueError, IndexError):
        return None


def pid_alive(pid: Any, start: Any = None) -> bool:
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if start is not None:
        now = proc_start(pid)
        if now is not None and now != str(start):
            return False  # the pid was reused by another process
    return True


def effective_status(meta: Mapping[str, Any]) -> str:
    """``run.json``'s status, with ``running`` turned into ``incomplete`` when its process is
    gone (dead or reused pid on this host; no heartbeat for STALE_AFTER_S elsewhere)."""
    status = str(meta.get("status") or "incomplete")
    if status != "running":
        return status
    if meta.get("host") == socket.gethostname():
        return "running" if pid_alive(meta.get("pid"), meta.get("pid_start")) else "incomplete"
    beat = parse_time(meta.get("heartbeat"))
    return "running" if beat is not None and time.time() - beat < STALE_AFTER_S else "incomplete"


# --------------------------------------------------------------------------- single flight


class EvaluationLock:
    """Non-blocking exclusive ``fcntl.flock`` on ``<results>/.eval.lock``.

    Every :class:`EvaluationLock` opens the file itself, so two of them conflict whether they
    live in different processes or in threads of one process. The holder writes
    ``{"run_id", "pid", "started_at"}`` into the file for the busy message; the kernel drops the
    lock when the holder's process dies, so a killed run never blocks the next one.
    """

    def __init__(self, results: str | os.PathLike | None = None):
        self.dir = results_root(results)
        self.path = self.dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, *, run_id: str | None = None) -> EvaluationLock:
        """Take the lock or raise :class:`EvaluationBusyError`; a results directory that cannot
        be written raises :class:`ResultsWriteError`."""

        if self._fd is not None:
            raise RuntimeError("this EvaluationLock is already held")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(self.dir, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise EvaluationBusyError(_busy_message(self.path)) from None
            raise write_error(self.dir, exc) from None
        self._fd = fd
        self.set_info(run_id=run_id)
        return self

    def set_info(self, *, run_id: str | None) -> None:
        """Record which run holds the lock (best effort)."""
        if self._fd is None:
            return
        text = json.dumps(
            {
                "run_id": run_id,
                "pid": os.getpid(),
                "pid_start": proc_start(os.getpid()),
                "started_at": now_utc(),
            }
        )
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:

        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> EvaluationLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:  # a dropped holder must not keep the lock
        with contextlib.suppress(Exception):
            self.release()


def _lock_info(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _busy_message(path: Path) -> str:
    info = _lock_info(path)
    if info.get("run_id"):
        detail = f" (run {info['run_id']}, started at {info.get('started_at', '?')})"
    elif info.get("started_at"):
        detail = f" (started at {info['started_at']})"
    else:
        detail = ""
    return f"An evaluation is already running{detail}; wait for it or stop it."


def running_evaluation(results: str | os.PathLike | None = None) -> dict | None:
    """``{"run_id", "pid", "started_at"}`` of the evaluation holding the lock, or ``None``.
    Read-only: never takes the lock, so it cannot make a starting run fail."""
    info = _lock_info(results_root(results) / LOCK_NAME)
    if info.get("pid") and pid_alive(info["pid"], info.get("pid_start")):
        return info
    return None


# --------------------------------------------------------------------------- rows


def parse_rows(path: Path) -> tuple[list[dict], list[int]]:
    """(rows, numbers of the lines skipped) of a rows.jsonl. A row is a JSON object with a
    non-empty text ``method`` and an ``id`` (text or whole number); any other line is skipped,
    except a truncated last line (a killed writer), which is ignored without a report."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], []
    lines = data.split(b"\n")
    rows, skipped = [], []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            if k < len(lines) - 1:
                skipped.append(k + 1)
            continue
        if _valid_row(row):
            rows.append(row)
        else:
            skipped.append(k + 1)
    return rows, skipped


def _valid_row(row: Any) -> bool:
    if not isinstance(row, dict):
        return False
    method, item = row.get("method"), row.get("id")
    return (isinstance(method, str) and bool(method.strip())
            and isinstance(item, (str, int)) and not isinstance(item, bool))  # fmt: skip


def read_rows(path: Path) -> list[dict]:
    """Rows of a rows.jsonl (:func:`parse_rows`); skipped lines are reported as a warning."""
    rows, skipped = parse_rows(path)
    if skipped:
        lines = ", ".join(map(str, skipped[:10])) + (" ..." if len(skipped) > 10 else "")
        warnings.warn(f"{path}: skipping unreadable line(s) {lines}", stacklevel=2)
    return rows


def repair_rows(path: Path) -> None:
    """Cut a half-written last line off rows.jsonl so the next append starts a fresh line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)
            fh.flush()
            os.fsync(fh.fileno())


def load_rows(run_dir: str | os.PathLike):
    """The run's per-image rows as a pandas DataFrame (columns :data:`ROW_COLUMNS` first, one
    row per (method, id); if a pair somehow appears twice the last one wins)."""
    rows = read_rows(Path(run_dir) / "rows.jsonl")
    df = pd.DataFrame(rows)
    for col in ROW_COLUMNS:
        if col not in df.columns:
            numeric = col in METRICS or col == "seconds"
            df[col] = pd.Series(dtype="float64" if numeric else "object")
    if len(df):
        df = df.drop_duplicates(subset=["method", "id"], keep="last").reset_index(drop=True)
    for col in ("output", "error", "depth_source", "input_path", "gt_path", "focus_source"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)  # None, never NaN
    extra = [c for c in df.columns if c not in ROW_COLUMNS]
    return df[list(ROW_COLUMNS) + extra]


def summarize(rows, meta: Mapping[str, Any] | None = None):
    """One row per method from a rows DataFrame (:func:`load_rows`).

    Columns: method, base_method, oracle, dataset, split, n (scored images), n_images (images
    in the run), n_errors, then for each metric in ``eval.metrics.METRICS`` its mean and
    ``<metric>_std`` (sample standard deviation; NaN for n < 2), seconds (mean),
    seconds_std, seconds_median, complete (every image of the run scored), run_id, weights,
    focus (where the focus points came from). Methods are listed in the run's order.
    """

    meta = dict(meta or {})
    labels = list(meta.get("labels") or [])
    if len(rows):
        labels += [m for m in dict.fromkeys(rows["method"]) if m not in labels]
    n_images = int(meta.get("n_selected") or 0)
    weights = meta.get("weights") or {}
    out = []
    for label in labels:
        sub = rows[rows["method"] == label] if len(rows) else rows
        err = sub["error"].notna() & (sub["error"].astype(str) != "")
        ok = sub[~err]
        base, oracle = split_label(label)
        rec: dict[str, Any] = {
            "method": label,
            "base_method": base,
            "oracle": oracle,
            "dataset": meta.get("dataset", sub["dataset"].iloc[0] if len(sub) else None),
            "split": meta.get("split", sub["split"].iloc[0] if len(sub) else None),
            "n": int(len(ok)),
            "n_images": n_images or int(len(sub)),
            "n_errors": int(err.sum()),
        }
        for key in METRICS:
            vals = pd.to_numeric(ok[key], errors="coerce") if len(ok) else pd.Series(dtype=float)
            rec[key] = float(vals.mean()) if len(vals) else float("nan")
            rec[f"{key}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        secs = pd.to_numeric(ok["seconds"], errors="coerce") if len(ok) else pd.Series(dtype=float)
        rec["seconds"] = float(secs.mean()) if len(secs) else float("nan")
        rec["seconds_std"] = float(secs.std(ddof=1)) if len(secs) > 1 else float("nan")
        rec["seconds_median"] = float(secs.median()) if len(secs) else float("nan")
        rec["complete"] = bool(rec["n"] == rec["n_images"] and rec["n"] > 0)
        rec["focus"] = _focus_summary(sub)
        rec["run_id"] = meta.get("run_id")
        rec["weights"] = (weights.get(label) or {}).get("summary", "")
        out.append(rec)
    cols = ["method", "base_method", "oracle", "dataset", "split", "n", "n_images", "n_errors"]
    for key in METRICS:
        cols += [key, f"{key}_std"]
    cols += ["seconds", "seconds_std", "seconds_median", "complete", "focus", "run_id", "weights"]
    return pd.DataFrame(out, columns=cols)


def _focus_summary(rows) -> str:
    """Where the focus points of these rows came from: "annotation", "image centre (...)",
    or counts of each; "" when the rows do not say (runs made before it was recorded)."""
    if "focus_source" not in rows or not len(rows):
        return ""
    counts = rows["focus_source"].dropna().value_counts()
    if len(counts) <= 1:
        return str(counts.index[0]) if len(counts) else ""
    return ", ".join(f"{k} ({v})" for k, v in counts.items())


def run_summary(run_dir: str | os.PathLike):
    """:func:`summarize` of a run folder, computed from rows.jsonl (works while it runs)."""
    meta = read_json(Path(run_dir) / "run.json") or {}
    return summarize(load_rows(run_dir), meta)


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class RunInfo:
    """A run folder. ``status`` is :func:`effective_status`; ``done``/``total`` count
    (method, image) pairs; ``methods`` are the evaluated labels (oracle variants included)."""

    run_id: str
    path: Path
    status: str
    dataset: str
    split: str
    methods: tuple[str, ...]
    n_images: int
    done: int
    total: int
    started_at: str | None
    ended_at: str | None
    meta: dict = field(repr=False, compare=False)
    skipped: tuple[int, ...] = ()  # rows.jsonl lines that are not valid rows (left out)

    @property
    def n_methods(self) -> int:
        """Methods evaluated (a method's depth variants and oracle rows count once)."""
        names = self.meta.get("methods") or [split_label(m)[0] for m in self.methods]
        return len(dict.fromkeys(names))

    @property
    def label(self) -> str:
        """One line for a dropdown, what the run is first (a narrow box shows the start);
        progress counted in images."""
        rows = max(len(self.methods), 1)
        images = f" ({self.done // rows}/{self.n_images} images)"
        return (
            f"{self.dataset}/{self.split} · {self.n_methods} method"
            f"{'' if self.n_methods == 1 else 's'} · {self.n_images} images · {self.status}"
            + ("" if self.status == "complete" else images)
            + f" · {self.run_id}"
        )


def _run_info(path: Path) -> RunInfo | None:
    meta = read_json(path / "run.json")
    if meta is None or not meta.get("run_id"):
        return None
    labels = tuple(meta.get("labels") or ())
    n = int(meta.get("n_selected") or 0)
    rows, skipped = parse_rows(path / "rows.jsonl")
    return RunInfo(
        run_id=str(meta["run_id"]), path=path, status=effective_status(meta),
        dataset=str(meta.get("dataset", "")), split=str(meta.get("split", "")), methods=labels,
        n_images=n, done=len({(r["method"], str(r["id"])) for r in rows}),
        total=n * len(labels), started_at=meta.get("started_at"), ended_at=meta.get("ended_at"),
        meta=meta, skipped=tuple(skipped))  # fmt: skip


def bundled_runs_dir() -> Path:
    """Reference runs shipped with the project (read-only), shown when the results directory
    is the default one (unless ``BOKEH_BUNDLED_RUNS=0``): a fresh deployment has a leaderboard
    before its first evaluation."""
    return config.ASSETS_DIR / "results" / "runs"


def _run_dirs(results: str | os.PathLike | None) -> list[Path]:
    roots = [results_root(results) / "runs"]
    default = results is None or str(results) == ""
    if default and os.environ.get("BOKEH_BUNDLED_RUNS", "1") != "0":
        roots.append(bundled_runs_dir())
    return roots


def list_runs(results: str | os.PathLike | None = None) -> list[RunInfo]:
    """Every run under the results directory (plus the bundled reference runs when it is the
    default one), newest first; folders without a readable run.json are skipped. A missing
    results directory gives an empty list."""
    folders: dict[str, Path] = {}
    for root in _run_dirs(results):
        try:
            for p in root.iterdir():
                if p.is_dir() and not p.name.startswith("."):
                    folders.setdefault(p.name, p)  # a local run shadows a bundled one
        except OSError:
            continue
    infos = [info for p in folders.values() if (info := _run_info(p)) is not None]
    return sorted(infos, key=lambda r: r.run_id, reverse=True)


def get_run(run_id: str, results: str | os.PathLike | None = None) -> RunInfo:
    """The run ``run_id`` or a BokehError listing recent ones."""
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise BokehError(f"{run_id!r} is not a run id.")
    for root in _run_dirs(results):
        info = _run_info(root / run_id)
        if info is not None:
            return info
    recent = ", ".join(r.run_id for r in list_runs(results)[:5]) or "none yet"
    raise BokehError(f"No run {run_id!r} under {results_root(results)}; recent runs: {recent}.")
