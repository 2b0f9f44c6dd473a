"""pix2pix U-Net generator (Isola et al. 2017), "unet_256" by default.

Architecture (REFERENCE section 4), with ``e_i = ngf * min(2**i, 8)`` channels at level ``i``:

- encoder, ``num_downs`` levels of 4x4 stride-2 convs (each halves the size):
  level 0 ``conv(in -> e_0)`` (no norm); levels 1..N-2 ``LeakyReLU(0.2), conv, norm``;
  the innermost level ``LeakyReLU(0.2), conv`` (no norm: it is 1x1 for a 256 input).
- decoder, 4x4 stride-2 transposed convs: the innermost ``ReLU, convT(e_{N-1} -> e_{N-2}), norm``;
  levels N-2..1 ``ReLU, convT(2 e_i -> e_{i-1}), norm`` on ``concat[encoder skip, decoder]``;
  the outermost ``ReLU, convT(2 e_0 -> out)`` (with bias) and ``tanh``.
- dropout (``config.dropout``, 0.5) after the three innermost decoder blocks, as in the paper's
  ``CD512-CD512-CD512`` decoder (the PyTorch reference code applies it one level further out;
  the parameter count is the same).
- convs before BatchNorm have no bias (:mod:`bokeh.models.layers`).

Input: ``(B, in_channels, H, W)`` in [-1, 1] with H and W multiples of ``2**num_downs``
(:attr:`UNetGenerator.multiple`; 256 for unet_256). Output: ``(B, out_channels, H, W)`` in
[-1, 1]. Default configuration: 54,414,019 parameters (54.41 M).
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

MODEL_NAME = "unet"
DROPOUT_BLOCKS = 3  # innermost decoder blocks followed by dropout

# "demo": small enough to train on a CPU in minutes on 384x256 images (multiple of 64).
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"ngf": 64, "num_downs": 8, "norm": "batch", "dropout": 0.5},
    "demo": {"ngf": 16, "num_downs": 6, "norm": "batch", "dropout": 0.5, "residual": True},
}


@dataclass
class UNetConfig:
    """Everything needed to rebuild a U-Net generator (stored in the checkpoint JSON).

    ngf: channels of the first level (doubling per level up to 8 * ngf).
    num_downs: stride-2 levels; the input side must be a multiple of ``2**num_downs``.
    norm: "batch" (pix2pix), "instance" or "none".
    dropout: probability in the three innermost decoder blocks (0 turns it off).
    residual: predict a change to the input (``clip(x + tanh(...))``, last layer zero-initialised
        so training starts from the identity); off in the published network, on in the demo
        preset, where it lets a small CPU-trained model improve on its input.
    """

    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    num_downs: int = 8
    norm: str = "batch"
    dropout: float = 0.5
    residual: bool = False

    def __post_init__(self) -> None:
        check_norm(self.norm)
        if min(self.in_channels, self.out_channels, self.ngf) < 1:
            raise ValueError("in_channels, out_channels and ngf must be positive integers.")
        if not 2 <= self.num_downs <= 12:
            raise ValueError(f"num_downs must be in 2..12, got {self.num_downs}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> UNetConfig:
        """Build from a stored config dict; unknown keys are an error (a newer checkpoint)."""
        return config_from_dict(cls, data, "U-Net")

    @property
    def multiple(self) -> int:
        return 2**self.num_downs


def preset(name: str, **overrides: Any) -> UNetConfig:
    """The config of a named preset ("full" or "demo"), with ``overrides`` applied."""
    return preset_config(UNetConfig, PRESETS, name, "U-Net", **overrides)


class UNetGenerator(nn.Module):
    """U-Net with skips; see the module docstring for the layer rules and shapes."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or UNetConfig()
        n, norm, bias = cfg.num_downs, cfg.norm, conv_bias(cfg.norm)
        ch = [cfg.ngf * min(2**i, 8) for i in range(n)]

        def down(c_in: int, c_out: int) -> nn.Conv2d:
            return nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=bias)

        def up(c_in: int, c_out: int, with_bias: bool = bias) -> nn.ConvTranspose2d:
            return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=with_bias)

        downs: list[nn.Module] = [down(cfg.in_channels, ch[0])]
        for i in range(1, n):
            layers = [nn.LeakyReLU(0.2), down(ch[i - 1], ch[i])]
            if i < n - 1:
                layers.append(norm_layer(norm, ch[i]))
            downs.append(nn.Sequential(*layers))
        self.down = nn.ModuleList(downs)

        # up[i] undoes down[i]; up[n-1] takes the bottleneck alone, the others a concat.
        ups: list[nn.Module] = [
            nn.Sequential(nn.ReLU(), up(2 * ch[0], cfg.out_channels, with_bias=True), nn.Tanh())
        ]
        for i in range(1, n):
            c_in = ch[i] if i == n - 1 else 2 * ch[i]
            layers = [nn.ReLU(), up(c_in, ch[i - 1]), norm_layer(norm, ch[i - 1])]
            if i >= n - DROPOUT_BLOCKS and cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
            ups.append(nn.Sequential(*layers))
        self.up = nn.ModuleList(ups)
        if cfg.residual:
            zero_init(self.up[0][1])

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this (``2**num_downs``)."""
        return self.config.multiple

    @property
    def min_side(self) -> int:
        """Smallest input side it runs on (one multiple: the bottleneck is then 1x1)."""
        return self.config.multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) in [-1, 1] -> (B, out_channels, H, W) in [-1, 1]."""
        check_tensor_input(x, self.config.in_channels, self.multiple, "UNetGenerator")
        inp = x
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[-1](skips[-1])
        for i in range(len(self.up) - 2, -1, -1):
            x = self.up[i](torch.cat([skips[i], x], dim=1))
        return add_residual(inp, x) if self.config.residual else x


def check_tensor_input(x: torch.Tensor, channels: int, multiple: int, who: str) -> None:
    """A clear ValueError unless ``x`` is (B, channels, H, W) with H, W multiples of ``multiple``."""
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{who} expects (B, {channels}, H, W) in [-1, 1], got {tuple(x.shape)}.")
    h, w = x.shape[-2:]
    if h % multiple or w % multiple or h == 0 or w == 0:
        raise ValueError(
            f"{who} needs H and W to be positive multiples of {multiple}, got {h}x{w} "
            "(pad the input; bokeh.pipelines.translate does this)."
        )


def build_unet(config: dict[str, Any] | UNetConfig | None = None) -> UNetGenerator:
    """Builder for :func:`bokeh.weights.checkpoint.load_model`: the full preset when ``config`` is None."""
    if isinstance(config, UNetConfig):
        return UNetGenerator(config)
    return UNetGenerator(UNetConfig.from_dict(config))


__all__ = [
    "MODEL_NAME",
    "PRESETS",
    "UNetConfig",
    "UNetGenerator",
    "build_unet",
    "check_tensor_input",
    "preset",
]
