"""CPU threads for work split by hand: Python worker threads, each running torch single-threaded.

Many small torch ops with torch's own intra-op threads meet at a barrier after every op; when
another process holds a core, every op waits for it (on a shared 2-core machine, up to 10x
slower). Splitting the work into independent pieces on Python threads (torch and numpy release
the GIL) with torch single-threaded meanwhile keeps both cores busy and degrades gracefully.

``torch.set_num_threads`` is process-wide, so :func:`single_threaded_torch` counts the blocks
that are open (in any thread) and restores the caller's setting when the last one closes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

T = TypeVar("T")

_lock = threading.Lock()
_open = 0
_saved = 1


def thread_budget() -> int:
    """Threads the caller asked for: ``torch.get_num_threads()``, or inside a
    :func:`single_threaded_torch` block the value it had when the first block opened."""
    with _lock:
        return _saved if _open else max(1, torch.get_num_threads())


@contextmanager
def single_threaded_torch() -> Iterator[int]:
    """Run torch single-threaded inside the block; yields the thread budget from before.

    Nested and concurrent blocks are counted: the setting is restored when the last closes.
    """
    global _open, _saved
    with _lock:
        if _open == 0:
            _saved = max(1, torch.get_num_threads())
            if _saved > 1:
                torch.set_num_threads(1)
        _open += 1
        budget = _saved
    try:
        yield budget
    finally:
        with _lock:
            _open -= 1
            if _open == 0 and _saved > 1:
                torch.set_num_threads(_saved)


class Workers:
    """``n`` Python worker threads for independent pieces of work; with n == 1 everything runs
    inline in the caller's thread. Use as a context manager (the threads end on exit)."""

    def __init__(self, n: int):
        self.n = max(1, int(n))
        self._pool = ThreadPoolExecutor(self.n) if self.n > 1 else None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def submit(self, fn: Callable[..., T], *args) -> Future[T]:
        """``fn(*args)`` on a worker (or now, inline), as a future."""
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        done: Future[T] = Future()
        done.set_result(fn(*args))
        return done

    def map(self, fn: Callable[..., T], items: Iterable) -> list[T]:
        """``[fn(item) for item in items]``, the items shared among the workers."""
        if self._pool is None:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))

    def map_rows(self, fn: Callable[[int, int], T], rows: int, *, step: int = 1) -> list[T]:
        """``fn(y0, y1)`` over spans covering ``range(rows)``, a few per worker, each span
        starting at a multiple of ``step``."""
        pieces = max(1, min(4 * self.n if self.n > 1 else 1, -(-rows // step)))
        per_piece = -(-rows // pieces)
        size = -(-per_piece // step) * step
        spans = [(y, min(y + size, rows)) for y in range(0, rows, size)]
        return self.map(lambda span: fn(*span), spans)
