"""CPU threads for work split by hand: Python worker threads (:class:`bokeh.rowbands.Workers`),
each running torch single-threaded.

Many small torch ops with torch's own intra-op threads meet at a barrier after every op; when
another process holds a core, every op waits for it (on a shared 2-core machine, up to 10x
slower). Splitting the work into independent pieces on Python threads (torch and numpy release
the GIL) with torch single-threaded meanwhile keeps both cores busy and degrades gracefully.

``torch.set_num_threads`` is process-wide, so :func:`single_threaded_torch` counts the blocks
that are open (in any thread) and restores the caller's setting when the last one closes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

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
