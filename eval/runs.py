"""Evaluation runs: every method on every image of a dataset, scored, saved and resumable.

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
host: no heartbeat for :data:`STALE_AFTER_S`) is reported as ``incomplete``. Cancelled, failed
and incomplete runs resume with ``resume=run_id``: same dataset, split, images, methods and
settings (read from run.json), skipping every (method, id) already in rows.jsonl; a last line
half-written by a killed process is ignored and cut off before appending. The start's
provenance stays at the top of run.json; each resume adds ``{"at", code, device, ...}`` to
``resumed``.

Order: image by image, every method on each image, so a stopped run covers all methods on the
same images. A method that raises on an image (or an image pair that cannot be read) gets a row
with ``error`` set and no scores, and the run goes on (a resumed run does not retry it). A
method that needs weights none of the sources holds is refused before the run starts
(:func:`method_availability`).

Oracle depth: on datasets that carry true depth (synth), every ``kind == "depth"`` method also
runs with ``depth=item.depth`` (the same pipeline and settings) as the method
``"<name> (oracle depth)"``: an upper bound that separates depth errors from rendering errors.
On real photos (vabm, pairs) depth methods run once per depth source instead ("(dataset
depth)", "(classical)", ...), and items pass their pair's f-numbers (:mod:`eval.variants`);
each row records where its focus point came from (``focus_source``).

Timing: ``seconds`` is the wall time of the pipeline call alone (not scoring or saving). The
depth pipelines' small depth cache is cleared before each call so that a method never reuses
the depth another method estimated on the same image; the first call of a method also includes
loading its network (see ``seconds_median`` in the summary).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import errno
import io
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bokeh.errors import BokehError

FORMAT_VERSION = 1
ORACLE_SUFFIX = " (oracle depth)"
STALE_AFTER_S = 3600.0  # no heartbeat for this long (other host) => incomplete
HEARTBEAT_EVERY_S = 5.0
LOCK_NAME = ".eval.lock"
RESUMABLE = ("cancelled", "failed", "incomplete")

ROW_COLUMNS = (
    "run_id", "dataset", "split", "id", "method", "base_method", "oracle", "psnr", "ssim",
    "ssim_gauss", "psnr_em", "seconds", "output", "input_path", "gt_path", "depth_source", "focus", "error",
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
    from bokeh import config

    try:
        return Path(config.results_dir())
    except OSError as exc:
        raise _write_error(Path(exc.filename or "the results directory"), exc) from None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=_dt.timezone.utc).timestamp()
    except ValueError:
        return None


def new_run_id() -> str:
    """A fresh run id that sorts by start time (UTC, milliseconds) plus 6 random hex digits."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def oracle_label(method: str) -> str:
    """The label of ``method`` run on true depth."""
    return method + ORACLE_SUFFIX


def split_label(label: str) -> tuple[str, bool]:
    """``"depth-lens (oracle depth)"`` -> ``("depth-lens", True)``; other depth variants
    (``"depth-lens (classical)"``, see :mod:`eval.variants`) -> ``("depth-lens", False)``."""
    from eval.variants import is_oracle, parse_label

    return parse_label(label)[0], is_oracle(label)


def _slug(text: str) -> str:
    """A file-system-safe name: runs of other characters become ``_``."""
    out = "".join(c if c.isalnum() or c in "-." else "_" for c in text)
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_.") or "_"


def _write_error(path: Path, exc: OSError) -> ResultsWriteError:
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    hint = " Set BOKEH_RESULTS_DIR (or --results) to a writable folder."
    if exc.errno == errno.ENOSPC:
        hint = " Free some space or set BOKEH_RESULTS_DIR (or --results) to another disk."
    return ResultsWriteError(f"Cannot write results to {path}: {reason}.{hint}")


def _atomic_write(path: Path, text: str) -> None:
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


def _write_json(path: Path, data: dict) -> None:
    _atomic_write(path, json.dumps(data, indent=1, default=str) + "\n")


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _proc_start(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return stat[stat.rindex(")") + 2 :].split()[19]
    except (ValueError, IndexError):
        return None


def _pid_alive(pid: Any, start: Any = None) -> bool:
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
        now = _proc_start(pid)
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
        return "running" if _pid_alive(meta.get("pid"), meta.get("pid_start")) else "incomplete"
    beat = _parse_time(meta.get("heartbeat"))
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

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, run_id: str | None = None) -> EvaluationLock:
        """Take the lock or raise :class:`EvaluationBusyError`; a results directory that cannot
        be written raises :class:`ResultsWriteError`."""
        import fcntl

        if self._fd is not None:
            raise RuntimeError("this EvaluationLock is already held")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _write_error(self.dir, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise EvaluationBusyError(_busy_message(self.path)) from None
            raise _write_error(self.dir, exc) from None
        self._fd = fd
        self.set_info(run_id=run_id)
        return self

    def set_info(self, *, run_id: str | None) -> None:
        """Record which run holds the lock (best effort)."""
        if self._fd is None:
            return
        text = json.dumps({"run_id": run_id, "pid": os.getpid(),
                           "pid_start": _proc_start(os.getpid()), "started_at": _now()})
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        import fcntl

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
    if info.get("pid") and _pid_alive(info["pid"], info.get("pid_start")):
        return info
    return None


# --------------------------------------------------------------------------- provenance


def _git_commit() -> dict[str, Any]:
    from bokeh.config import REPO_DIR

    out: dict[str, Any] = {}
    try:
        res = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=False)
        if res.returncode == 0:
            out["git_commit"] = res.stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(REPO_DIR), "status", "--porcelain"],
                capture_output=True, text=True, timeout=10, check=False)
            if dirty.returncode == 0:
                out["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _environment() -> dict[str, Any]:
    import torch

    import bokeh

    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = f"cpu ({torch.get_num_threads()} torch threads)"
    return {
        "code": {"bokeh": bokeh.__version__, **_git_commit()},
        "device": device,
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def _weights_info(method: str, oracle: bool, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Which weights a method uses, with checksums when they resolve (never downloads)."""
    from bokeh.registry import get_method

    if oracle:
        return {"summary": "true depth (no weights)"}
    spec = get_method(method)
    if not spec.networks:
        return {"summary": "none"}
    from bokeh.weights import resolve, weights_status

    if spec.kind == "depth":
        from bokeh.depth import resolve_source

        source = resolve_source(settings.get("depth_source", "auto"))
        if source == "classical":
            return {"summary": "classical depth (no weights)"}
        if source == "anything":
            return _depth_anything_info()
        if source == "metric":
            from bokeh.depth.metric import resolve

            try:
                return {"summary": f"metric Depth Anything: {resolve(download=False).description}"}
            except BokehError as exc:
                return {"summary": f"metric Depth Anything: not resolved yet ({exc})"}
    networks: dict[str, Any] = {}
    parts = []
    for net in spec.networks:
        status = weights_status(net)
        entry: dict[str, Any] = {"status": status}
        if status in ("weights-dir", "bundled", "hub (cached)"):
            try:
                found = resolve(net)
                entry.update(source=found.source, description=found.description,
                             sha256=found.sha256, path=str(found.path),
                             provenance=found.provenance)
                parts.append(f"{net}: {found.source} sha256 {found.sha256[:12]}")
            except (BokehError, OSError) as exc:
                entry["error"] = str(exc)
                parts.append(f"{net}: {status} (unresolved)")
        else:
            parts.append(f"{net}: {status}")
        networks[net] = entry
    return {"summary": "; ".join(parts), "networks": networks}


def _depth_anything_info() -> dict[str, Any]:
    from bokeh.weights import file_sha256, resolve_depth_anything

    try:
        snap = resolve_depth_anything(download=False)
    except BokehError as exc:
        return {"summary": f"Depth Anything: not resolved yet ({exc})"}
    sha = file_sha256(snap.folder / "model.safetensors")
    return {"summary": f"depth-anything: {snap.source} sha256 {sha[:12]}",
            "networks": {"depth-anything": {"source": snap.source, "sha256": sha,
                                            "description": snap.description,
                                            "commit": snap.commit, "path": str(snap.folder)}}}


def method_availability(name: str) -> tuple[bool, str]:
    """Whether ``name`` can run here without training anything: ``(True, "")``, or
    ``(False, reason)`` for a method that needs weights none of the sources holds. Cheap; never
    downloads (weights on the Hub that are not cached yet count as available)."""
    from bokeh.registry import get_method
    from bokeh.weights import weights_status

    spec = get_method(name)
    if not spec.weights_required:
        return True, ""
    missing = []
    for net in spec.networks:
        status = weights_status(net)
        if status == "no weights" or "missing" in status:
            missing.append(f"{net} ({status})")
    if not missing:
        return True, ""
    return False, (f"{name} needs trained weights: {', '.join(missing)}; train them, or set "
                   "BOKEH_WEIGHTS_DIR or BOKEH_HUB_REPO to where they are")


def _clear_depth_cache() -> None:
    """Empty the depth pipelines' per-process depth cache (fair timing between methods)."""
    mod = sys.modules.get("bokeh.pipelines.depth_blur")
    if mod is not None:
        mod._DEPTH_CACHE.clear()


# --------------------------------------------------------------------------- rows


def _read_rows(path: Path) -> list[dict]:
    """Rows of a rows.jsonl; a truncated last line (killed writer) is ignored, a bad line in
    the middle is skipped with a warning."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    rows = []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            if k < len(lines) - 1:
                warnings.warn(f"{path}: skipping unreadable line {k + 1}", stacklevel=2)
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _repair_rows(path: Path) -> None:
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
    import pandas as pd

    rows = _read_rows(Path(run_dir) / "rows.jsonl")
    df = pd.DataFrame(rows)
    for col in ROW_COLUMNS:
        if col not in df.columns:
            df[col] = pd.Series(dtype="float64" if col in ("psnr", "ssim", "ssim_gauss",
                                                           "psnr_em", "seconds") else "object")
    if len(df):
        df = df.drop_duplicates(subset=["method", "id"], keep="last").reset_index(drop=True)
    for col in ("output", "error", "depth_source", "input_path", "gt_path"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)  # None, never NaN
    extra = [c for c in df.columns if c not in ROW_COLUMNS]
    return df[list(ROW_COLUMNS) + extra]


def summarize(rows, meta: Mapping[str, Any] | None = None):
    """One row per method from a rows DataFrame (:func:`load_rows`).

    Columns: method, base_method, oracle, dataset, split, n (scored images), n_images (images
    in the run), n_errors, then for each metric in ``eval.metrics.METRICS`` its mean and
    ``<metric>_std`` (sample standard deviation; NaN for n < 2), seconds (mean),
    seconds_std, seconds_median, complete (every image of the run scored), run_id, weights,
    focus (where the focus points came from).
    Methods are listed in the run's order.
    """
    import pandas as pd

    from eval.metrics import METRICS

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
            "method": label, "base_method": base, "oracle": oracle,
            "dataset": meta.get("dataset", sub["dataset"].iloc[0] if len(sub) else None),
            "split": meta.get("split", sub["split"].iloc[0] if len(sub) else None),
            "n": int(len(ok)), "n_images": n_images or int(len(sub)), "n_errors": int(err.sum()),
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
    cols += ["seconds", "seconds_std", "seconds_median", "complete", "run_id", "weights",
             "focus"]
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
    meta = _read_json(Path(run_dir) / "run.json") or {}
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

    @property
    def label(self) -> str:
        """One line for a dropdown."""
        return (f"{self.run_id} · {self.dataset}/{self.split} · {len(self.methods)} methods · "
                f"{self.n_images} images · {self.status}"
                + ("" if self.status == "complete" else f" ({self.done}/{self.total})"))


def _count_rows(path: Path) -> int:
    return len({(r.get("method"), r.get("id")) for r in _read_rows(path)})


def _run_info(path: Path) -> RunInfo | None:
    meta = _read_json(path / "run.json")
    if meta is None or not meta.get("run_id"):
        return None
    labels = tuple(meta.get("labels") or ())
    n = int(meta.get("n_selected") or 0)
    return RunInfo(
        run_id=str(meta["run_id"]), path=path, status=effective_status(meta),
        dataset=str(meta.get("dataset", "")), split=str(meta.get("split", "")), methods=labels,
        n_images=n, done=_count_rows(path / "rows.jsonl"), total=n * len(labels),
        started_at=meta.get("started_at"), ended_at=meta.get("ended_at"), meta=meta)


def bundled_runs_dir() -> Path:
    """Reference runs shipped with the project (read-only), shown when the results directory
    is the default one (unless ``BOKEH_BUNDLED_RUNS=0``): a fresh deployment has a leaderboard
    before its first evaluation."""
    from bokeh import config

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


# --------------------------------------------------------------------------- the run itself


def _as_list(methods: Sequence[str] | str | None) -> list[str] | None:
    if methods is None:
        return None
    if isinstance(methods, str):
        methods = methods.split(",")
    return list(dict.fromkeys(m.strip() for m in methods if m and m.strip()))


def _check_settings(methods: list[str], settings: Mapping[str, Mapping] | None) -> dict:
    from bokeh.params import validate_settings
    from bokeh.registry import get_method

    settings = {k: dict(v or {}) for k, v in (settings or {}).items()}
    extra = sorted(set(settings) - set(methods))
    if extra:
        raise BokehError(
            f"Settings were given for {', '.join(extra)}, which this run does not evaluate; "
            "settings are keyed by method name.")
    for m, s in settings.items():
        spec = get_method(m)
        validate_settings(spec.params, {**spec.defaults, **s}, m)  # raises a clear BokehError
    return settings


def _labels(methods: list[str], data) -> list[str]:
    from bokeh.registry import get_method
    from eval.variants import labels_for

    return [lb for m in methods for lb in labels_for(m, kind=get_method(m).kind,
                                                     dataset=data.name, has_depth=data.has_depth)]


@dataclass
class _Unit:
    label: str
    method: str
    oracle: bool
    depth: str | None = None  # None, "item" (oracle or dataset depth) or an estimator


def _unit(label: str) -> _Unit:
    from eval.variants import is_oracle, parse_label

    method, depth = parse_label(label)
    return _Unit(label, method, is_oracle(label), depth)


@dataclass
class _Unreadable:
    """Stands in for an item whose files could not be read."""

    id: str
    error: str
    input_path: str = ""
    gt_path: str = ""
    focus: tuple[float, float] = (float("nan"), float("nan"))


def _load_item(data, k: int, item_id: str):
    """The k-th item, or an :class:`_Unreadable` saying why its files cannot be read."""
    try:
        return data[k]
    except (BokehError, OSError) as exc:
        return _Unreadable(item_id, f"could not read image {item_id}: {exc}")


def _error_fields(message: str) -> dict[str, Any]:
    from eval.metrics import METRICS

    return {**{k: None for k in METRICS}, "seconds": None, "depth_source": None,
            "error": message}


def _score_unit(unit: _Unit, item, settings: Mapping[str, Any]):
    """Run one method on one item: (uint8 output or None, row fields)."""
    from bokeh.imaging import from_uint8, to_uint8
    from bokeh.registry import load_method
    from eval.metrics import METRICS, score_pair

    fields: dict[str, Any] = {k: None for k in METRICS}
    fields.update(seconds=None, depth_source=None, error=None)
    try:
        if unit.depth == "item" and item.depth is None:
            raise BokehError(f"image {item.id} carries no depth")
        from bokeh.registry import get_method
        from eval.variants import item_settings

        pipe = load_method(unit.method)
        image = from_uint8(item.input)
        _clear_depth_cache()
        extra = {"depth": item.depth} if unit.depth == "item" else {}
        settings = {**item_settings(get_method(unit.method).params, item, settings), **settings}
        if unit.depth not in (None, "item"):
            settings["depth_source"] = unit.depth
        start = time.perf_counter()
        result = pipe(image, focus=item.focus, **extra, **settings)
        fields["seconds"] = time.perf_counter() - start
        fields["depth_source"] = (result.info or {}).get("depth_source")
        pred = to_uint8(result.image)
        fields.update(score_pair(pred, item.gt))
        return pred, fields
    except Exception as exc:  # keep going: the error is recorded in the row
        fields["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        for k in METRICS:
            fields[k] = None
        return None, fields


def reproduce_output(run_dir: str | os.PathLike, label: str, item_id: str,
                     dest: str | os.PathLike) -> dict[str, Any]:
    """Run a run's method again on one of its images and save the output PNG at ``dest``.

    For runs whose output images are not on this machine (the reference run shipped in
    ``assets/results`` keeps scores only): the same method (``label``, oracle variants
    included), settings and image, from this machine's copy of the dataset. Returns the new
    row fields (metrics, seconds, depth source): equal scores to the run's row mean the output
    is reproduced, not merely recomputed. Raises BokehError when the image, dataset or method
    is not available here.
    """
    from bokeh.imaging import save_png
    from eval.datasets import open_dataset

    run_dir = Path(run_dir)
    meta = _read_json(run_dir / "run.json") or {}
    root = meta.get("dataset_root") or None
    if root and not Path(root).is_dir():
        root = None  # recorded on another machine: this machine's default copy
    data = open_dataset(meta.get("dataset", "synth"), meta.get("split"), root=root)
    item = data.select([str(item_id)])[0]
    unit = _unit(label)
    settings = (meta.get("settings") or {}).get(unit.method, {})
    pred, fields = _score_unit(unit, item, settings)
    if pred is None:
        raise BokehError(f"Could not recompute {label} on image {item_id}: {fields['error']}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_png(pred, dest)
    return fields


def _finalise(run_dir: Path, meta: dict) -> None:
    rows = load_rows(run_dir)
    order = {label: k for k, label in enumerate(meta.get("labels") or [])}
    ids = {i: k for k, i in enumerate(meta.get("ids") or [])}
    if len(rows):
        rows = rows.assign(_m=rows["method"].map(order).fillna(len(order)),
                           _i=rows["id"].map(ids).fillna(len(ids)))
        rows = rows.sort_values(["_m", "_i"], kind="stable").drop(columns=["_m", "_i"])
    for name, frame in (("per_image.csv", rows), ("summary.csv", summarize(rows, meta))):
        buf = io.StringIO()
        frame.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
        _atomic_write(run_dir / name, buf.getvalue())


def iter_evaluate(
    methods: Sequence[str] | str | None = None,
    dataset: str | None = None,
    split: str | None = None,
    *,
    limit: int | None = None,
    results_dir: str | os.PathLike | None = None,
    resume: str | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    root: str | os.PathLike | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """Evaluate ``methods`` on ``dataset``/``split``, yielding progress events.

    Args:
        methods: registered method names (list or ``"a,b"``); oracle-depth variants are added
            on datasets with true depth.
        dataset: ``"synth"`` or ``"ebb"`` (see :mod:`eval.datasets`); ``split``: its default
            when None. ``root``: the dataset's folder (default: see :func:`open_dataset`).
        limit: evaluate only the first ``limit`` images of the split.
        results_dir: where runs go (:func:`results_root`).
        resume: a run id to continue; its dataset, split, images, methods and settings come
            from its run.json (arguments given must agree with it or be None).
        settings: per-method settings, ``{"depth-lens": {"fnumber": 2.8}}`` (validated first;
            the oracle variant uses its method's settings).
        should_stop: checked before each (image, method); True cancels the run (status
            ``cancelled``, rows kept, resumable).

    Yields:
        dicts with ``event`` ("start", "row", "end"), ``run_id``, ``run_dir``, ``done``,
        ``total`` (both count (method, image) pairs, resumed ones included); "row" events add
        ``method``, ``id``, ``row`` (the row written) and ``error`` (None or the message);
        "end" adds ``status``.

    Raises (at the first ``next()``): :class:`~bokeh.errors.UnknownMethodError`,
    :class:`~bokeh.errors.DatasetNotFoundError`, :class:`EvaluationBusyError` (another
    evaluation runs), :class:`ResultsWriteError` (read-only or full results directory),
    :class:`~bokeh.errors.BokehError` (bad settings, not resumable run, unscorable dataset).
    Closing the generator early or KeyboardInterrupt marks the run ``cancelled``; any other
    exception marks it ``failed`` and propagates.
    """
    from bokeh.imaging import save_png
    from bokeh.registry import get_method
    from eval.datasets import SCORED_DATASETS, open_dataset

    rdir = results_root(results_dir)
    methods_l = _as_list(methods)
    stored: dict[str, Any] | None = None
    if resume:
        info = get_run(resume, rdir)
        stored = dict(info.meta)
        for name, given, have in (("dataset", dataset, stored.get("dataset")),
                                  ("split", split, stored.get("split")),
                                  ("methods", methods_l, stored.get("methods")),
                                  ("limit", limit, stored.get("limit"))):
            if given not in (None, []) and given != have:
                raise BokehError(
                    f"Run {resume} was started with {name} {have!r}; a resumed run keeps its "
                    f"settings (got {given!r}). Start a new run instead.")
        if settings and dict(settings) != stored.get("settings"):
            raise BokehError(f"Run {resume} keeps the settings it was started with.")
        methods_l = list(stored.get("methods") or [])
        dataset, split, limit = stored.get("dataset"), stored.get("split"), stored.get("limit")
        settings = stored.get("settings") or {}
        root = stored.get("dataset_root") or root
    if not methods_l:
        raise BokehError("Choose at least one method to evaluate.")
    for m in methods_l:
        get_method(m)  # unknown names fail here, with the registry's message
    blocked = [why for ok, why in map(method_availability, methods_l) if not ok]
    if blocked:
        from bokeh.errors import WeightsNotFoundError

        raise WeightsNotFoundError("Cannot evaluate: " + "; ".join(blocked) + ".")
    dataset = dataset or "synth"
    if dataset not in SCORED_DATASETS:
        raise BokehError(
            f"Dataset {dataset!r} cannot be scored (it has no bokeh ground truth); "
            f"evaluate on {' or '.join(SCORED_DATASETS)}.")
    if limit is not None and (isinstance(limit, bool) or int(limit) < 1):
        raise BokehError(f"limit must be a positive number of images, got {limit!r}.")
    settings_d = _check_settings(methods_l, settings)
    data = open_dataset(dataset, split, root=root)
    split = data.split
    data = data.select(stored["ids"]) if stored else data.head(limit)
    labels = _labels(methods_l, data)
    units = [_unit(lb) for lb in labels]

    lock = EvaluationLock(rdir).acquire()
    run_dir: Path | None = None
    meta: dict[str, Any] = {}
    closed = False

    def close_out(status: str) -> None:
        """Record the final status, write the CSVs, release the lock (once)."""
        nonlocal closed
        if closed:
            return
        closed = True
        try:
            if run_dir is not None and meta.get("run_id"):
                if status != "failed":
                    with contextlib.suppress(Exception):  # weights fetched during the run
                        meta["weights"] = _all_weights(units, settings_d)
                meta.update(status=status, ended_at=_now(), heartbeat=_now())
                with contextlib.suppress(OSError):
                    _finalise(run_dir, meta)
                with contextlib.suppress(OSError):
                    _write_json(run_dir / "run.json", meta)
        finally:
            lock.release()

    try:
        try:
            if stored:
                if info.status == "complete":
                    raise BokehError(f"Run {resume} is already complete; nothing to resume.")
                # We hold the lock, so a run whose file says "running" lost its process.
                run_dir = Path(info.path)
                meta = stored
                _repair_rows(run_dir / "rows.jsonl")
            else:
                runs_root = rdir / "runs"
                runs_root.mkdir(parents=True, exist_ok=True)
                run_id = new_run_id()
                run_dir = runs_root / run_id
                run_dir.mkdir()
                meta = {
                    "format_version": FORMAT_VERSION, "run_id": run_id,
                    "dataset": data.name, "split": split, "dataset_root": str(data.root or ""),
                    "dataset_info": data.provenance, "n_images": data.provenance.get("n_images"),
                    "limit": limit, "n_selected": len(data), "ids": data.ids,
                    "methods": methods_l, "labels": labels, "settings": settings_d,
                    "started_at": _now(),
                }
            env = _environment()
            if stored:  # keep the start's provenance; record each resume's beside it
                meta.setdefault("resumed", []).append({"at": _now(), **env})
                meta["host"] = env["host"]
            else:
                meta.update(env)
            meta["weights"] = _all_weights(units, settings_d)
            meta.update(status="running", pid=os.getpid(), pid_start=_proc_start(os.getpid()),
                        heartbeat=_now(), ended_at=None, error=None)
            _write_json(run_dir / "run.json", meta)
            rows_path = run_dir / "rows.jsonl"
            rows_fh = open(rows_path, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise _write_error(rdir, exc) from None
        run_id = meta["run_id"]
        lock.set_info(run_id=run_id)
        have = {(r.get("method"), str(r.get("id"))) for r in _read_rows(rows_path)}
        total = len(data) * len(units)
        done = sum(1 for i in data.ids for u in units if (u.label, i) in have)
        base = {"run_id": run_id, "run_dir": str(run_dir), "total": total}
        status = "complete"
        with rows_fh:
            yield {**base, "event": "start", "done": done, "methods": labels,
                   "resumed": bool(stored)}
            last_beat = time.monotonic()
            for k, item_id in enumerate(data.ids):
                todo = [u for u in units if (u.label, item_id) not in have]
                if not todo:
                    continue
                item = None
                for u in todo:
                    if should_stop():
                        status = "cancelled"
                        break
                    if item is None:
                        item = _load_item(data, k, item_id)
                    if isinstance(item, _Unreadable):  # an error row for every method
                        pred, fields = None, _error_fields(item.error)
                    else:
                        pred, fields = _score_unit(u, item, settings_d.get(u.method, {}))
                    out_rel = None
                    try:
                        if pred is not None:
                            out_rel = f"outputs/{_slug(u.label)}/{_slug(item.id)}.png"
                            save_png(pred, run_dir / out_rel, compress_level=3)
                        row = {
                            "run_id": run_id, "dataset": data.name, "split": split,
                            "id": item.id, "method": u.label, "base_method": u.method,
                            "oracle": u.oracle, **fields, "output": out_rel,
                            "input_path": str(item.input_path or ""),
                            "gt_path": str(item.gt_path or ""),
                            "focus": [round(float(v), 3) for v in item.focus]
                            if not isinstance(item, _Unreadable) else None,
                            "focus_source": getattr(item, "focus_source", None),
                        }
                        rows_fh.write(json.dumps(row) + "\n")
                        rows_fh.flush()
                        os.fsync(rows_fh.fileno())
                    except OSError as exc:
                        raise _write_error(run_dir, exc) from None
                    have.add((u.label, item.id))
                    done += 1
                    if time.monotonic() - last_beat >= HEARTBEAT_EVERY_S:
                        last_beat = time.monotonic()
                        meta["heartbeat"] = _now()
                        with contextlib.suppress(OSError):
                            _write_json(run_dir / "run.json", meta)
                    yield {**base, "event": "row", "done": done, "method": u.label,
                           "id": item.id, "row": row, "error": row["error"]}
                if status == "cancelled":
                    break
        close_out(status)
        yield {**base, "event": "end", "done": done, "status": status}
    except (GeneratorExit, KeyboardInterrupt):
        close_out("cancelled")
        raise
    except BaseException as exc:
        if meta and not closed:
            meta["error"] = str(exc) or type(exc).__name__
        close_out("failed")
        raise
    finally:
        close_out("failed")  # no-op when already closed


def _all_weights(units: list[_Unit], settings: Mapping[str, Mapping[str, Any]]) -> dict:
    out = {}
    for u in units:
        if u.depth == "item" and not u.oracle:
            out[u.label] = {"summary": "the dataset's depth (no weights)"}
            continue
        s = dict(settings.get(u.method, {}))
        if u.depth not in (None, "item"):
            s["depth_source"] = u.depth
        out[u.label] = _weights_info(u.method, u.oracle, s)
    return out


def evaluate(
    methods: Sequence[str] | str | None = None,
    dataset: str | None = None,
    split: str | None = None,
    **kwargs: Any,
) -> Path:
    """Run :func:`iter_evaluate` to its end; return the run folder (status in its run.json:
    ``complete``, or ``cancelled`` when ``should_stop`` fired)."""
    run_dir = None
    for event in iter_evaluate(methods, dataset, split, **kwargs):
        run_dir = event["run_dir"]
    assert run_dir is not None
    return Path(run_dir)
