"""Training losses: GAN objectives, WGAN-GP, SSIM, image gradients, VGG19 perceptual, DenseDepth.

Every function takes batched tensors (B, C, H, W) and returns a scalar tensor (the mean over the
batch) unless stated otherwise. Nothing here holds state except :class:`VGGPerceptualLoss`
(frozen ImageNet features).

Conventions:

- Generator images are in [-1, 1]; :func:`differentiable_ssim` takes the ``data_range`` explicitly (2.0 for
  [-1, 1] images, 1.0 for [0, 1], 100 for DenseDepth's 1000/d targets) and never guesses it.
- A discriminator may return one tensor or a list of tensors (several critics); GAN losses then
  average over the list, so a multi-critic discriminator counts as one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VGG19_Weights, vgg19

from bokeh.errors import BokehError
from bokeh.weights import checkpoint

logger = logging.getLogger("training.losses")

GAN_MODES = ("vanilla", "lsgan")
# torchvision vgg19().features index 34 is conv5_4 (ReLU at 35, max-pool at 36): the perceptual
# feature is its output before the activation, i.e. features[:35] (as in ESRGAN).
VGG_LAYER = 34
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualUnavailableError(BokehError):
    """The VGG19 ImageNet weights needed by the perceptual loss cannot be loaded."""


def _as_list(pred: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(pred, torch.Tensor):
        return [pred]
    preds = list(pred)
    if not preds:
        raise ValueError("A discriminator returned an empty list of outputs.")
    return preds


# --------------------------------------------------------------------------- GAN objectives


def gan_loss(
    pred: torch.Tensor | Sequence[torch.Tensor], target_is_real: bool, *, mode: str
) -> torch.Tensor:
    """Loss of discriminator output(s) ``pred`` against an all-real or all-fake target.

    ``mode="vanilla"``: binary cross-entropy on logits (pix2pix); ``mode="lsgan"``: mean squared
    error to 1 (real) or 0 (fake) (CycleGAN). ``pred`` is a logit map (B, 1, h, w) or a list of
    them (averaged). Returns a scalar.
    """
    if mode not in GAN_MODES:
        raise ValueError(f"GAN loss mode must be one of {', '.join(GAN_MODES)}, got {mode!r}.")
    losses = []
    for p in _as_list(pred):
        p = p.float()
        target = torch.full_like(p, 1.0 if target_is_real else 0.0)
        if mode == "vanilla":
            losses.append(F.binary_cross_entropy_with_logits(p, target))
        else:
            losses.append(F.mse_loss(p, target))
    return torch.stack(losses).mean()


def critic_score(pred: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """WGAN critic value: mean over pixels and batch of each critic map, averaged over critics."""
    return torch.stack([p.float().mean() for p in _as_list(pred)]).mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor | Sequence[torch.Tensor]],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    weight: float = 10.0,
    input_grad: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``weight * E[(||grad_x critic(x_hat)||_2 - 1)^2]`` (Gulrajani et al. 2017).

    ``x_hat`` mixes ``real`` and ``fake`` (same shape (B, C, H, W)) with one uniform weight per
    image; the critic value is :func:`critic_score` per image (critics averaged). The gradient
    is taken with ``create_graph=True`` so the penalty trains the critic. ``input_grad(out,
    inp)`` computes d out / d inp (default ``torch.autograd.grad``; mixed precision passes one
    that scales against fp16 underflow).
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must match, got {tuple(real.shape)} and {tuple(fake.shape)}."
        )
    b = real.shape[0]
    alpha = torch.rand(b, 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = critic(mixed)
    # Sum of per-image scores: its gradient w.r.t. image i is the gradient of score i alone.
    per_image = torch.stack([p.float().reshape(b, -1).mean(dim=1) for p in _as_list(out)]).mean(
        dim=0
    )
    total = per_image.sum()
    if input_grad is None:
        (grad,) = torch.autograd.grad(total, mixed, create_graph=True)
    else:
        grad = input_grad(total, mixed)
    norm = grad.float().reshape(b, -1).norm(2, dim=1)
    return weight * ((norm - 1.0) ** 2).mean()


# --------------------------------------------------------------------------- SSIM and gradients


def _gaussian_window(size: int, sigma: float, channels: int, ref: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=ref.device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    w2 = g[:, None] * g[None, :]
    return w2.expand(channels, 1, size, size).contiguous()


def differentiable_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    data_range: float,
    window: int = 11,
    sigma: float = 1.5,
    reduction: str = "mean",
) -> torch.Tensor:
    """Differentiable SSIM (Wang et al. 2004) with a Gaussian window.

    ``x``, ``y``: (B, C, H, W), H and W >= ``window``; values span ``data_range`` (keyword-only,
    required). 11x11 window, sigma 1.5, K1 = 0.01, K2 = 0.03, population statistics, "valid"
    filtering (no padding): the same definition as ``eval.metrics.ssim_gauss`` /
    scikit-image's ``gaussian_weights=True``. Computed in float32. ``reduction="mean"`` returns
    the mean of the SSIM map (a scalar in [-1, 1]); ``"none"`` returns one value per image (B,).
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(
            f"ssim expects two (B, C, H, W) tensors of the same shape, got {tuple(x.shape)} and "
            f"{tuple(y.shape)}."
        )
    if min(x.shape[-2:]) < window:
        raise ValueError(f"ssim needs H, W >= {window}, got {tuple(x.shape[-2:])}.")
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range}.")
    x, y = x.float(), y.float()
    c = x.shape[1]
    w = _gaussian_window(window, sigma, c, x)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x * mu_x
    syy = filt(y * y) - mu_y * mu_y
    sxy = filt(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    smap = num / den
    if reduction == "none":
        return smap.flatten(1).mean(dim=1)
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}.")
    return smap.mean()


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences (dy, dx) of a (B, C, H, W) tensor, each (B, C, H, W) with the last
    row / column zero (the convention of ``tf.image.image_gradients`` used by DenseDepth)."""
    if x.ndim != 4:
        raise ValueError(f"image_gradients expects (B, C, H, W), got {tuple(x.shape)}.")
    dy = F.pad(x[:, :, 1:, :] - x[:, :, :-1, :], (0, 0, 0, 1))
    dx = F.pad(x[:, :, :, 1:] - x[:, :, :, :-1], (0, 1, 0, 0))
    return dy, dx


def gradient_l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of ``|dy_pred - dy_target| + |dx_pred - dx_target|`` (DenseDepth)."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ.")
    dyp, dxp = image_gradients(pred.float())
    dyt, dxt = image_gradients(target.float())
    return ((dyp - dyt).abs() + (dxp - dxt).abs()).mean()


def densedepth_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    max_val: float,
    l1_weight: float = 0.1,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """DenseDepth loss ``l1_weight * L1 + gradient L1 + clip((1 - SSIM) / 2, 0, 1)``.

    ``pred`` and ``target``: (B, 1, h, w) in target units (``depth_scale / depth_cm``, e.g.
    1000/d in 1..100); ``max_val`` is the largest target (``depth_scale / min_depth_cm``, 100)
    and serves as SSIM's data range, as in the authors' code. Returns (total, parts) where
    ``parts`` holds the unweighted ``l1``, ``grad`` and ``ssim`` terms.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ.")
    pred, target = pred.float(), target.float()
    l1 = (pred - target).abs().mean()
    grad = gradient_l1_loss(pred, target)
    window = min(11, *pred.shape[-2:])
    window -= (window + 1) % 2  # keep it odd
    s = differentiable_ssim(pred, target, data_range=max_val, window=window)
    ssim_term = ((1.0 - s) * 0.5).clamp(0.0, 1.0)
    total = l1_weight * l1 + grad + ssim_term
    return total, {"l1": l1, "grad": grad, "ssim": ssim_term}


# --------------------------------------------------------------------------- perceptual


class VGGPerceptualLoss(nn.Module):
    """L1 distance between VGG19 conv5_4 feature maps (torchvision ``features[:35]``).

    ``features`` is the truncated VGG (frozen, eval mode). Inputs are (B, 3, H, W) images in
    [-1, 1]; they are mapped to [0, 1] and ImageNet-normalised here. Build it with
    :func:`vgg19_perceptual`.
    """

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features.eval()
        self.features.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        super().train(mode)
        self.features.eval()  # always frozen: no dropout/batch statistics to update
        return self

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1.0) * 0.5 - self.mean) / self.std

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
            raise ValueError(
                f"perceptual loss expects two (B, 3, H, W) images in [-1, 1], got "
                f"{tuple(pred.shape)} and {tuple(target.shape)}."
            )
        with torch.no_grad():
            ft = self.features(self._prep(target))
        fp = self.features(self._prep(pred))
        return F.l1_loss(fp.float(), ft.float())


def vgg19_features(*, pretrained: bool = True, allow_download: bool = False) -> nn.Module:
    """torchvision VGG19 ``features[:35]`` (up to conv5_4, before its ReLU).

    ``pretrained=True`` loads torchvision's ImageNet weights from the torch hub cache, or
    downloads them when ``allow_download`` is set; otherwise raises
    :class:`PerceptualUnavailableError` saying to use ``--perceptual none``.
    ``pretrained=False`` gives random weights (tests only: meaningless as a loss).
    """
    model = vgg19(weights=None)
    if pretrained:
        url = VGG19_Weights.IMAGENET1K_V1.url
        state = checkpoint.torchvision_cached_state(url)
        if state is None and allow_download:
            state = checkpoint.torchvision_download_state(url)
        if state is None:
            where = (
                "could not be downloaded" if allow_download else "are not in the torch hub cache"
            )
            raise PerceptualUnavailableError(
                f"The VGG19 ImageNet weights for the perceptual loss {where} "
                f"({weights_cache_path(url)}); run once with network access to fetch them "
                "(about 550 MB), or train without it: --perceptual none."
            )
        model.load_state_dict(state, strict=True)
    return model.features[: VGG_LAYER + 1]


def weights_cache_path(url: str) -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def vgg19_perceptual(*, pretrained: bool = True, allow_download: bool = False) -> VGGPerceptualLoss:
    """:class:`VGGPerceptualLoss` on :func:`vgg19_features` (see there for the weights)."""
    return VGGPerceptualLoss(vgg19_features(pretrained=pretrained, allow_download=allow_download))


__all__ = [
    "GAN_MODES",
    "PerceptualUnavailableError",
    "VGGPerceptualLoss",
    "VGG_LAYER",
    "critic_score",
    "densedepth_loss",
    "gan_loss",
    "gradient_l1_loss",
    "gradient_penalty",
    "image_gradients",
    "differentiable_ssim",
    "vgg19_features",
    "vgg19_perceptual",
]
