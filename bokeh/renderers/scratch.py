"""Large work arrays kept between renders.

A render allocates a few image-sized arrays (the padded source, the accumulators and their
upsampled copies). Arrays above glibc's mmap threshold (32 MiB at most) come from the kernel
as fresh pages every time and are faulted in on first write: at 3072x2048 that was about a
fifth of a render's time. Renders take such arrays from :data:`POOL` and give them back when
done, so the next render of the same size writes into pages it already has. The pool keeps at
most ``limit_bytes`` (the oldest arrays are dropped first) and is safe to share between threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

_MIN_BYTES = 8 << 20  # smaller arrays are left to the allocator


class Pool:
    def __init__(self, limit_bytes: int = 1 << 30):
        self.limit_bytes = limit_bytes
        self._free: OrderedDict[int, np.ndarray] = OrderedDict()  # id -> array, oldest first
        self._lock = threading.Lock()

    def empty(self, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        """An uninitialised array of ``shape`` (from the pool when one is free)."""
        dtype = np.dtype(dtype)
        if int(np.prod(shape)) * dtype.itemsize >= _MIN_BYTES:
            with self._lock:
                for key, arr in self._free.items():
                    if arr.shape == tuple(shape) and arr.dtype == dtype:
                        del self._free[key]
                        return arr
        return np.empty(shape, dtype)

    def give(self, *arrays: np.ndarray | None) -> None:
        """Return arrays (whole, C-contiguous, owning their memory) for later use."""
        with self._lock:
            for arr in arrays:
                if (
                    arr is None
                    or arr.base is not None
                    or not arr.flags.c_contiguous
                    or arr.nbytes < _MIN_BYTES
                ):
                    continue
                self._free[id(arr)] = arr
            total = sum(a.nbytes for a in self._free.values())
            while total > self.limit_bytes and self._free:
                _, dropped = self._free.popitem(last=False)
                total -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._free.clear()


POOL = Pool()
