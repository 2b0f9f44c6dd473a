"""Work split by hand among Python threads (numpy, torch and the compiled loops release the
GIL): :class:`Workers`, and :func:`in_bands` for a per-pixel pass over an image in bands of
rows. No torch here (:mod:`bokeh.threads` has what concerns torch's own threads), so the light
modules the app imports at start can use it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

T = TypeVar("T")


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


def in_bands(fn: Callable[[int, int], T], rows: int, threads: int | None = None) -> list[T]:
    """``[fn(y0, y1), ...]`` over ``threads`` bands of rows covering ``range(rows)``, run on as
    many :class:`Workers` (None: one per CPU; at most one band per row, at least one band)."""
    n = max(1, min((os.cpu_count() or 1) if threads is None else int(threads), rows))
    edges = np.linspace(0, rows, n + 1).round().astype(int).tolist()
    spans = list(zip(edges[:-1], edges[1:], strict=True))
    with Workers(n) as workers:
        return workers.map(lambda span: fn(*span), spans)
