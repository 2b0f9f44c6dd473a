"""ZeroGPU support: wrap GPU work in ``spaces.GPU`` when the ``spaces`` package is present.

On a Hugging Face ZeroGPU Space, a GPU is attached only while a function decorated with
``spaces.GPU`` runs; such functions must be decorated at import time, before the app launches.
Everywhere else (CPU Spaces, a laptop, CI) :func:`gpu_task` returns the function unchanged.

Example::

    from bokeh.zerogpu import gpu_task

    run = gpu_task(service.run_method)          # ZeroGPU: runs with a GPU attached
    run = gpu_task(service.run_method, duration=120)
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("bokeh.zerogpu")

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DURATION_S = 60  # ZeroGPU's own default; a render takes seconds on a GPU


def spaces_module() -> Any | None:
    """The ``spaces`` module when it can be imported and offers ``GPU``, else None."""
    try:
        spaces = importlib.import_module("spaces")
    except ImportError:
        return None
    except Exception as exc:  # noqa: BLE001 - a broken install must not stop the app
        log.warning(
            "the spaces package failed to import (%s: %s); running without ZeroGPU",
            type(exc).__name__,
            exc,
        )
        return None
    return spaces if callable(getattr(spaces, "GPU", None)) else None


def available() -> bool:
    """True when the ``spaces`` decorator is present (a ZeroGPU Space, or spaces installed)."""
    return spaces_module() is not None


def gpu_task(fn: F, *, duration: int = DEFAULT_DURATION_S) -> F:
    """``spaces.GPU(duration=duration)(fn)`` when ``spaces`` is importable, else ``fn`` itself.

    ``duration`` is the longest a call may hold the GPU, in seconds (ZeroGPU schedules by it).
    The wrapper keeps ``fn``'s name and docstring, so Gradio's API pages read the same.
    """
    if duration <= 0:
        raise ValueError(f"duration must be a positive number of seconds; got {duration}.")
    spaces = spaces_module()
    if spaces is None:
        return fn
    wrapped = spaces.GPU(duration=duration)(fn)
    with contextlib.suppress(AttributeError, TypeError):  # some wrappers take no attributes
        functools.update_wrapper(wrapped, fn)
    log.info("ZeroGPU: %s runs with spaces.GPU(duration=%d)", getattr(fn, "__name__", fn), duration)
    return wrapped
