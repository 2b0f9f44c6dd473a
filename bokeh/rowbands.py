"""Work on an image split into bands of rows, on threads (numpy and compiled loops release
the GIL), for the per-pixel passes outside the renderer (which has :mod:`bokeh.threads`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def in_bands(fn: Callable[[int, int], T], rows: int, threads: int | None = None) -> list[T]:
    """``[fn(y0, y1), ...]`` over ``threads`` bands of rows covering ``range(rows)``, run on as
    many threads (None: one per CPU; at most one band per row, at least one band)."""
    n = max(1, min((os.cpu_count() or 1) if threads is None else int(threads), rows))
    edges = np.linspace(0, rows, n + 1).round().astype(int).tolist()
    spans = list(zip(edges[:-1], edges[1:], strict=True))
    if n == 1:
        return [fn(*spans[0])]
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda span: fn(*span), spans))
