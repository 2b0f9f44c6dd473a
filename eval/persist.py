"""Keep evaluation runs and reviews beyond this machine: a mirror in a Hugging Face dataset repo
(or a folder), pushed in the background and read back on start.

A Space's disk is ephemeral: without a mirror every restart loses the leaderboard's runs and the
reviewers' notes. ``BOKEH_RESULTS_REPO`` (read by :func:`bokeh.config.results_repo`) names the
mirror: a Hub dataset repo ``owner/name`` (created private on the first push if missing; the
token is ``HF_TOKEN``, a Space Secret, else huggingface_hub's own login), or a folder
(``/abs/path`` or ``file:///abs/path``) for self-hosting and tests. Unset: nothing is pushed.

The mirror's layout is in :mod:`eval.mirrors`.

When (the hooks live in :mod:`eval.actions`; the app calls :func:`restore` once before launch):

- :func:`restore`: adds the runs that are missing here (a run folder that exists here, running
  or finished, is never touched), each moved into ``runs/`` in one rename once all of its files
  are downloaded, newest first; merges the notes (:meth:`eval.review.ReviewStore.merge`: notes
  saved here before the restore are kept, restoring twice adds nothing); then pushes what this
  machine has and the mirror lacks. Errors are logged and shown by :func:`status`; the app
  starts anyway.
- :func:`push_run` when an evaluation ends (complete, cancelled or failed), and every
  :data:`PROGRESS_PUSH_EVERY_S` while it runs.
- :func:`push_reviews` after a note is saved: the mirror's notes are merged in first, so two
  deployments sharing a mirror do not erase each other's notes.

Pushes run in one background thread: requests are coalesced (one per run and one for the
notes; a request while the same one waits adds nothing, the push reads the newest state), each
push sends only the files whose content changed since the last successful push (recorded in
``<results>/.persist/manifest.json``), and the page never waits on the network. A failed push
is logged (without the token), shown by :func:`status` and retried after
:data:`RETRY_DELAYS_S`, then with the next request. Pushes start at least
:data:`MIN_PUSH_INTERVAL_S` apart (the Hub allows about 128 commits an hour per repo), so a
burst of saved notes becomes one commit. :func:`flush` sends what is queued at once and waits
for it (tests, shutdown).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from bokeh import config
from bokeh.errors import BokehError
from eval.mirrors import (
    REVIEWS_FILE,
    RUN_ID,
    RUN_PATH,
    Mirror,
    mirror_for,
    reviews_from_jsonl,
    reviews_to_jsonl,
    run_files,
    sha,
    sig_of_file,
)
from eval.review import ReviewStore
from eval.store import atomic_write

log = logging.getLogger("bokeh.persist")

STATE_DIR = ".persist"
PROGRESS_PUSH_EVERY_S = 600.0
RETRY_DELAYS_S = (30.0, 120.0, 600.0)
MIN_PUSH_INTERVAL_S = 30.0
UNCONFIGURED = "Results are kept on this machine only (set BOKEH_RESULTS_REPO to keep them)."

_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{8,}")
# ----------------------------------------------------------------------------- helpers


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


# ----------------------------------------------------------------------------- the worker


class Persister:
    """Mirrors one results directory (see the module docstring). Thread-safe; all network
    work happens in one daemon thread started on the first request.

    Args:
        mirror: where to push, or None (nothing is pushed; :meth:`status` says so).
        root: the results directory (``runs/``, ``reviews.sqlite``).
        push_images: also push the output PNGs.
        retry_delays: seconds before each retry of a failed job; after the last one it waits
            for the next request.
        min_interval: seconds between the end of a push and the start of the next one (the
            Hub allows about 128 commits an hour per repo; requests meanwhile are coalesced).
        problem: a configuration error to show instead of the status (the mirror is None).
    """

    def __init__(
        self,
        mirror: Mirror | None,
        root: str | os.PathLike,
        *,
        push_images: bool = True,
        retry_delays: Sequence[float] = RETRY_DELAYS_S,
        min_interval: float = MIN_PUSH_INTERVAL_S,
        problem: str | None = None,
    ) -> None:
        self.mirror = mirror
        self.root = Path(root).expanduser()
        self.push_images = push_images
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self.problem = problem
        self.min_interval = float(min_interval)
        self._next_start = 0.0  # monotonic time before which no push starts
        self._hurry = 0  # flush() calls waiting
        self._cond = threading.Condition()
        self._pending: dict[str, None] = {}  # ordered set of job keys
        self._failed: dict[str, float | None] = {}  # key -> monotonic retry time (None: wait)
        self._attempts: dict[str, int] = {}
        self._errors: dict[str, tuple[datetime, str]] = {}
        self._busy: str | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._restores = 0  # finished restore jobs
        self.last_push: datetime | None = None
        self.restored_runs: list[str] = []

    def __repr__(self) -> str:
        return f"Persister({self.mirror!r}, {str(self.root)!r})"

    @property
    def enabled(self) -> bool:
        return self.mirror is not None

    # -- requests

    def restore(self, *, timeout: float | None = None) -> bool:
        """Queue a restore and wait up to ``timeout`` seconds (None: until done) for it; True
        when it finished (whether it worked: see :meth:`status`). Never raises for network
        errors; on timeout it goes on in the background."""
        if not self.enabled:
            return True
        with self._cond:
            seen = self._restores
            self._submit("restore")
            return self._cond.wait_for(lambda: self._restores > seen or self._closed, timeout)

    def push_run(self, run_id: str) -> None:
        """Queue a push of ``runs/<run_id>`` (returns at once)."""
        if self.enabled and isinstance(run_id, str) and RUN_ID.fullmatch(run_id):
            with self._cond:
                self._submit(f"run:{run_id}")

    def push_reviews(self) -> None:
        """Queue a push of the notes (returns at once)."""
        if self.enabled:
            with self._cond:
                self._submit("reviews")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or in flight; True when that happened within
        ``timeout`` and no job is left failed."""
        if not self.enabled:
            return True
        with self._cond:
            self._hurry += 1  # queued jobs go now, without waiting out min_interval
            self._cond.notify_all()
            try:
                idle = self._cond.wait_for(
                    lambda: self._closed or (not self._pending and self._busy is None), timeout
                )
            finally:
                self._hurry -= 1
            return idle and not self._failed

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the worker after its current job (queued jobs are dropped)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _submit(self, key: str) -> None:  # holds self._cond
        if self._closed:
            return
        self._pending[key] = None
        for failed in self._failed:  # a new request also retries what failed before
            self._pending[failed] = None
        self._failed.clear()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="bokeh-persist", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    # -- status

    def status(self) -> str:
        """One sentence for the page: where results are kept, the last push or the last
        error (never the token)."""
        if self.problem:
            return self.problem
        if self.mirror is None:
            return UNCONFIGURED
        where = self.mirror.describe()
        with self._cond:
            errors = dict(self._errors)
            restoring = self._busy == "restore" or "restore" in self._pending
            last = self.last_push
        if errors:
            key, (when, msg) = list(errors.items())[-1]  # the newest failure
            if key == "restore":
                return (
                    f"Reading results back from {where} failed at {when:%H:%M} UTC ({msg}); "
                    "showing the results on this machine, will retry."
                )
            return (
                f"Saving results to {where} failed at {when:%H:%M} UTC ({msg}); they are "
                "kept on this machine for now, will retry."
            )
        if restoring:
            return f"Reading results back from {where}…"
        when = f"last push {last:%H:%M} UTC" if last else "nothing pushed yet"
        return f"Results are saved to {where} ({when})."

    def _clean(self, exc: BaseException) -> str:
        """The error for logs and the page, without the token."""
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        token = getattr(self.mirror, "token", None)
        if token:
            text = text.replace(token, "***")
        text = _HF_TOKEN.sub("hf_***", text)
        return text if len(text) <= 300 else text[:297] + "..."

    # -- the thread

    def _next_job(self) -> str | None:
        """Wait for the next job (restore first); None when closed."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                for key, due in list(self._failed.items()):
                    if due is not None and due <= now:
                        del self._failed[key]
                        self._pending[key] = None
                if "restore" in self._pending or (
                    self._pending and (now >= self._next_start or self._hurry)
                ):
                    key = "restore" if "restore" in self._pending else next(iter(self._pending))
                    del self._pending[key]
                    self._busy = key
                    return key
                dues = [d for d in self._failed.values() if d is not None]
                if self._pending:  # waiting out the interval between commits
                    dues.append(self._next_start)
                self._cond.wait(max(0.0, min(dues) - now) if dues else None)

    def _work(self) -> None:
        while (key := self._next_job()) is not None:
            error = None
            try:
                if key == "restore":
                    self._restore()
                elif key == "reviews":
                    self._push_reviews()
                else:
                    self._push_run(key.removeprefix("run:"))
            except Exception as exc:  # logged and shown; the app goes on
                error = self._clean(exc)
                what = (
                    "reading results back from"
                    if key == "restore"
                    else f"pushing {key.replace('run:', 'run ')} to"
                )
                log.warning("Results mirror: %s %s failed: %s", what, self.mirror.describe(), error)
            with self._cond:
                if error is None:
                    self._errors.pop(key, None)
                    self._attempts.pop(key, None)
                else:
                    self._errors.pop(key, None)  # keep the dict in time order
                    self._errors[key] = (_utc_now(), error)
                    n = self._attempts[key] = self._attempts.get(key, 0) + 1
                    delay = self.retry_delays[n - 1] if n <= len(self.retry_delays) else None
                    self._failed[key] = None if delay is None else time.monotonic() + delay
                    self._next_start = time.monotonic() + self.min_interval  # no hammering
                if key == "restore":
                    self._restores += 1
                self._busy = None
                self._cond.notify_all()

    # -- manifest of what the mirror holds

    def _state_dir(self) -> Path:
        path = self.root / STATE_DIR
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _load_manifest(self) -> dict[str, str]:
        try:
            data = json.loads((self.root / STATE_DIR / "manifest.json").read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("mirror") != self.mirror.describe():
            return {}  # another mirror: push everything again
        files = data.get("files")
        return dict(files) if isinstance(files, dict) else {}

    def _save_manifest(self, files: dict[str, str]) -> None:
        text = json.dumps({"mirror": self.mirror.describe(), "files": files}, indent=0)
        atomic_write(self._state_dir() / "manifest.json", text)

    @contextlib.contextmanager
    def _staging(self):
        """A temporary folder on the results disk (so that a rename moves a whole run)."""
        tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=self._state_dir()))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # -- jobs

    def _push_run(self, run_id: str) -> None:
        files = run_files(self.root, run_id, images=self.push_images)
        manifest = self._load_manifest()
        changed = [f for f in files if manifest.get(f[0]) != f[2]]
        if not changed:
            return
        status = "?"
        with contextlib.suppress(ValueError, AttributeError):
            status = json.loads(files[-1][1]).get("status", "?")  # run.json comes last
        self.mirror.upload(
            [(p, s) for p, s, _ in changed], f"Run {run_id} ({status}): {len(changed)} file(s)"
        )
        manifest.update({p: sig for p, _, sig in changed})
        self._save_manifest(manifest)
        self._pushed()
        log.info(
            "Results mirror: pushed %d file(s) of run %s to %s",
            len(changed),
            run_id,
            self.mirror.describe(),
        )

    def _store(self):
        return ReviewStore(self.root / "reviews.sqlite")

    def _merge_remote_reviews(self, listing: Sequence[str]) -> str | None:
        """Merge the mirror's notes into the local store; their signature (None: none)."""
        if REVIEWS_FILE not in listing:
            return None
        with self._staging() as tmp:
            self.mirror.download([REVIEWS_FILE], tmp)
            data = (tmp / REVIEWS_FILE).read_bytes()
        added = self._store().merge(reviews_from_jsonl(data))
        if added:
            log.info("Results mirror: merged %d note(s) from %s", added, self.mirror.describe())
        return sha(data)

    def _push_reviews(self, listing: Sequence[str] | None = None) -> None:
        if listing is None:
            listing = self.mirror.list_files()
        remote = self._merge_remote_reviews(listing)
        data = reviews_to_jsonl(self._store().all())
        if sha(data) == remote or (remote is None and not data):
            return
        n_notes = data.count(b"\n")
        self.mirror.upload([(REVIEWS_FILE, data)], f"Reviews: {n_notes} note(s)")
        self._pushed()
        log.info("Results mirror: pushed the notes to %s", self.mirror.describe())

    def _pushed(self) -> None:
        with self._cond:
            self.last_push = _utc_now()
            self._next_start = time.monotonic() + self.min_interval

    def _restore(self) -> None:
        listing = self.mirror.list_files()
        remote = set(listing)
        manifest = self._load_manifest()
        if any(rel not in remote for rel in manifest):  # the mirror lost files: send them again
            self._save_manifest({k: v for k, v in manifest.items() if k in remote})
        # Notes first (people's work, small): merge, and send back what only this machine had.
        self._push_reviews(listing)
        remote_runs: dict[str, set[str]] = {}
        for rel in listing:
            m = RUN_PATH.fullmatch(rel)
            if m:
                remote_runs.setdefault(m["run"], set()).add(rel)
        runs_dir = self.root / "runs"
        restored, failed = [], []
        for run_id in sorted(remote_runs, reverse=True):  # newest first
            paths = remote_runs[run_id]
            if f"runs/{run_id}/run.json" not in paths or (runs_dir / run_id).exists():
                continue  # never overwrite a run this machine has
            try:
                if self._restore_run(run_id, paths):
                    restored.append(run_id)
            except Exception as exc:  # one bad run must not keep the others away
                failed.append(f"{run_id}: {self._clean(exc)}")
        self.restored_runs += restored
        if restored:
            log.info(
                "Results mirror: restored %d run(s) from %s", len(restored), self.mirror.describe()
            )
        # Runs that only this machine has (or that changed since their last push) go up too.
        with contextlib.suppress(OSError):
            for path in sorted(runs_dir.iterdir()):
                if path.is_dir() and RUN_ID.fullmatch(path.name) and path.name not in restored:
                    self.push_run(path.name)
        if failed:
            raise BokehError(f"{len(failed)} run(s) could not be read back ({failed[0]}).")

    def _restore_run(self, run_id: str, paths: set[str]) -> bool:
        """Download one run into staging and move it into ``runs/`` whole; False when a run
        of that id appeared here meanwhile."""
        target = self.root / "runs" / run_id
        with self._staging() as tmp:
            self.mirror.download(sorted(paths), tmp)
            src = tmp / "runs" / run_id
            if not (src / "run.json").is_file():
                raise BokehError(f"the mirror's run {run_id} came back without run.json")
            manifest = self._load_manifest()
            for rel in paths:
                local = tmp / rel
                if local.is_file():
                    manifest[rel] = sig_of_file(rel, local)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                return False
            os.rename(src, target)  # the run appears whole (rename keeps mtimes)
        self._save_manifest(manifest)
        return True


# ----------------------------------------------------------------------------- the default one

_default: Persister | None = None
_default_key: tuple | None = None
_default_lock = threading.Lock()
_atexit_registered = False


def from_config() -> Persister:
    """A Persister for ``bokeh.config``'s results directory and ``BOKEH_RESULTS_REPO``."""
    spec = config.results_repo()
    try:
        root = config.results_dir()
    except OSError as exc:
        if spec is None:
            return Persister(None, ".")
        return Persister(
            None,
            ".",
            problem=(
                f"Results cannot be saved: the results folder is not writable "
                f"({exc.strerror or exc})."
            ),
        )
    if spec is None:
        return Persister(None, root)
    try:
        mirror = mirror_for(spec, token=config.hf_token())
    except BokehError as exc:
        return Persister(None, root, problem=f"{exc} Results are kept on this machine only.")
    return Persister(mirror, root, push_images=config.results_push_images())


def default() -> Persister:
    """The process's Persister, rebuilt when its configuration changes (env variables)."""
    global _default, _default_key, _atexit_registered

    key = (
        config.results_repo(),
        os.environ.get("BOKEH_RESULTS_DIR"),
        os.environ.get("BOKEH_DATA_DIR"),
        config.results_push_images(),
        config.hf_token(),
    )
    with _default_lock:
        if _default is None or key != _default_key or _default._closed:
            if _default is not None:
                _default.close(timeout=0)
            _default, _default_key = from_config(), key
            if _default.enabled and not _atexit_registered:
                atexit.register(_flush_at_exit)
                _atexit_registered = True
        return _default


def _flush_at_exit() -> None:
    if _default is not None and _default.enabled:
        _default.flush(timeout=30)


def _same_root(p: Persister, results_dir) -> bool:
    if results_dir is None or str(results_dir) == "":
        return True
    try:
        return Path(results_dir).expanduser().resolve() == p.root.resolve()
    except OSError:
        return False


def _guarded(fn, *args, **kwargs):
    """Run a hook; a mirror problem must never break the page that called it."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        log.warning(
            "Results mirror: %s failed: %s", getattr(fn, "__name__", fn), type(exc).__name__
        )
        return None


def enabled() -> bool:
    """Whether results are mirrored (``BOKEH_RESULTS_REPO`` set and valid)."""
    return bool(_guarded(lambda: default().enabled))


def restore(*, timeout: float | None = None) -> bool:
    """Read the mirror back (see the module docstring): call once when the app starts, before
    launching it. Waits up to ``timeout`` seconds (None: until done), then goes on in the
    background. Never raises for network errors; True when the restore finished."""
    return bool(_guarded(lambda: default().restore(timeout=timeout)))


def push_run(run_id: str, *, results_dir=None) -> None:
    """Queue a push of a run (no-op when unconfigured or when ``results_dir`` is not the
    configured results directory)."""

    def go() -> None:
        p = default()
        if _same_root(p, results_dir):
            p.push_run(run_id)

    _guarded(go)


def push_reviews(*, results_dir=None) -> None:
    """Queue a push of the notes (same rules as :func:`push_run`)."""

    def go() -> None:
        p = default()
        if _same_root(p, results_dir):
            p.push_reviews()

    _guarded(go)


def flush(timeout: float | None = None) -> bool:
    """Wait for queued pushes (tests, shutdown); True when all were done and none failed."""
    return bool(_guarded(lambda: default().flush(timeout)))


def status() -> str:
    """One sentence for the page on where results are kept (see :meth:`Persister.status`)."""
    return _guarded(lambda: default().status()) or UNCONFIGURED
