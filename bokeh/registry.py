"""The one table of methods and networks, collected from the specs in :mod:`bokeh.methods`.

The app, the CLI, evaluation and training all read it. A typo gives ``unknown method
'depth-lense'; did you mean 'depth-lens'? Available: ...``. Specs can also be registered at
run time (:func:`register`, :func:`registered`): a plug-in, or a test that builds the app and
the CLI from a method it defines itself.
"""

from __future__ import annotations

import contextlib
import difflib
import threading
from collections.abc import Iterator
from typing import Any

from bokeh import lazy
from bokeh.errors import UnknownMethodError
from bokeh.methods import MODULES
from bokeh.specs import MethodSpec, NetworkSpec

METHODS: dict[str, MethodSpec] = {}
NETWORKS: dict[str, NetworkSpec] = {}

_PIPELINES: dict[str, Any] = {}
_LOCK = threading.RLock()


def register(spec: MethodSpec | NetworkSpec) -> None:
    """Add a spec to the table (a name already taken is an error)."""
    table: dict[str, Any] = METHODS if isinstance(spec, MethodSpec) else NETWORKS
    with _LOCK:
        if spec.name in table:
            raise ValueError(f"{spec.name!r} is registered already")
        table[spec.name] = spec


def unregister(name: str) -> None:
    """Remove a method or network (and forget its cached pipeline)."""
    with _LOCK:
        METHODS.pop(name, None)
        NETWORKS.pop(name, None)
        _PIPELINES.pop(name, None)


@contextlib.contextmanager
def registered(*specs: MethodSpec | NetworkSpec) -> Iterator[None]:
    """Register ``specs`` for the duration of a ``with`` block."""
    for spec in specs:
        register(spec)
    try:
        yield
    finally:
        for spec in specs:
            unregister(spec.name)


for _module in MODULES:
    for _spec in _module.SPECS:
        register(_spec)


def get_method(name: str) -> MethodSpec:
    """The spec registered under ``name``, or UnknownMethodError listing what exists."""
    try:
        return METHODS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), METHODS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownMethodError(
            f"unknown method {name!r}{hint} Available: {', '.join(METHODS)}"
        ) from None


def get_network(name: str) -> NetworkSpec:
    """The network registered under ``name``, or UnknownMethodError listing what exists."""
    try:
        return NETWORKS[name]
    except KeyError:
        raise UnknownMethodError(
            f"unknown network {name!r}; defined: {', '.join(NETWORKS)}"
        ) from None


def list_methods(*, kind: str | None = None, variants: bool = True) -> list[str]:
    """Registered method names, in table order; ``variants=False`` hides named variants."""
    return [
        s.name
        for s in METHODS.values()
        if (kind is None or s.kind == kind) and (variants or not s.is_variant)
    ]


def method_specs(*, kind: str | None = None, variants: bool = True) -> list[MethodSpec]:
    """The specs of :func:`list_methods`, in the same order."""
    return [METHODS[n] for n in list_methods(kind=kind, variants=variants)]


def trained_networks() -> dict[str, NetworkSpec]:
    """``{training name: network}`` for every network that declares how it is trained."""
    return {n.training.name: n for n in NETWORKS.values() if n.training is not None}


def method_networks() -> list[str]:
    """Every network a registered method runs (sorted, each once)."""
    return sorted({n.name for spec in METHODS.values() for n in spec.networks})


def load_method(name: str):
    """The method's pipeline, built once per process (models inside load on first call)."""
    spec = get_method(name)
    with _LOCK:
        if name not in _PIPELINES:
            _PIPELINES[name] = lazy.load(spec.pipeline)(spec)
        return _PIPELINES[name]


__all__ = [
    "METHODS",
    "NETWORKS",
    "get_method",
    "get_network",
    "list_methods",
    "load_method",
    "method_networks",
    "method_specs",
    "register",
    "registered",
    "trained_networks",
    "unregister",
]
