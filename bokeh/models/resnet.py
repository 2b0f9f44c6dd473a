"""CycleGAN ResNet generator (Zhu et al. 2017; Johnson et al. 2016), 9 residual blocks by default.

Architecture (REFERENCE section 4), in CycleGAN's notation: ``c7s1-64, d128, d256, R256 x 9,
u128, u64, c7s1-3`` then tanh:

- ``c7s1-k``: 7x7 conv, stride 1, ``padding`` (reflect) by 3, norm, ReLU (the last one: no norm,
  tanh instead of ReLU);
- ``dk``: 3x3 conv, stride 2, zero padding 1, norm, ReLU;
- ``Rk``: residual block ``x + [pad, conv3x3, norm, ReLU, pad, conv3x3, norm](x)``;
- ``uk``: 3x3 transposed conv, stride 2 (padding 1, output padding 1), norm, ReLU.

Convs before InstanceNorm keep their bias; before BatchNorm they have none
(:mod:`bokeh.models.layers`). Input ``(B, in_channels, H, W)`` in [-1, 1] with H and W multiples
of 4 (:attr:`ResnetGenerator.multiple`); output the same size, in [-1, 1].
Default configuration: 11,378,179 parameters (11.38 M).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bokeh.models.layers import (
    add_residual,
    check_norm,
    config_from_dict,
    conv_bias,
    norm_layer,
    preset_config,
    zero_init,
)
from bokeh.models.unet import check_tensor_input

MODEL_NAME = "resnet"
PADDINGS = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d, "zero": nn.ZeroPad2d}
N_DOWN = 2  # stride-2 convs: the input side must be a multiple of 2**N_DOWN

PRESETS: dict[str, dict[str, Any]] = {
    "full": {"ngf": 64, "n_blocks": 9, "norm": "instance", "padding": "reflect"},
    "demo": {"ngf": 16, "n_blocks": 6, "norm": "instance", "padding": "reflect", "residual": True},
}


@dataclass
class ResnetConfig:
    """Everything needed to rebuild a ResNet generator (stored in the checkpoint JSON).

    ngf: channels after the first conv (x2, x4 after the downsamplings).
    n_blocks: residual blocks at 1/4 resolution (9 for 256 px training crops, 6 for 128).
    residual: predict a change to the input (``clip(x + tanh(...))``, last layer zero-initialised
        so training starts from the identity); off in the published network, on in the demo
        preset, where it lets a small CPU-trained model improve on its input.
    norm: "instance" (CycleGAN), "batch" or "none". padding: "reflect", "replicate" or "zero".
    """

    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    n_blocks: int = 9
    norm: str = "instance"
    padding: str = "reflect"
    residual: bool = False

    def __post_init__(self) -> None:
        check_norm(self.norm)
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be one of {', '.join(PADDINGS)}; got {self.padding!r}.")
        if min(self.in_channels, self.out_channels, self.ngf) < 1 or self.n_blocks < 0:
            raise ValueError("channels and ngf must be positive and n_blocks >= 0.")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ResnetConfig:
        """Build from a stored config dict; unknown keys are an error (a newer checkpoint)."""
        return config_from_dict(cls, data, "ResNet generator")


def preset(name: str, **overrides: Any) -> ResnetConfig:
    """The config of a named preset ("full" or "demo"), with ``overrides`` applied."""
    return preset_config(ResnetConfig, PRESETS, name, "ResNet generator", **overrides)


class ResidualBlock(nn.Module):
    """``x + [pad, conv3x3, norm, ReLU, pad, conv3x3, norm](x)`` at constant width."""

    def __init__(self, channels: int, norm: str, padding: str) -> None:
        super().__init__()
        pad, bias = PADDINGS[padding], conv_bias(norm)
        self.body = nn.Sequential(
            pad(1), nn.Conv2d(channels, channels, 3, bias=bias), norm_layer(norm, channels),
            nn.ReLU(),
            pad(1), nn.Conv2d(channels, channels, 3, bias=bias), norm_layer(norm, channels),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator; see the module docstring for the layers and shapes."""

    def __init__(self, config: ResnetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ResnetConfig()
        norm, bias, pad = cfg.norm, conv_bias(cfg.norm), PADDINGS[cfg.padding]
        ngf = cfg.ngf
        layers: list[nn.Module] = [
            pad(3),
            nn.Conv2d(cfg.in_channels, ngf, 7, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(),
        ]
        for i in range(N_DOWN):
            c_in, c_out = ngf * 2**i, ngf * 2 ** (i + 1)
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=bias),
                norm_layer(norm, c_out), nn.ReLU(),
            ]  # fmt: skip
        width = ngf * 2**N_DOWN
        layers += [ResidualBlock(width, norm, cfg.padding) for _ in range(cfg.n_blocks)]
        for i in range(N_DOWN, 0, -1):
            c_in, c_out = ngf * 2**i, ngf * 2 ** (i - 1)
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1,
                                   bias=bias),
                norm_layer(norm, c_out), nn.ReLU(),
            ]  # fmt: skip
        layers += [pad(3), nn.Conv2d(ngf, cfg.out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        if cfg.residual:
            zero_init(layers[-2])

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this (4)."""
        return 2**N_DOWN

    @property
    def min_side(self) -> int:
        """Smallest input side it runs on (reflect padding needs 2x2 maps at 1/4 size)."""
        return 2 * 2**N_DOWN

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) in [-1, 1] -> (B, out_channels, H, W) in [-1, 1]."""
        check_tensor_input(x, self.config.in_channels, self.multiple, "ResnetGenerator")
        out = self.model(x)
        return add_residual(x, out) if self.config.residual else out


def build_resnet(config: dict[str, Any] | ResnetConfig | None = None) -> ResnetGenerator:
    """Builder for :func:`bokeh.weights.checkpoint.load_model`: the full preset when ``config`` is None."""
    if isinstance(config, ResnetConfig):
        return ResnetGenerator(config)
    return ResnetGenerator(ResnetConfig.from_dict(config))


__all__ = [
    "MODEL_NAME",
    "PRESETS",
    "ResidualBlock",
    "ResnetConfig",
    "ResnetGenerator",
    "build_resnet",
    "preset",
]
