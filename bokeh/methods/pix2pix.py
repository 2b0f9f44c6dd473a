"""pix2pix (Isola et al. 2017): a U-Net 256 generator and a 70x70 PatchGAN on (input, output)."""

from __future__ import annotations

from bokeh.methods.common import translation_method
from bokeh.specs import NetworkSpec, TrainingSpec

GENERATOR = NetworkSpec(
    name="pix2pix-unet",
    label="pix2pix U-Net 256 generator (ngf 64, BatchNorm)",
    role="generator",
    builder="bokeh.models.unet:build_unet",
    presets="bokeh.models.unet:preset",
    # The demo preset keeps a constant learning rate (a minutes-long run).
    training=TrainingSpec(name="pix2pix", data_kind="paired", datasets=("ebb", "synth"),
                          epochs=200, demo_steps=6000, demo_hparams={"lr_decay": 0.0}),
)  # fmt: skip
CRITIC = NetworkSpec(
    name="pix2pix-patchgan",
    label="pix2pix 70x70 PatchGAN on the 6-channel pair",
    role="discriminator",
    builder="bokeh.models.patchgan:build_patchgan",
    presets="bokeh.models.patchgan:preset",
    fixed={"in_channels": 6, "norm": "batch"},
)
PIX2PIX = translation_method(
    "pix2pix",
    label="Pix2Pix (U-Net 256)",
    ui_label="Pix2Pix",
    network=GENERATOR,
    description="A U-Net generator trained on paired (sharp, bokeh) photos with a PatchGAN and "
    "L1 loss; needs trained weights.",
)

SPECS = (PIX2PIX, GENERATOR, CRITIC)
