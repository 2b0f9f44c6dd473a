"""CycleGAN (Zhu et al. 2017): ResNet-9 generators and PatchGAN critics, trained unpaired."""

from __future__ import annotations

from bokeh.methods.common import translation_method
from bokeh.specs import NetworkSpec, TrainingSpec

GENERATOR = NetworkSpec(
    name="cyclegan-resnet",
    label="CycleGAN ResNet generator (9 blocks, InstanceNorm)",
    role="generator",
    builder="bokeh.models.resnet:build_resnet",
    presets="bokeh.models.resnet:preset",
    training=TrainingSpec(name="cyclegan", data_kind="unpaired", datasets=("ebb", "synth"),
                          epochs=200, demo_steps=1200, demo_hparams={"lr_decay": 0.0}),
)  # fmt: skip
CRITIC = NetworkSpec(
    name="cyclegan-patchgan",
    label="CycleGAN 70x70 PatchGAN on 3 channels (InstanceNorm)",
    role="discriminator",
    builder="bokeh.models.patchgan:build_patchgan",
    presets="bokeh.models.patchgan:preset",
    fixed={"in_channels": 3, "norm": "instance"},
)
CYCLEGAN = translation_method(
    "cyclegan",
    label="CycleGAN (ResNet-9)",
    ui_label="CycleGAN",
    network=GENERATOR,
    description="A ResNet generator trained on unpaired sharp and bokeh photos with cycle "
    "consistency; needs trained weights.",
)

SPECS = (CYCLEGAN, GENERATOR, CRITIC)
