"""DenseDepth (Alhashim & Wonka 2018), the paper's depth network: the ``model`` depth source."""

from __future__ import annotations

from bokeh.specs import NetworkSpec, TrainingSpec

DENSEDEPTH = NetworkSpec(
    name="densedepth",
    label="DenseDepth (DenseNet-169 encoder, decoder width 1.0)",
    role="depth",
    builder="bokeh.models.densedepth:build_densedepth",
    presets="bokeh.models.densedepth:preset",
    # From a random encoder (no ImageNet weights offline) 1e-3 lowers the loss several times
    # faster than the published 1e-4 in short runs.
    training=TrainingSpec(name="densedepth", data_kind="depth", datasets=("nyu", "synth"),
                          epochs=20, demo_steps=1500, demo_lr=1e-3),
)  # fmt: skip

SPECS = (DENSEDEPTH,)
