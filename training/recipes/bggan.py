"""BGGAN (Qian et al., ECCV-W 2020): Glass-Net generator, two-critic WGAN-GP discriminator.

Direction: sharp original -> bokeh. The generator returns ``(y2, y1)`` (final and rough
outputs); both are supervised with the same reconstruction loss, the adversarial term uses the
final output ``y2``:

- critic value ``C(img)``: the mean of each critic map of the multi-receptive-field
  discriminator (``MultiPatchGAN``: L = 3 and L = 5), averaged over the two critics;
- discriminator (WGAN-GP): ``C(G(x)) - C(y) + 10 * GP`` (gradient penalty on random mixtures
  of real and generated images), ``n_critic`` updates per generator update (default 1);
- generator: for each output ``y_k`` in (y2, y1): ``0.5 * L1(y_k, y) + 0.05 * (-SSIM(y_k, y))
  + 0.1 * VGG19(y_k, y)``, plus ``1.0 * (-C(y2))``. SSIM is the differentiable Gaussian-window
  SSIM of the images mapped to [0, 1] (data range 1); VGG19 is the L1 distance of torchvision's
  ``features[:35]`` (conv5_4) maps. ``--perceptual none`` drops the VGG term (no ImageNet
  weights offline).

Adam, lr 2e-4, betas (0.5, 0.999), for both networks (the settings the brief specifies for all
GANs here). Crops must be multiples of 8 and at least 96 px, so that the 5-layer critic still
has 2x2 positions for its InstanceNorm.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from bokeh.methods.bggan import CRITIC, GENERATOR
from bokeh.models.glassnet import GlassNet
from bokeh.models.patchgan import MultiPatchGAN
from training.losses import critic_score, differentiable_ssim, gradient_penalty, vgg19_perceptual
from training.recipe import NetworkSlot, Recipe, StepConfig
from training.runtime import set_requires_grad, unwrap


def default_hparams() -> dict[str, Any]:
    return {
        "lr": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "lambda_l1": 0.5,
        "lambda_ssim": 0.05,
        "lambda_perceptual": 0.1,
        "lambda_adv": 1.0,
        "lambda_gp": 10.0,
        "n_critic": 1,
        "perceptual": "vgg19",
    }


def build_models(preset: str, hp: dict[str, Any]) -> tuple[dict, dict]:
    g_cfg, d_cfg = GENERATOR.config(preset), CRITIC.config(preset)
    models = {"G": GlassNet(g_cfg), "D": MultiPatchGAN(d_cfg)}
    return models, {"G": g_cfg, "D": d_cfg}


def build_optimizers(models: dict, hp: dict[str, Any]) -> dict[str, torch.optim.Optimizer]:
    betas = (hp["beta1"], hp["beta2"])
    return {
        "G": torch.optim.Adam(models["G"].parameters(), lr=hp["lr"], betas=betas),
        "D": torch.optim.Adam(models["D"].parameters(), lr=hp["lr"], betas=betas),
    }


def make_extras(models: dict, hp: dict[str, Any], device: Any) -> dict[str, Any]:
    if hp.get("perceptual", "vgg19") == "none" or hp["lambda_perceptual"] == 0:
        return {}
    vgg = vgg19_perceptual(pretrained=True, allow_download=bool(hp.get("allow_download")))
    return {"perceptual": vgg.to(device)}


def _reconstruction(out: torch.Tensor, y: torch.Tensor, cfg: StepConfig) -> dict[str, torch.Tensor]:
    hp = cfg.hp
    parts = {
        "l1": F.l1_loss(out.float(), y.float()),
        # SSIM's luminance term is not shift-invariant: compare in [0, 1], not [-1, 1]
        "ssim": differentiable_ssim((out.float() + 1) * 0.5, (y.float() + 1) * 0.5, data_range=1.0),
    }
    vgg = cfg.extras.get("perceptual")
    if vgg is not None:
        parts["vgg"] = vgg(out, y)
    total = hp["lambda_l1"] * parts["l1"] - hp["lambda_ssim"] * parts["ssim"]
    if "vgg" in parts:
        total = total + hp["lambda_perceptual"] * parts["vgg"]
    parts["total"] = total
    return parts


def train_step(batch: dict, models: dict, optimizers: dict, cfg: StepConfig) -> dict[str, float]:
    x, y = batch["original"], batch["bokeh"]
    G, D = models["G"], models["D"]
    amp, hp = cfg.amp, cfg.hp
    critic = unwrap(D)

    with amp.autocast():
        y2, y1 = G(x)

    # Critic: WGAN-GP on the averaged critics.
    set_requires_grad(D, True)
    n_critic = max(1, int(hp["n_critic"]))
    for i in range(n_critic):
        fake = y2.detach()
        if i > 0:  # extra critic steps on fresh generator samples
            with torch.no_grad(), amp.autocast():
                fake = unwrap(G)(x)[0]
            amp.update()
        optimizers["D"].zero_grad(set_to_none=True)
        with amp.autocast():
            d_real = critic_score(D(y))
            d_fake = critic_score(D(fake))
            gp = gradient_penalty(D, y, fake, weight=hp["lambda_gp"], input_grad=amp.input_grad)
            loss_d = d_fake - d_real + gp
        amp.backward(loss_d)
        amp.step(optimizers["D"])

    # Generator: reconstruction on both outputs + adversarial on the final one.
    set_requires_grad(D, False)
    optimizers["G"].zero_grad(set_to_none=True)
    with amp.autocast():
        rec2 = _reconstruction(y2, y, cfg)
        rec1 = _reconstruction(y1, y, cfg)
        adv = -critic_score(critic(y2))
        loss_g = rec2["total"] + rec1["total"] + hp["lambda_adv"] * adv
    amp.backward(loss_g)
    amp.step(optimizers["G"])
    set_requires_grad(D, True)
    out = {
        "G_L1": rec2["l1"].item(),
        "G_SSIM": rec2["ssim"].item(),
        "G1_L1": rec1["l1"].item(),
        "G_adv": adv.item(),
        "D_wdist": (d_real - d_fake).item(),
        "D_gp": gp.item(),
    }
    if "vgg" in rec2:
        out["G_VGG"] = rec2["vgg"].item()
    return out


def _crop_rule(models: dict) -> tuple[int, int]:
    layers = unwrap(models["D"]).config.layers
    return models["G"].multiple, max(models["G"].min_side, 3 * 2 ** max(layers))


RECIPE = Recipe(
    description="BGGAN: Glass-Net + two-critic WGAN-GP, 0.5 L1 + 0.05 (-SSIM) + 0.1 VGG19 + adv",
    slots=(
        NetworkSlot("G", GENERATOR, GENERATOR.name, inference=True),
        NetworkSlot("D", CRITIC, CRITIC.name),
    ),
    default_hparams=default_hparams,
    build_models=build_models,
    build_optimizers=build_optimizers,
    train_step=train_step,
    make_extras=make_extras,
    crop_rule=_crop_rule,
)
