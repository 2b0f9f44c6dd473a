"""PatchGAN discriminators: pix2pix/CycleGAN's 70x70 critic and BGGAN's multi-receptive-field pair.

:class:`PatchGANDiscriminator` (Isola et al. 2017; REFERENCE section 4), all convs 4x4, padding 1:
``conv(in -> ndf, stride 2), LeakyReLU(0.2)``; for n = 1..n_layers-1
``conv(-> ndf * min(2**n, 8), stride 2), norm, LeakyReLU(0.2)``; then
``conv(-> ndf * min(2**n_layers, 8), stride 1), norm, LeakyReLU(0.2)`` and ``conv(-> 1, stride 1)``.
With n_layers 3 each output value sees a 70x70 patch. Input (B, in_channels, H, W) in [-1, 1]
(pix2pix: the 6-channel concat[input, output]; CycleGAN: a 3-channel image); output raw logits
(B, 1, H/8 - 2, W/8 - 2) for n_layers 3. Default (6 channels, BatchNorm) 2,768,705 parameters;
3 channels: 2,765,633 with BatchNorm, 2,764,737 with InstanceNorm (CycleGAN).

:class:`MultiPatchGAN` (BGGAN, Qian et al. 2020): one critic per entry of ``layers``; a critic with
L layers is, all convs 4x4 padding 1 with a bias, each followed by InstanceNorm and LeakyReLU(0.2):
``ndf`` stride 2, ``ndf * min(2**n, 8)`` stride 2 for n = 1..L-1, ``ndf * min(2**L, 8)`` stride 1,
then a 1x1 conv to one channel. Receptive fields: 46 px (L = 3) and 190 px (L = 5). ``forward``
returns the list of critic maps, (B, 1, H / 2**L - 1, W / 2**L - 1) each (for H, W multiples of
2**L); a WGAN loss averages their means. In training, InstanceNorm needs at least 2x2 positions
in each map: H, W >= 3 * 2**max(layers) (96 px for L = 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bokeh.models.layers import check_norm, config_from_dict, conv_bias, norm_layer, preset_config

MODEL_NAME = "patchgan"
MULTI_MODEL_NAME = "multipatchgan"

# The method sets in_channels and norm (pix2pix: 6, "batch"; CycleGAN: 3, "instance").
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"ndf": 64, "n_layers": 3},
    "demo": {"ndf": 16, "n_layers": 3},
}
MULTI_PRESETS: dict[str, dict[str, Any]] = {
    "full": {"ndf": 64, "layers": (3, 5), "norm": "instance"},
    "demo": {"ndf": 16, "layers": (3, 5), "norm": "instance"},
}


def _check_common(in_channels: int, ndf: int, norm: str) -> None:
    check_norm(norm)
    if in_channels < 1 or ndf < 1:
        raise ValueError(f"in_channels and ndf must be positive, got {in_channels}, {ndf}.")


@dataclass
class PatchGANConfig:
    """The 70x70 PatchGAN (stored in the checkpoint JSON). norm: "batch", "instance", "none"."""

    in_channels: int = 6
    ndf: int = 64
    n_layers: int = 3
    norm: str = "batch"

    def __post_init__(self) -> None:
        _check_common(self.in_channels, self.ndf, self.norm)
        if not 1 <= self.n_layers <= 8:
            raise ValueError(f"n_layers must be in 1..8, got {self.n_layers}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PatchGANConfig:
        """Build from a stored config dict; unknown keys are an error (a newer checkpoint)."""
        return config_from_dict(cls, data, "PatchGAN")


@dataclass
class MultiPatchGANConfig:
    """BGGAN's multi-receptive-field discriminator: one critic per entry of ``layers``."""

    in_channels: int = 3
    ndf: int = 64
    layers: tuple[int, ...] = (3, 5)
    norm: str = "instance"

    def __post_init__(self) -> None:
        _check_common(self.in_channels, self.ndf, self.norm)
        self.layers = tuple(int(n) for n in self.layers)
        if not self.layers or any(not 1 <= n <= 8 for n in self.layers):
            raise ValueError(
                f"layers must be a non-empty list of values in 1..8, got {self.layers}."
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> MultiPatchGANConfig:
        """Build from a stored config dict; unknown keys are an error (a newer checkpoint)."""
        return config_from_dict(cls, data, "Multi-PatchGAN")


def preset(name: str, **overrides: Any) -> PatchGANConfig:
    """PatchGAN config of a named preset ("full" or "demo"); pass in_channels / norm as overrides."""
    return preset_config(PatchGANConfig, PRESETS, name, "PatchGAN", **overrides)


def multi_preset(name: str, **overrides: Any) -> MultiPatchGANConfig:
    """Multi-PatchGAN config of a named preset ("full" or "demo")."""
    return preset_config(MultiPatchGANConfig, MULTI_PRESETS, name, "Multi-PatchGAN", **overrides)


def _conv(c_in: int, c_out: int, stride: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1, bias=bias)


class PatchGANDiscriminator(nn.Module):
    """pix2pix's NLayer discriminator; see the module docstring. Returns raw logits."""

    def __init__(self, config: PatchGANConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or PatchGANConfig()
        bias, ndf = conv_bias(cfg.norm), cfg.ndf
        layers: list[nn.Module] = [_conv(cfg.in_channels, ndf, 2, True), nn.LeakyReLU(0.2)]
        c_prev = ndf
        for n in range(1, cfg.n_layers + 1):
            c = ndf * min(2**n, 8)
            stride = 2 if n < cfg.n_layers else 1
            layers += [_conv(c_prev, c, stride, bias), norm_layer(cfg.norm, c), nn.LeakyReLU(0.2)]
            c_prev = c
        layers.append(_conv(c_prev, 1, 1, True))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) in [-1, 1] -> (B, 1, h, w) logits, one per overlapping patch."""
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"PatchGAN expects (B, {self.config.in_channels}, H, W), got {tuple(x.shape)}."
            )
        return self.model(x)


class PatchCritic(nn.Module):
    """One BGGAN critic with ``n_layers`` stride-2 convs (see the module docstring)."""

    def __init__(self, in_channels: int, ndf: int, n_layers: int, norm: str) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = []
        c_prev = in_channels
        for n in range(n_layers + 1):
            c = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [_conv(c_prev, c, stride, bias), norm_layer(norm, c), nn.LeakyReLU(0.2)]
            c_prev = c
        layers.append(nn.Conv2d(c_prev, 1, 1))
        self.model = nn.Sequential(*layers)
        self.n_layers = n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MultiPatchGAN(nn.Module):
    """Several PatchGAN critics with different receptive fields on the same image.

    ``forward(x)`` returns a list with one (B, 1, h_i, w_i) map per critic, in ``layers`` order.
    """

    def __init__(self, config: MultiPatchGANConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MultiPatchGANConfig()
        self.critics = nn.ModuleList(
            PatchCritic(cfg.in_channels, cfg.ndf, n, cfg.norm) for n in cfg.layers
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"MultiPatchGAN expects (B, {self.config.in_channels}, H, W), got {tuple(x.shape)}."
            )
        return [critic(x) for critic in self.critics]


def receptive_field(n_layers: int, *, multi: bool) -> int:
    """Side in pixels of the input patch one output value sees.

    ``multi=False``: the pix2pix PatchGAN (70 for n_layers 3); ``multi=True``: a BGGAN critic
    (46 for L = 3, 190 for L = 5).
    """
    # (kernel, stride) from the output back to the input.
    if multi:
        convs = [(4, 2)] * n_layers + [(4, 1), (1, 1)]
    else:
        convs = [(4, 2)] * n_layers + [(4, 1), (4, 1)]
    field = 1
    for kernel, stride in reversed(convs):
        field = (field - 1) * stride + kernel
    return field


def build_patchgan(config: dict[str, Any] | PatchGANConfig | None = None) -> PatchGANDiscriminator:
    if isinstance(config, PatchGANConfig):
        return PatchGANDiscriminator(config)
    return PatchGANDiscriminator(PatchGANConfig.from_dict(config))


def build_multipatchgan(
    config: dict[str, Any] | MultiPatchGANConfig | None = None,
) -> MultiPatchGAN:
    if isinstance(config, MultiPatchGANConfig):
        return MultiPatchGAN(config)
    return MultiPatchGAN(MultiPatchGANConfig.from_dict(config))


__all__ = [
    "MODEL_NAME",
    "MULTI_MODEL_NAME",
    "MULTI_PRESETS",
    "PRESETS",
    "MultiPatchGAN",
    "MultiPatchGANConfig",
    "PatchCritic",
    "PatchGANConfig",
    "PatchGANDiscriminator",
    "build_multipatchgan",
    "build_patchgan",
    "multi_preset",
    "preset",
    "receptive_field",
]
