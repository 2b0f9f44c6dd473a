"""The one way heavy code is reached from light code.

Light modules (the registry, the method specs, the service layer, ``app.py`` at build time)
must not import torch, so they name heavy objects by reference, ``"module.path:attribute"``,
and :func:`load` imports the module on first use. A reference is a plain string in a spec, so
``tests/test_imports.py`` reads it as an import edge of the module that holds it, and the import
graph stays checkable for cycles.

Optional third-party packages (``transformers``, ``spaces``, ``pillow_heif``, ...) are imported
with :func:`optional`, which turns a missing package into one clear sentence.

Every other import sits at the top of its module.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from types import ModuleType
from typing import Any

from bokeh.errors import BokehError


@functools.cache
def load(ref: str) -> Any:
    """The object named by ``ref`` (``"package.module:attr"``), imported on first use."""
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"A reference is 'module:attribute'; got {ref!r}.")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def optional(package: str, *, purpose: str) -> ModuleType:
    """Import the optional third-party ``package`` or raise a BokehError naming ``purpose``."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise BokehError(
            f"{purpose} needs the Python package {package.split('.')[0]}, which is not "
            f"installed here ({exc})."
        ) from exc


def available(package: str) -> bool:
    """Whether the optional ``package`` can be imported (without importing it)."""
    return importlib.util.find_spec(package) is not None


__all__ = ["available", "load", "optional"]
