"""pix2pix (Isola et al. 2017): U-Net generator, 70x70 PatchGAN on (input, output) pairs.

Direction: sharp original -> bokeh. Losses as published: the discriminator sees the 6-channel
``concat[original, image]`` and minimises ``0.5 * (BCE(D(x, y), 1) + BCE(D(x, G(x)), 0))``
(vanilla GAN, logits); the generator minimises ``BCE(D(x, G(x)), 1) + 100 * L1(G(x), y)``.
Adam, lr 2e-4, betas (0.5, 0.999), for both networks. One step: G forward, D update, G update.
Paper defaults: batch size 1, 256x256 crops, 200 epochs (the default when neither --steps
nor --epochs is given).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from bokeh.methods.pix2pix import CRITIC, GENERATOR
from bokeh.models.patchgan import PatchGANDiscriminator
from bokeh.models.unet import UNetGenerator
from training.losses import gan_loss
from training.recipe import NetworkSlot, Recipe, StepConfig
from training.runtime import set_requires_grad, unwrap


def default_hparams() -> dict[str, Any]:
    # lr_decay 0.5: constant, then linear to 0 over the second half (the reference schedule)
    return {
        "lr": 2e-4,
        "lr_decay": 0.5,
        "beta1": 0.5,
        "beta2": 0.999,
        "lambda_l1": 100.0,
        "gan_mode": "vanilla",
    }


def build_models(preset: str, hp: dict[str, Any]) -> tuple[dict, dict]:
    g_cfg, d_cfg = GENERATOR.config(preset), CRITIC.config(preset)
    models = {"G": UNetGenerator(g_cfg), "D": PatchGANDiscriminator(d_cfg)}
    return models, {"G": g_cfg, "D": d_cfg}


def build_optimizers(models: dict, hp: dict[str, Any]) -> dict[str, torch.optim.Optimizer]:
    betas = (hp["beta1"], hp["beta2"])
    return {
        "G": torch.optim.Adam(models["G"].parameters(), lr=hp["lr"], betas=betas),
        "D": torch.optim.Adam(models["D"].parameters(), lr=hp["lr"], betas=betas),
    }


def train_step(batch: dict, models: dict, optimizers: dict, cfg: StepConfig) -> dict[str, float]:
    x, y = batch["original"], batch["bokeh"]
    G, D = models["G"], models["D"]
    opt_g, opt_d = optimizers["G"], optimizers["D"]
    amp, hp = cfg.amp, cfg.hp

    with amp.autocast():
        fake = G(x)

    # Discriminator: real pairs -> 1, generated pairs -> 0.
    set_requires_grad(D, True)
    opt_d.zero_grad(set_to_none=True)
    with amp.autocast():
        loss_d_fake = gan_loss(D(torch.cat([x, fake.detach()], 1)), False, mode=hp["gan_mode"])
        loss_d_real = gan_loss(D(torch.cat([x, y], 1)), True, mode=hp["gan_mode"])
        loss_d = 0.5 * (loss_d_fake + loss_d_real)
    amp.backward(loss_d)
    amp.step(opt_d)

    # Generator: fool D (evaluated unwrapped: frozen, outside DDP's gradient sync) + L1.
    set_requires_grad(D, False)
    opt_g.zero_grad(set_to_none=True)
    with amp.autocast():
        loss_g_gan = gan_loss(unwrap(D)(torch.cat([x, fake], 1)), True, mode=hp["gan_mode"])
        loss_l1 = F.l1_loss(fake.float(), y.float())
        loss_g = loss_g_gan + hp["lambda_l1"] * loss_l1
    amp.backward(loss_g)
    amp.step(opt_g)
    set_requires_grad(D, True)
    return {
        "G_gan": loss_g_gan.item(),
        "G_L1": loss_l1.item(),
        "D_real": loss_d_real.item(),
        "D_fake": loss_d_fake.item(),
    }


RECIPE = Recipe(
    description="pix2pix: U-Net + 70x70 PatchGAN, vanilla GAN + 100 * L1",
    slots=(
        NetworkSlot("G", GENERATOR, GENERATOR.name, inference=True),
        NetworkSlot("D", CRITIC, CRITIC.name),
    ),
    default_hparams=default_hparams,
    build_models=build_models,
    build_optimizers=build_optimizers,
    train_step=train_step,
    crop_rule=lambda models: (models["G"].multiple, models["G"].min_side),
)
