"""What a visitor of the public web app may make the server read, hold and store.

Gradio-free building blocks that ``app.py`` installs on its Blocks (see
:mod:`bokeh.webhooks`), tested on their own:

* :class:`FileGuard`: the only server files an event may name are the ones this server took
  in through its upload route or wrote itself (gradio's own record of them) and the app's
  example files. Anything else, whatever the path (missing, a folder, a text file, a ``data:``
  or ``http`` URL), gets the same one line, :data:`FILE_REFUSED`, so that nothing can be
  probed.
* :class:`BodyLimit`: an ASGI middleware that refuses request bodies over a size with 413
  before they are read in full (uploads: the upload limit; every other route: JSON only, so
  :data:`JSON_BODY_LIMIT`).
* :class:`UploadCache`: deletes this server's uploads and outputs once they are older than a
  maximum age, keeps their total size under a cap (oldest first) and deletes them all when
  the server stops.
* :func:`tune_malloc` and :class:`IdleRelease`: without them glibc keeps the freed arrays of
  every render in per-thread arenas (a server under load grew by 240 MiB over 192 renders and
  never gave it back, README, *Security*), and maps and faults in a render's large arrays
  afresh every time.

Settings (environment): ``BOKEH_MAX_UPLOAD_MB`` (one upload, default 25),
``BOKEH_UPLOAD_CACHE_MB`` (all uploads and outputs on disk, default 2048),
``BOKEH_UPLOAD_MAX_AGE_S`` (default 3600, the lifetime of a visitor's photo in the session)
and ``BOKEH_IDLE_RELEASE_S`` (default 5: idle seconds before freed memory goes back).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, MutableSet, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bokeh.errors import FileNotAvailableError

log = logging.getLogger("bokeh.webguard")

FILE_REFUSED = "File not available: upload it again."
JSON_BODY_LIMIT = 1 << 20  # 1 MiB: events carry settings and file references, never files
MULTIPART_OVERHEAD = 1 << 20  # form boundaries and headers around one uploaded file
DEFAULT_UPLOAD_MB = 25
DEFAULT_CACHE_MB = 2048
DEFAULT_MAX_AGE_S = 3600.0
DEFAULT_IDLE_RELEASE_S = 5.0


@functools.lru_cache(maxsize=1)
def _glibc():
    """glibc through ctypes, or None elsewhere (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both exist in glibc only
    except (OSError, AttributeError):
        return None
    return libc


def tune_malloc(*, arenas: int = 1, mmap_bytes: int = 128 << 20, trim_bytes: int = 1 << 30) -> bool:
    """glibc, for a server that allocates the same large arrays render after render. Call at
    start, before worker threads exist; returns whether every setting was applied.

    - ``arenas``: at most this many malloc arenas (glibc's default is 8 per core, one per
      thread that allocates, each keeping what it freed). One, so that renders on worker
      threads use the main heap: another arena maps its large blocks afresh every time.
    - ``mmap_bytes``: blocks under this size come from the heap, not from fresh mappings
      (glibc's default starts at 128 KiB), and ``trim_bytes`` of free heap is kept: a render
      reuses the previous render's pages instead of faulting in new ones.
      :class:`IdleRelease` gives free pages back once the server is idle.
    """
    libc = _glibc()
    if libc is None:
        return False
    settings = ((-8, arenas), (-3, mmap_bytes), (-1, trim_bytes))  # ARENA_MAX, MMAP_, TRIM_
    return all(libc.mallopt(option, int(value)) == 1 for option, value in settings)


def release_free_memory() -> None:
    """glibc: give the free pages of every arena back to the OS (``malloc_trim(0)``)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class IdleRelease:
    """Calls :func:`release_free_memory` once no model work has run for ``delay_s`` seconds.

    Trimming right after each run made the next run fault every page in again (the app's
    render and Compare through ``python -m eval.bench_app --overhead``). Requests that follow
    each other keep the pages; an idle server gives them back (jemalloc's dirty-page decay
    does the same, after 10 s)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self._busy = 0
        self._idle_since = 0  # counts the idle periods; a countdown releases only in its own
        self._timer: threading.Timer | None = None

    @contextlib.contextmanager
    def working(self):
        """A block of model work: no release while any is open; the countdown starts when the
        last closes."""
        with self._lock:
            self._busy += 1
            if self._timer is not None:
                self._timer.cancel()
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                if self._busy == 0:
                    self._idle_since += 1
                    self._timer = threading.Timer(self.delay_s, self._release,
                                                  (self._idle_since,))  # fmt: skip
                    self._timer.daemon = True
                    self._timer.start()

    def _release(self, period: int) -> None:
        with self._lock:  # a countdown that was cancelled as it fired: work came since
            if self._busy or period != self._idle_since:
                return
        release_free_memory()


@functools.lru_cache(maxsize=1)
def idle_release() -> IdleRelease:
    """The app's :class:`IdleRelease`, after ``BOKEH_IDLE_RELEASE_S`` seconds (default 5)."""
    return IdleRelease(env_number("BOKEH_IDLE_RELEASE_S", DEFAULT_IDLE_RELEASE_S, minimum=0.0))


def releasing_memory(fn: Callable) -> Callable:
    """``fn`` as model work of :func:`idle_release`: the memory of its temporary arrays goes
    back to the OS once the server has been idle a few seconds, so that a server under load
    does not keep growing."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with idle_release().working():
            return fn(*args, **kwargs)

    return run


def env_number(name: str, default: float, *, minimum: float) -> float:
    """The number in environment variable ``name``, at least ``minimum``; ``default`` when it
    is unset, empty, not a number or NaN."""
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        value = default
    return max(minimum, value) if value == value else default  # NaN -> default


def max_upload_bytes() -> int:
    """One upload's limit in bytes, from ``BOKEH_MAX_UPLOAD_MB`` (whole MB, default 25, at
    least 1; read as app.py reads it for gradio's own per-file limit)."""
    try:
        mb = int(os.environ.get("BOKEH_MAX_UPLOAD_MB", str(DEFAULT_UPLOAD_MB)))
    except ValueError:
        mb = DEFAULT_UPLOAD_MB
    return max(1, mb) << 20


def cache_limit_bytes() -> int:
    """Cap on this server's uploads and outputs on disk (``BOKEH_UPLOAD_CACHE_MB``)."""
    return int(env_number("BOKEH_UPLOAD_CACHE_MB", DEFAULT_CACHE_MB, minimum=1) * (1 << 20))


def cache_max_age_s() -> float:
    """Age after which uploads and outputs are deleted (``BOKEH_UPLOAD_MAX_AGE_S``)."""
    return env_number("BOKEH_UPLOAD_MAX_AGE_S", DEFAULT_MAX_AGE_S, minimum=1.0)


# ----------------------------------------------------------------------------- file guard


def _real(path: str | os.PathLike) -> str:
    return os.path.realpath(os.fspath(path))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class FileGuard:
    """Decides whether a file path sent by a client may be read.

    Args:
        known: returns the sets of paths this server created or took in (gradio's
            ``Blocks.temp_file_sets``: uploads, and files it copied into its cache); a path is
            allowed when it is, as sent, in one of them and lies inside a cache root.
        cache_roots: returns gradio's upload/cache folders (where ``known`` files live).
        public_dirs: folders whose files anyone may name (the app's examples).
    """

    def __init__(
        self,
        *,
        known: Callable[[], Iterable[MutableSet[str]]],
        cache_roots: Callable[[], Iterable[str | os.PathLike]],
        public_dirs: Sequence[str | os.PathLike] = (),
    ) -> None:
        self._known, self._cache_roots = known, cache_roots
        self._public = [_real(d) for d in public_dirs]

    def allowed(self, path: Any) -> bool:
        """True when ``path`` (as a client sent it) names a file this guard lets through."""
        if not isinstance(path, str) or not path or "\x00" in path or "://" in path:
            return False
        if path.startswith("data:"):
            return False
        try:
            real = _real(path)
        except (OSError, ValueError):
            return False
        if any(_inside(real, d) for d in self._public):
            return os.path.isfile(real)
        if not any(_inside(real, _real(root)) for root in self._cache_roots()):
            return False
        return any(path in files for files in list(self._known()))

    def check(self, value: Any, *, file_input: bool = False) -> None:
        """Raise FileNotAvailableError (message :data:`FILE_REFUSED`) unless every file
        reference in ``value`` (a client's raw input: dicts with ``path`` or ``url``, at any
        depth) is allowed. ``file_input``: ``value`` belongs to a file component (image,
        file, gallery), so a bare string or anything but file payloads is refused too."""
        if file_input and value is not None and not isinstance(value, (dict, list, tuple)):
            raise FileNotAvailableError(FILE_REFUSED)
        for payload in _file_payloads(value, file_input=file_input):
            url = payload.get("url")
            if isinstance(url, str) and url.startswith("data:"):
                raise FileNotAvailableError(FILE_REFUSED)
            if not self.allowed(payload.get("path")):
                raise FileNotAvailableError(FILE_REFUSED)


def _file_payloads(value: Any, *, file_input: bool, depth: int = 0) -> Iterable[dict]:
    """Dicts with a ``path`` or ``url`` key inside ``value`` (lists and dicts, 32 levels)."""
    if depth > 32:
        raise FileNotAvailableError(FILE_REFUSED)
    if isinstance(value, dict):
        if "path" in value or "url" in value:
            yield value
            return
        for item in value.values():
            yield from _file_payloads(item, file_input=False, depth=depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            if file_input and item is not None and not isinstance(item, (dict, list, tuple)):
                raise FileNotAvailableError(FILE_REFUSED)
            yield from _file_payloads(item, file_input=file_input, depth=depth + 1)


# ----------------------------------------------------------------------------- body limit


class BodyLimit:
    """ASGI middleware: request bodies over their limit get 413 and are not read further (a
    declared Content-Length is refused before any byte is read; a chunked body when the count
    passes the limit). Bodies on ``upload_path`` may take ``upload_limit()`` bytes, all others
    ``json_limit``. ``before_upload(scope, nbytes)``, when given, runs (in a worker thread)
    before an upload's body is read, to make room for it."""

    def __init__(
        self,
        app: Callable,
        *,
        upload_path: str = "/gradio_api/upload",
        upload_limit: Callable[[], int] = lambda: max_upload_bytes() + MULTIPART_OVERHEAD,
        json_limit: int = JSON_BODY_LIMIT,
        before_upload: Callable[[dict, int], None] | None = None,
    ) -> None:
        self.app, self.upload_path = app, upload_path
        self.upload_limit, self.json_limit = upload_limit, json_limit
        self.before_upload = before_upload

    def is_upload(self, path: str) -> bool:
        return path.rstrip("/").endswith(self.upload_path)

    async def __call__(self, scope, receive, send) -> None:
        if scope.get("type") != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = self.is_upload(scope.get("path", ""))
        limit = self.upload_limit() if upload else self.json_limit
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        if upload and self.before_upload is not None:
            await asyncio.to_thread(self.before_upload, scope, declared or limit)
        state = {"read": 0, "over": False, "started": False}

        async def limited_receive():
            message = await receive()
            if message.get("type") == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if state["over"]:
                return  # the app's answer to a cut-off body is replaced by the 413 below
            if message.get("type") == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await _too_large(send, limit)


def _content_length(scope) -> int | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send, limit: int) -> None:
    body = f"Request too large: the limit is {limit / (1 << 20):.0f} MB.".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ----------------------------------------------------------------------------- upload cache


@dataclass(frozen=True)
class CachedFile:
    path: str
    mtime: float  # seconds since the epoch
    size: int  # bytes


def plan_sweep(
    files: Sequence[CachedFile], *, now: float, max_age_s: float, max_bytes: int, incoming: int = 0
) -> list[str]:
    """Which files to delete: those older than ``max_age_s``, then the oldest others until the
    rest plus ``incoming`` bytes fit in ``max_bytes``. Pure; the order is oldest first."""
    doomed = [f for f in files if now - f.mtime > max_age_s]
    kept = sorted((f for f in files if now - f.mtime <= max_age_s), key=lambda f: f.mtime)
    total = sum(f.size for f in kept) + max(0, incoming)
    for f in kept:
        if total <= max_bytes:
            break
        doomed.append(f)
        total -= f.size
    return [f.path for f in sorted(doomed, key=lambda f: f.mtime)]


class UploadCache:
    """Keeps this server's uploads and outputs (gradio's ``temp_file_sets``) within an age and
    a total size. :meth:`sweep` runs every ``interval_s`` from :meth:`lifespan` and before
    each upload (:meth:`make_room`); :meth:`clear` deletes everything when the server stops.
    Files in ``keep()`` (gradio's cached examples) are never deleted."""

    def __init__(
        self,
        *,
        tracked: Callable[[], Iterable[MutableSet[str]]],
        keep: Callable[[], set[str]] = set,
        max_age_s: float | None = None,
        max_bytes: int | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.tracked, self.keep = tracked, keep
        self.max_age_s = cache_max_age_s() if max_age_s is None else float(max_age_s)
        self.max_bytes = cache_limit_bytes() if max_bytes is None else int(max_bytes)
        self.interval_s = interval_s or min(60.0, max(1.0, self.max_age_s / 4))
        self._lock = threading.Lock()
        self._total = 0  # bytes at the last sweep plus uploads announced since

    def _files(self) -> list[CachedFile]:
        keep, out = self.keep(), []
        for files in list(self.tracked()):
            for path in list(files):
                if path in keep:
                    continue
                try:
                    st = os.stat(path)
                except OSError:
                    files.discard(path)  # already gone
                    continue
                out.append(CachedFile(path, st.st_mtime, st.st_size))
        return out

    def sweep(self, *, incoming: int = 0, everything: bool = False) -> int:
        """Delete what :func:`plan_sweep` says (or every tracked file); return how many."""
        with self._lock:
            files = self._files()
            doomed = (
                [f.path for f in files]
                if everything
                else plan_sweep(
                    files,
                    now=time.time(),
                    max_age_s=self.max_age_s,
                    max_bytes=self.max_bytes,
                    incoming=incoming,
                )
            )
            gone = set(_delete(doomed))
            for tracked in list(self.tracked()):
                tracked.difference_update(gone)
            self._total = sum(f.size for f in files if f.path not in gone)
        if gone:
            log.info("upload cache: deleted %d file(s)", len(gone))
        return len(gone)

    def make_room(self, incoming: int) -> None:
        """Before an upload of ``incoming`` bytes: sweep when the cap would be passed."""
        with self._lock:
            self._total += max(0, incoming)
            over = self._total > self.max_bytes
        if over:
            self.sweep(incoming=incoming)
            with self._lock:
                self._total += max(0, incoming)

    def clear(self) -> int:
        return self.sweep(everything=True)

    @contextlib.asynccontextmanager
    async def lifespan(self, app=None):
        """An ASGI lifespan: sweep on a schedule while the server runs, clear when it stops."""

        async def loop():
            while True:
                await asyncio.sleep(self.interval_s)
                try:
                    await asyncio.to_thread(self.sweep)
                except Exception:  # a sweep that fails must not stop the next ones
                    log.exception("upload cache sweep failed")

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                self.clear()


def _delete(paths: Iterable[str]) -> Iterable[str]:
    """Delete each file, then its folder when that is left empty (gradio keeps one folder per
    file); yield the paths that are gone."""
    for path in paths:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("upload cache: cannot delete a file (%s)", exc.strerror or exc)
            continue
        with contextlib.suppress(OSError):
            Path(path).parent.rmdir()  # only succeeds when empty
        yield path
