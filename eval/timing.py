"""Timing for the benchmarks: one call (:func:`wall_timer`) and pairs of calls of a subject and
its reference in the same run (:func:`alternate`)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

# timer(label, fn) -> seconds of one call of fn (injected by tests; see eval.benchmark)
Timer = Callable[[str, Callable[[], object]], float]


def wall_timer(label: str, fn: Callable[[], object]) -> float:
    """Wall time of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


PAUSE_S = 0.2  # the longest random pause before each timed call of alternate()


def alternate(
    subject: Callable[[], object],
    reference: Callable[[], object],
    *,
    repeats: int,
    timer: Timer,
    label: str,
    names: tuple[str, str] | None = None,
    seed: int = 0,
    warm_up: bool = True,
) -> tuple[list[float], list[float]]:
    """Seconds of ``repeats`` pairs of calls of ``subject`` and ``reference`` (lists in that
    order), after one warm-up each (unless ``warm_up`` is False: the caller ran both);
    ``timer`` gets ``names`` (default: ``label`` + " subject" and " reference").
    Which side goes first is drawn for every pair, and each call waits a
    random pause of up to :data:`PAUSE_S` first: load from other processes that recurs with
    the pairs' rhythm hit one side for dozens of pairs in a row when they simply alternated."""
    rng = np.random.default_rng(seed)
    if warm_up:
        subject()
        reference()
    s: list[float] = []
    r: list[float] = []
    names = names or (f"{label} subject", f"{label} reference")
    sides = ((s, names[0], subject), (r, names[1], reference))
    for _ in range(max(1, repeats)):
        for times, name, fn in sides[:: rng.choice((1, -1))]:
            time.sleep(rng.uniform(0.0, PAUSE_S))
            times.append(timer(name, fn))
    return s, r


def paired_medians(subject, reference, **options) -> tuple[float, float]:
    """Median seconds of ``subject`` and ``reference`` timed by :func:`alternate` (which
    takes the ``options``)."""
    s, r = alternate(subject, reference, **options)
    return float(np.median(s)), float(np.median(r))
