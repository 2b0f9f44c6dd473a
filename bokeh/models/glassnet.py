"""BGGAN's Glass-Net generator (Qian et al., ECCV-W 2020): two stacked encoder-decoders.

Layer rules (REFERENCE section 4):

- every 3x3 conv has no bias, zero padding 1, and is followed by ReLU; stride-2 ones halve the size;
- residual block: ``conv3x3, InstanceNorm (no affine), ReLU, dropout, conv3x3, InstanceNorm``,
  add the input, ReLU;
- upsampling: 4x4 transposed conv, stride 2, padding 1, with bias, then ReLU (doubles the size);
- each stage ends with a 3x3 conv (no bias) to 3 channels and tanh.

Stage 1 (``c = c1``): conv c (stride 1), 2c, 4c, 8c (stride 2 each: 1/8) -> ``n_res`` residual
blocks at 8c -> concat with the 8c encoder feature -> up to 4c, 2c, c -> head: ``y1``, a rough
bokeh image.

Stage 2 (``c = c2``): input ``concat[y1, x - y1]`` (6 channels) -> conv c (stride 1), 2c, 4c, 8c
(stride 2 each) -> conv 8c (stride 1) -> ``n_res`` residual blocks -> up(concat[enc 8c, res]) to
4c -> up(concat[enc 4c, that]) to 2c -> up(concat[enc 2c, that]) to c -> head: ``y2``, the final
output. "enc 8c" is the output of the last stride-2 conv (before the stride-1 conv 8c).

``forward(x)`` takes (B, 3, H, W) in [-1, 1] with H and W multiples of 8
(:attr:`GlassNet.multiple`) and returns ``(y2, y1)``, both (B, 3, H, W) in [-1, 1]; both are
supervised in training, inference uses ``y2``. Default configuration: 10,352,784 parameters
(stage 1: 3,055,056; stage 2: 7,297,728).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bokeh.models.layers import add_residual, config_from_dict, preset_config, zero_init
from bokeh.models.unet import check_tensor_input

MODEL_NAME = "glassnet"
MULTIPLE = 8  # three stride-2 convs per stage

PRESETS: dict[str, dict[str, Any]] = {
    "full": {"c1": 16, "c2": 24, "n_res": 9, "dropout": 0.1},
    "demo": {"c1": 8, "c2": 12, "n_res": 4, "dropout": 0.1, "residual": True},
}


@dataclass
class GlassNetConfig:
    """Everything needed to rebuild a Glass-Net (stored in the checkpoint JSON).

    c1, c2: base widths of stage 1 and stage 2 (the deepest features have 8x as many channels).
    n_res: residual blocks per stage. dropout: probability inside each residual block.
    residual: each stage predicts a change to the input (``clip(x + tanh(...))``, heads
        zero-initialised so training starts from the identity); off in the published network,
        on in the demo preset, where it lets a small CPU-trained model improve on its input.
    """

    c1: int = 16
    c2: int = 24
    n_res: int = 9
    dropout: float = 0.1
    residual: bool = False

    def __post_init__(self) -> None:
        if self.c1 < 1 or self.c2 < 1 or self.n_res < 0:
            raise ValueError(
                f"c1 and c2 must be positive and n_res >= 0, got {self.c1}, {self.c2}, {self.n_res}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> GlassNetConfig:
        """Build from a stored config dict; unknown keys are an error (a newer checkpoint)."""
        return config_from_dict(cls, data, "Glass-Net")


def preset(name: str, **overrides: Any) -> GlassNetConfig:
    """The config of a named preset ("full" or "demo"), with ``overrides`` applied."""
    return preset_config(GlassNetConfig, PRESETS, name, "Glass-Net", **overrides)


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv without bias, then ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.ReLU())


def up4x4(c_in: int, c_out: int) -> nn.Sequential:
    """4x4 transposed conv, stride 2, with bias, then ReLU: doubles the size."""
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU())


class GlassResBlock(nn.Module):
    """``ReLU(x + IN(conv(dropout(ReLU(IN(conv(x)))))))`` at constant width, convs without bias."""

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=False, track_running_stats=False),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=False, track_running_stats=False),
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


def _head(c: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c, 3, 3, padding=1, bias=False), nn.Tanh())


class GlassStage1(nn.Module):
    """Stage 1: (B, 3, H, W) -> y1 (B, 3, H, W); one skip at the bottleneck."""

    def __init__(self, c: int, n_res: int, dropout: float) -> None:
        super().__init__()
        self.enc = nn.ModuleList(
            [conv3x3(3, c), conv3x3(c, 2 * c, 2), conv3x3(2 * c, 4 * c, 2),
             conv3x3(4 * c, 8 * c, 2)]
        )  # fmt: skip
        self.res = nn.Sequential(*(GlassResBlock(8 * c, dropout) for _ in range(n_res)))
        self.up = nn.ModuleList([up4x4(16 * c, 4 * c), up4x4(4 * c, 2 * c), up4x4(2 * c, c)])
        self.head = _head(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.enc:
            x = layer(x)
        h = torch.cat([x, self.res(x)], dim=1)
        for layer in self.up:
            h = layer(h)
        return self.head(h)


class GlassStage2(nn.Module):
    """Stage 2: (B, 6, H, W) = concat[y1, x - y1] -> y2; U-Net skips at 1/8, 1/4 and 1/2."""

    def __init__(self, c: int, n_res: int, dropout: float) -> None:
        super().__init__()
        self.enc = nn.ModuleList(
            [conv3x3(6, c), conv3x3(c, 2 * c, 2), conv3x3(2 * c, 4 * c, 2),
             conv3x3(4 * c, 8 * c, 2)]
        )  # fmt: skip
        self.bottleneck = conv3x3(8 * c, 8 * c)
        self.res = nn.Sequential(*(GlassResBlock(8 * c, dropout) for _ in range(n_res)))
        self.up = nn.ModuleList([up4x4(16 * c, 4 * c), up4x4(8 * c, 2 * c), up4x4(4 * c, c)])
        self.head = _head(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        for layer in self.enc:
            x = layer(x)
            feats.append(x)  # c (1/1), 2c (1/2), 4c (1/4), 8c (1/8)
        h = self.res(self.bottleneck(x))
        for layer, skip in zip(self.up, reversed(feats[1:]), strict=True):
            h = layer(torch.cat([skip, h], dim=1))
        return self.head(h)


class GlassNet(nn.Module):
    """Two-stage Glass-Net; ``forward(x) -> (y2, y1)`` (see the module docstring)."""

    def __init__(self, config: GlassNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or GlassNetConfig()
        self.stage1 = GlassStage1(cfg.c1, cfg.n_res, cfg.dropout)
        self.stage2 = GlassStage2(cfg.c2, cfg.n_res, cfg.dropout)
        if cfg.residual:
            zero_init(self.stage1.head[0])
            zero_init(self.stage2.head[0])

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this (8)."""
        return MULTIPLE

    @property
    def min_side(self) -> int:
        """Smallest input side it runs on (InstanceNorm needs 2x2 maps at 1/8 size)."""
        return 2 * MULTIPLE

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) in [-1, 1] -> (y2, y1), each (B, 3, H, W) in [-1, 1]."""
        check_tensor_input(x, 3, MULTIPLE, "GlassNet")
        y1 = self.stage1(x)
        if self.config.residual:
            y1 = add_residual(x, y1)
        y2 = self.stage2(torch.cat([y1, x - y1], dim=1))
        if self.config.residual:
            y2 = add_residual(x, y2)
        return y2, y1


def build_glassnet(config: dict[str, Any] | GlassNetConfig | None = None) -> GlassNet:
    """Builder for :func:`bokeh.weights.checkpoint.load_model`: the full preset when ``config`` is None."""
    if isinstance(config, GlassNetConfig):
        return GlassNet(config)
    return GlassNet(GlassNetConfig.from_dict(config))


__all__ = [
    "MODEL_NAME",
    "MULTIPLE",
    "PRESETS",
    "GlassNet",
    "GlassNetConfig",
    "GlassResBlock",
    "GlassStage1",
    "GlassStage2",
    "build_glassnet",
    "preset",
]
