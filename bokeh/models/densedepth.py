"""DenseDepth (Alhashim & Wonka 2018): monocular depth from a DenseNet-169 encoder.

Architecture (REFERENCE section 4):

- encoder: torchvision ``densenet169`` ``features`` including the final ``norm5`` and a ReLU
  (as in the Keras DenseNet the original used, and as torchvision's own classifier applies it):
  1664 channels at 1/32. Skips, named as in the paper's Keras code:
  ``relu0`` (64 ch, 1/2), ``pool1`` = torchvision ``pool0`` (64, 1/4),
  ``pool2`` = ``transition1`` (128, 1/8), ``pool3`` = ``transition2`` (256, 1/16).
- decoder: 1x1 conv 1664 -> F = int(1664 * decoder_width), then four up blocks
  [bilinear resize to the skip's size, concat skip, 3x3 conv + LeakyReLU(0.2),
  3x3 conv + LeakyReLU(0.2)] with F/2, F/4, F/8, F/16 channels, then a 3x3 conv to 1 channel.

Input: RGB in [0, 1], shape (B, 3, H, W), H and W >= 32 (any size; multiples of 32 avoid
resampling inside the decoder). ImageNet normalisation happens inside the model, so callers never
repeat it. Output: (B, 1, ceil(H/2), ceil(W/2)), unbounded linear output trained to match the
target ``depth_scale / depth_cm`` (1000/d with d in cm clipped to 10..1000, i.e. 1..100):
proportional to disparity, larger = nearer. Use :func:`target_to_depth_cm` to get centimetres.

Parameter counts (``count_parameters``): 42.65 M at decoder_width 1.0, 21.37 M at 0.5.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import DenseNet, DenseNet169_Weights

from bokeh.errors import BokehError
from bokeh.weights import checkpoint

logger = logging.getLogger("bokeh.models.densedepth")

MODEL_NAME = "densedepth"
# (skip name in the paper's Keras code, torchvision module whose output it is)
SKIPS = (("relu0", "relu0"), ("pool1", "pool0"), ("pool2", "transition1"),
         ("pool3", "transition2"))  # fmt: skip
DENSENET169 = {"growth_rate": 32, "block_config": (6, 12, 32, 32), "num_init_features": 64}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class DenseDepthConfig:
    """Everything needed to rebuild a DenseDepth network (stored in the checkpoint JSON).

    decoder_width:      decoder channels as a fraction of the encoder's output channels
                        (1664 for DenseNet-169; 1.0 = the paper's decoder).
    growth_rate, block_config, num_init_features: the DenseNet encoder (defaults:
                        DenseNet-169); smaller values give the compact demo preset.
    pretrained_encoder: start the encoder from torchvision's ImageNet weights (training only;
                        used when they are in the torch hub cache, otherwise a warning).
    min_depth_cm, max_depth_cm: clipping range of the training target, in centimetres.
    depth_scale:        the target is ``depth_scale / depth_cm`` (1000 / d in the paper).
    """

    decoder_width: float = 1.0
    pretrained_encoder: bool = False
    growth_rate: int = 32
    block_config: tuple[int, int, int, int] = (6, 12, 32, 32)
    num_init_features: int = 64
    min_depth_cm: float = 10.0
    max_depth_cm: float = 1000.0
    depth_scale: float = 1000.0

    def __post_init__(self) -> None:
        self.block_config = tuple(int(b) for b in self.block_config)
        if len(self.block_config) != 4 or min(self.block_config) < 1:
            raise ValueError(
                f"block_config needs four positive block sizes, got {self.block_config}."
            )
        if self.growth_rate < 1 or self.num_init_features < 1:
            raise ValueError("growth_rate and num_init_features must be positive.")
        if self.pretrained_encoder and self.encoder_spec() != DENSENET169:
            raise ValueError("pretrained_encoder needs the DenseNet-169 encoder (the defaults).")
        if not (0 < self.decoder_width <= 4) or self.decoder_channels < 16:
            raise ValueError(
                f"decoder_width must be in (0, 4] and leave >= 16 decoder channels "
                f"(>= {16 / self.encoder_channels:.4f}), got {self.decoder_width}."
            )
        if not (0 < self.min_depth_cm < self.max_depth_cm):
            raise ValueError(
                f"Need 0 < min_depth_cm < max_depth_cm, got {self.min_depth_cm}, {self.max_depth_cm}."
            )
        if self.depth_scale <= 0:
            raise ValueError(f"depth_scale must be positive, got {self.depth_scale}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DenseDepthConfig:
        """Build from a stored config dict; unknown keys are an error (a newer checkpoint)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise BokehError(
                f"DenseDepth config has unknown fields {', '.join(unknown)}; it was written by a "
                "different version of bokeh."
            )
        return cls(**data)

    def encoder_spec(self) -> dict[str, Any]:
        return {
            "growth_rate": self.growth_rate,
            "block_config": self.block_config,
            "num_init_features": self.num_init_features,
        }

    def skip_channels(self) -> tuple[int, int, int, int]:
        """Channels of relu0, pool0, transition1 and transition2 (64, 64, 128, 256 for 169)."""
        c = self.num_init_features
        t1 = (c + self.block_config[0] * self.growth_rate) // 2
        t2 = (t1 + self.block_config[1] * self.growth_rate) // 2
        return c, c, t1, t2

    @property
    def encoder_channels(self) -> int:
        """Output channels of the encoder's last dense block (1664 for DenseNet-169)."""
        t2 = self.skip_channels()[3]
        t3 = (t2 + self.block_config[2] * self.growth_rate) // 2
        return t3 + self.block_config[3] * self.growth_rate

    @property
    def decoder_channels(self) -> int:
        return int(self.encoder_channels * self.decoder_width)


class UpBlock(nn.Module):
    """Bilinear resize to the skip's size, concatenate it, two 3x3 conv + LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv_b = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = F.leaky_relu(self.conv_a(torch.cat([x, skip], dim=1)), 0.2)
        return F.leaky_relu(self.conv_b(x), 0.2)


class DenseDepth(nn.Module):
    """DenseNet-169 encoder + bilinear/skip decoder; see the module docstring for shapes.

    ``download_encoder=True`` lets a training run fetch torchvision's ImageNet weights when
    ``config.pretrained_encoder`` is set and they are not cached yet; by default nothing is
    downloaded and a missing cache only warns.
    """

    def __init__(self, config: DenseDepthConfig | None = None, *, download_encoder: bool = False):
        super().__init__()
        self.config = config or DenseDepthConfig()
        self.encoder = DenseNet(**self.config.encoder_spec()).features
        if self.config.pretrained_encoder:
            self._init_encoder_from_imagenet(download=download_encoder)

        width = self.config.decoder_channels
        self.bottleneck = nn.Conv2d(self.config.encoder_channels, width, 1)
        skip_channels = list(reversed(self.config.skip_channels()))  # 256, 128, 64, 64
        blocks = []
        for i, skip_ch in enumerate(skip_channels):
            c_in, c_out = width // 2**i, width // 2 ** (i + 1)
            blocks.append(UpBlock(c_in + skip_ch, c_out))
        self.up = nn.ModuleList(blocks)
        self.head = nn.Conv2d(width // 16, 1, 3, padding=1)
        # Not persistent: constants, not weights (the checkpoint holds only learned tensors).
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _init_encoder_from_imagenet(self, *, download: bool) -> None:
        url = DenseNet169_Weights.IMAGENET1K_V1.url
        state = (
            checkpoint.torchvision_download_state(url)
            if download
            else checkpoint.torchvision_cached_state(url)
        )
        if state is None:
            warnings.warn(
                "DenseDepth: ImageNet weights for DenseNet-169 are not available (not in the torch "
                "hub cache, or the download failed); the encoder starts from random weights.",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        # Old torchvision keys: 'denselayer1.norm.1.weight' -> 'denselayer1.norm1.weight'.
        encoder_state = {}
        for key, value in state.items():
            if not key.startswith("features."):
                continue  # the classifier is not part of the encoder
            key = key[len("features.") :]
            for part in ("norm", "relu", "conv"):
                for idx in ("1", "2"):
                    key = key.replace(f".{part}.{idx}.", f".{part}{idx}.")
            encoder_state[key] = value
        self.encoder.load_state_dict(encoder_state, strict=True)
        logger.info("DenseDepth encoder initialised from ImageNet weights")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> (B, 1, ceil(H/2), ceil(W/2)) target (~1000/d)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"DenseDepth expects (B, 3, H, W) RGB in [0, 1], got {tuple(x.shape)}."
            )
        if min(x.shape[-2:]) < 32:
            raise ValueError(f"DenseDepth needs H, W >= 32, got {tuple(x.shape[-2:])}.")
        h = (x - self.mean) / self.std
        skips: dict[str, torch.Tensor] = {}
        wanted = {tv_name for _, tv_name in SKIPS}
        for name, module in self.encoder.named_children():
            h = module(h)
            if name in wanted:
                skips[name] = h
        h = F.relu(h)  # after norm5, as in DenseNet's own head
        h = self.bottleneck(h)
        for block, (_, tv_name) in zip(self.up, reversed(SKIPS), strict=True):
            h = block(h, skips[tv_name])
        return self.head(h)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_densedepth(config: dict[str, Any] | DenseDepthConfig | None = None) -> DenseDepth:
    """Builder for :func:`bokeh.weights.checkpoint.load_model`: the architecture from a stored config.

    The encoder is never initialised from ImageNet here (the checkpoint supplies every weight).
    """
    if isinstance(config, DenseDepthConfig):
        cfg = config
    else:
        cfg = DenseDepthConfig.from_dict(dict(config or {}))
    cfg = dataclasses.replace(cfg, pretrained_encoder=False)
    return DenseDepth(cfg)


# "full": the paper's network (DenseNet-169, ImageNet encoder when available for training);
# "demo": a compact DenseNet small enough to train on a CPU and ship under assets/weights.
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"decoder_width": 1.0, "pretrained_encoder": True},
    "demo": {
        "decoder_width": 0.5,
        "pretrained_encoder": False,
        "growth_rate": 16,
        "block_config": (4, 6, 8, 6),
        "num_init_features": 32,
    },
}


def preset(name: str, **overrides: Any) -> DenseDepthConfig:
    """The config of a named preset ("full" or "demo"), with ``overrides`` applied."""
    if name not in PRESETS:
        raise BokehError(f"Unknown DenseDepth preset {name!r}; available: {', '.join(PRESETS)}.")
    return DenseDepthConfig.from_dict({**PRESETS[name], **overrides})


def depth_to_target(depth_cm, config: DenseDepthConfig | None = None):
    """Training target from depth in cm: ``depth_scale / clip(d, min_depth_cm, max_depth_cm)``.

    Works on torch tensors and numpy arrays (any shape).
    """
    cfg = config or DenseDepthConfig()
    return cfg.depth_scale / depth_cm.clip(cfg.min_depth_cm, cfg.max_depth_cm)


def target_to_depth_cm(target, config: DenseDepthConfig | None = None):
    """Inverse of :func:`depth_to_target`: network output -> depth in cm, clipped to the range."""
    cfg = config or DenseDepthConfig()
    lo, hi = cfg.depth_scale / cfg.max_depth_cm, cfg.depth_scale / cfg.min_depth_cm
    return cfg.depth_scale / target.clip(lo, hi)


__all__ = [
    "PRESETS",
    "MODEL_NAME",
    "DenseDepth",
    "DenseDepthConfig",
    "UpBlock",
    "build_densedepth",
    "count_parameters",
    "depth_to_target",
    "target_to_depth_cm",
]
