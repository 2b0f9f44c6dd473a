"""DenseDepth (Alhashim & Wonka 2018): monocular depth, DenseNet-169 encoder.

Loss as published, on targets in DenseDepth units (``depth_scale / depth_cm``, 1000/d with d in
cm clipped to 10..1000, so 1..100): ``0.1 * L1 + L1 of image gradients + clip((1 - SSIM) / 2,
0, 1)`` with SSIM's data range 100 (the largest target). The network predicts at half the input
resolution; the target is area-downsampled to the prediction's size.

Data (``--dataset``):

- ``nyu``: NYU Depth v2 as packaged for DenseDepth (depth in metres, converted with
  :func:`bokeh.models.densedepth.depth_to_target`).
- ``synth``: the synthetic set's normalised disparity ``p`` (1 = near) mapped affinely to
  ``1 + 99 p`` (``training.data.DepthCrops``): proportional to disparity like 1000/d, which is
  all the inference code needs (it min-max normalises the prediction).

Adam, lr 1e-4, betas (0.9, 0.999). The ``full`` preset starts the encoder from torchvision's
ImageNet DenseNet-169 (from the torch hub cache; downloaded when allowed, otherwise random with
a warning). Presets: ``bokeh.models.densedepth.PRESETS``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from bokeh.methods.densedepth import DENSEDEPTH
from bokeh.models.densedepth import DenseDepth
from training.losses import densedepth_loss
from training.recipe import NetworkSlot, Recipe, StepConfig
from training.runtime import unwrap


def default_hparams() -> dict[str, Any]:
    return {"lr": 1e-4, "beta1": 0.9, "beta2": 0.999, "lambda_l1": 0.1}


def build_models(preset: str, hp: dict[str, Any]) -> tuple[dict, dict]:
    cfg = DENSEDEPTH.config(preset)
    model = DenseDepth(cfg, download_encoder=bool(hp.get("allow_download")))
    return {"G": model}, {"G": cfg}


def build_optimizers(models: dict, hp: dict[str, Any]) -> dict[str, torch.optim.Optimizer]:
    return {
        "G": torch.optim.Adam(
            models["G"].parameters(), lr=hp["lr"], betas=(hp["beta1"], hp["beta2"])
        )
    }


def train_step(batch: dict, models: dict, optimizers: dict, cfg: StepConfig) -> dict[str, float]:
    model = models["G"]
    config = unwrap(model).config
    x = (batch["image"] + 1.0) * 0.5  # the network takes RGB in [0, 1]
    target = batch["target"]
    optimizers["G"].zero_grad(set_to_none=True)
    with cfg.amp.autocast():
        pred = model(x)
    target = F.interpolate(target.float(), size=pred.shape[-2:], mode="area")
    max_val = config.depth_scale / config.min_depth_cm
    loss, parts = densedepth_loss(
        pred.float(), target, max_val=max_val, l1_weight=cfg.hp["lambda_l1"]
    )
    cfg.amp.backward(loss)
    cfg.amp.step(optimizers["G"])
    return {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}


RECIPE = Recipe(
    description="DenseDepth: 0.1 * L1 + gradient L1 + (1 - SSIM) / 2 on 1000/d targets",
    slots=(NetworkSlot("G", DENSEDEPTH, DENSEDEPTH.name, inference=True),),
    default_hparams=default_hparams,
    build_models=build_models,
    build_optimizers=build_optimizers,
    train_step=train_step,
    crop_rule=lambda models: (1, 32),
)
