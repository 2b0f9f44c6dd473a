"""CycleGAN (Zhu et al. 2017): two ResNet generators and two 3-channel PatchGANs, unpaired.

Domains: A = sharp originals, B = bokeh images, drawn independently (``UnpairedCrops``).
``G``: A -> B (the network the app runs), ``F``: B -> A; ``D_bokeh`` judges domain B,
``D_sharp`` domain A. Losses as published (LSGAN):

- generators: ``MSE(D_bokeh(G(a)), 1) + MSE(D_sharp(F(b)), 1)``
  ``+ 10 * (L1(F(G(a)), a) + L1(G(F(b)), b))`` (cycle)
  ``+ 0.5 * 10 * (L1(G(b), b) + L1(F(a), a))`` (identity);
- discriminators: ``0.5 * (MSE(D(real), 1) + MSE(D(pool(fake)), 0))`` each, where ``pool`` is an
  :class:`ImagePool` of the last 50 generated images (Shrivastava et al. 2017).

Adam, lr 2e-4, betas (0.5, 0.999); one optimizer over both generators and one over both
discriminators, as in the reference code. One step: generators first (discriminators frozen),
then discriminators. Paper defaults: batch size 1, 256x256 crops, 200 epochs, the learning rate
constant for the first 100 and decayed linearly to 0 over the last 100 (``lr_decay`` 0.5: the
fraction of the run that decays; see :func:`training.runtime.lr_factor`).
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn.functional as F

from bokeh.methods.cyclegan import CRITIC, GENERATOR
from bokeh.models.patchgan import PatchGANDiscriminator
from bokeh.models.resnet import ResnetGenerator
from training.losses import gan_loss
from training.recipe import NetworkSlot, Recipe, StepConfig
from training.runtime import set_requires_grad, unwrap


class ImagePool:
    """A buffer of up to ``size`` generated images (Shrivastava et al. 2017).

    ``query(images)`` returns a batch of the same shape: while the pool fills, the new images
    themselves; afterwards each image is, with probability 0.5, swapped for a random stored one
    (which the new image replaces). Uses torch's global generator, so it follows the run's
    seed and is restored on resume. ``size=0`` disables it.
    """

    def __init__(self, size: int = 50) -> None:
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}.")
        self.size = int(size)
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(()).item() < 0.5:
                j = int(torch.randint(0, self.size, ()).item())
                out.append(self.images[j].clone())
                self.images[j] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    # resume support (training.loop saves these tensors in train_state.safetensors)
    def train_state(self) -> dict[str, torch.Tensor]:
        if not self.images:
            return {}
        return {"images": torch.cat(self.images, 0)}

    def load_train_state(self, state: dict[str, torch.Tensor]) -> None:
        stack = state.get("images")
        self.images = [] if stack is None else [t.unsqueeze(0).clone() for t in stack]


def default_hparams() -> dict[str, Any]:
    return {
        "lr": 2e-4,
        "lr_decay": 0.5,
        "beta1": 0.5,
        "beta2": 0.999,
        "lambda_cycle": 10.0,
        "lambda_identity": 0.5,
        "pool_size": 50,
        "gan_mode": "lsgan",
    }


def build_models(preset: str, hp: dict[str, Any]) -> tuple[dict, dict]:
    g_cfg, d_cfg = GENERATOR.config(preset), CRITIC.config(preset)
    models = {
        "G": ResnetGenerator(g_cfg),
        "F": ResnetGenerator(g_cfg),
        "D_bokeh": PatchGANDiscriminator(d_cfg),
        "D_sharp": PatchGANDiscriminator(d_cfg),
    }
    return models, {"G": g_cfg, "F": g_cfg, "D_bokeh": d_cfg, "D_sharp": d_cfg}


def build_optimizers(models: dict, hp: dict[str, Any]) -> dict[str, torch.optim.Optimizer]:
    betas = (hp["beta1"], hp["beta2"])
    gens = itertools.chain(models["G"].parameters(), models["F"].parameters())
    discs = itertools.chain(models["D_bokeh"].parameters(), models["D_sharp"].parameters())
    return {
        "G": torch.optim.Adam(gens, lr=hp["lr"], betas=betas),
        "D": torch.optim.Adam(discs, lr=hp["lr"], betas=betas),
    }


def make_extras(models: dict, hp: dict[str, Any], device: Any) -> dict[str, Any]:
    return {"pool_bokeh": ImagePool(hp["pool_size"]), "pool_sharp": ImagePool(hp["pool_size"])}


def train_step(batch: dict, models: dict, optimizers: dict, cfg: StepConfig) -> dict[str, float]:
    a, b = batch["original"], batch["bokeh"]
    G, Fn = models["G"], models["F"]
    D_b, D_a = models["D_bokeh"], models["D_sharp"]
    amp, hp, mode = cfg.amp, cfg.hp, cfg.hp["gan_mode"]
    lam_c = hp["lambda_cycle"]
    lam_i = hp["lambda_identity"] * lam_c

    # Generators (discriminators frozen and run outside DDP).
    set_requires_grad(D_b, False)
    set_requires_grad(D_a, False)
    optimizers["G"].zero_grad(set_to_none=True)
    with amp.autocast():
        fake_b = G(a)
        fake_a = Fn(b)
        rec_a = Fn(fake_b)
        rec_b = G(fake_a)
        loss_gan_g = gan_loss(unwrap(D_b)(fake_b), True, mode=mode)
        loss_gan_f = gan_loss(unwrap(D_a)(fake_a), True, mode=mode)
        loss_cycle = F.l1_loss(rec_a.float(), a.float()) + F.l1_loss(rec_b.float(), b.float())
        if lam_i > 0:
            loss_idt = F.l1_loss(G(b).float(), b.float()) + F.l1_loss(Fn(a).float(), a.float())
        else:
            loss_idt = torch.zeros((), device=a.device)
        loss_g = loss_gan_g + loss_gan_f + lam_c * loss_cycle + lam_i * loss_idt
    amp.backward(loss_g)
    amp.step(optimizers["G"])

    # Discriminators on real images and pooled fakes.
    set_requires_grad(D_b, True)
    set_requires_grad(D_a, True)
    optimizers["D"].zero_grad(set_to_none=True)
    pooled_b = cfg.extras["pool_bokeh"].query(fake_b.detach())
    pooled_a = cfg.extras["pool_sharp"].query(fake_a.detach())
    with amp.autocast():
        loss_d_b = 0.5 * (
            gan_loss(D_b(b), True, mode=mode) + gan_loss(D_b(pooled_b), False, mode=mode)
        )
        loss_d_a = 0.5 * (
            gan_loss(D_a(a), True, mode=mode) + gan_loss(D_a(pooled_a), False, mode=mode)
        )
        loss_d = loss_d_b + loss_d_a
    amp.backward(loss_d)
    amp.step(optimizers["D"])
    return {
        "G_gan": loss_gan_g.item(),
        "F_gan": loss_gan_f.item(),
        "cycle": loss_cycle.item(),
        "identity": loss_idt.item(),
        "D_bokeh": loss_d_b.item(),
        "D_sharp": loss_d_a.item(),
    }


def _crop_rule(models: dict) -> tuple[int, int]:
    return models["G"].multiple, models["G"].min_side


RECIPE = Recipe(
    description="CycleGAN: ResNet generators + PatchGANs, LSGAN + cycle 10 + identity 0.5",
    slots=(
        NetworkSlot("G", GENERATOR, GENERATOR.name, inference=True),
        NetworkSlot("F", GENERATOR, f"{GENERATOR.name}-inverse"),
        NetworkSlot("D_bokeh", CRITIC, CRITIC.name),
        NetworkSlot("D_sharp", CRITIC, f"{CRITIC.name}-sharp"),
    ),
    default_hparams=default_hparams,
    build_models=build_models,
    build_optimizers=build_optimizers,
    train_step=train_step,
    make_extras=make_extras,
    crop_rule=_crop_rule,
)
