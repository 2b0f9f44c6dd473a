"""BGGAN (Qian et al. 2020): a two-stage Glass-Net and two PatchGAN critics (WGAN-GP)."""

from __future__ import annotations

from bokeh.methods.common import translation_method
from bokeh.specs import NetworkSpec, TrainingSpec

GENERATOR = NetworkSpec(
    name="bggan-glassnet",
    label="BGGAN Glass-Net generator (two stages)",
    role="generator",
    builder="bokeh.models.glassnet:build_glassnet",
    presets="bokeh.models.glassnet:preset",
    # The published adversarial weight (1.0 against 0.5 L1) drowns the reconstruction terms in
    # a short CPU run with an unbounded WGAN critic; the demo uses a smaller one.
    training=TrainingSpec(name="bggan", data_kind="paired", datasets=("ebb", "synth"),
                          epochs=100, demo_steps=3000, demo_hparams={"lambda_adv": 0.02}),
)  # fmt: skip
CRITIC = NetworkSpec(
    name="bggan-critic",
    label="BGGAN multi-receptive-field critics (PatchGAN L = 3 and 5)",
    role="discriminator",
    builder="bokeh.models.patchgan:build_multipatchgan",
    presets="bokeh.models.patchgan:multi_preset",
)
BGGAN = translation_method(
    "bggan",
    label="BGGAN (Glass-Net)",
    ui_label="BGGAN",
    network=GENERATOR,
    description="A two-stage Glass-Net generator trained with multi-receptive-field critics "
    "(WGAN-GP), L1, SSIM and perceptual losses; needs trained weights.",
)

SPECS = (BGGAN, GENERATOR, CRITIC)
