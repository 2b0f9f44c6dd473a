"""Small pieces shared by the GAN architectures: normalisation choice, config parsing, counts.

Conventions of the pix2pix/CycleGAN family, kept here so that every network follows them:

- ``norm="batch"``: ``BatchNorm2d`` (affine, running statistics); the conv before it has no bias
  (the norm's shift makes it redundant).
- ``norm="instance"``: ``InstanceNorm2d`` without affine parameters or running statistics; the
  conv before it keeps its bias.
- ``norm="none"``: no normalisation; convs keep their bias.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from bokeh.errors import BokehError
from bokeh.specs import NetworkSpec

NORMS = ("batch", "instance", "none")

C = TypeVar("C")


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}.")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """The normalisation module for ``channels`` feature maps (``nn.Identity`` for "none")."""
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_bias(norm: str) -> bool:
    """Whether a conv followed by ``norm`` carries a bias (not before BatchNorm)."""
    check_norm(norm)
    return norm != "batch"


def config_from_dict(cls: type[C], data: dict[str, Any] | None, what: str) -> C:
    """``cls(**data)`` for a config dataclass; unknown keys are a BokehError (a newer checkpoint).

    JSON turns tuples into lists: fields whose default is a tuple get a tuple back.
    """
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise BokehError(
            f"{what} config has unknown fields {', '.join(unknown)}; it was written by a "
            "different version of bokeh."
        )
    for name, value in data.items():
        if isinstance(value, list) and isinstance(fields[name].default, tuple):
            data[name] = tuple(value)
    return cls(**data)


def preset_config(cls: type[C], presets: dict[str, dict], name: str, what: str, **overrides) -> C:
    """The config of preset ``name`` ("full", "demo", ...), with ``overrides`` applied."""
    if name not in presets:
        raise BokehError(f"Unknown {what} preset {name!r}; available: {', '.join(presets)}.")
    return config_from_dict(cls, {**presets[name], **overrides}, what)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@functools.cache
def _meta_count(build: Callable[[], nn.Module]) -> int:
    with torch.device("meta"):
        return count_parameters(build())


def network_parameters(network: NetworkSpec) -> int:
    """Parameters of a network's published configuration, counted on the meta device (nothing
    is allocated)."""
    return _meta_count(network.build)


__all__ = [
    "NORMS",
    "check_norm",
    "config_from_dict",
    "conv_bias",
    "count_parameters",
    "norm_layer",
    "preset_config",
]


def zero_init(module: nn.Module) -> None:
    """Zero a layer's weights and bias, so a residual generator starts as the identity."""
    nn.init.zeros_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def add_residual(x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """``x + delta`` clipped to the image range [-1, 1] (residual generators)."""
    return (x + delta).clamp(-1.0, 1.0)
