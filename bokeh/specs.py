"""What a method and a network are, as data: the one declaration everything else reads.

Each method family declares its specs in one file under :mod:`bokeh.methods` (``pix2pix.py``
holds the pix2pix method, its U-Net generator and pair critic with their published configs, and
the demo preset it ships). The registry collects them; the app builds its tabs, controls and
Compare list from them, the CLI its flags, evaluation its rows, and ``training`` its recipes,
demo presets and checkpoints. Specs are light: heavy objects (networks, pipelines) are named by
reference (``"module:attr"``, see :mod:`bokeh.lazy`) and built on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bokeh import lazy
from bokeh.params import Param

KINDS = ("baseline", "depth", "translation")
ROLES = ("generator", "discriminator", "depth")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, eq=False)
class TrainingSpec:
    """How a network is trained and which demo preset ships (``python -m training NAME``).

    name:       the training method (``python -m training pix2pix``); its recipe (the code of
                one step) is ``training.recipes`` entry of the same name.
    data_kind:  "paired", "unpaired" or "depth" (``training.data.build_dataset``).
    datasets:   dataset kinds it trains on; the first is the default.
    crop / epochs: the published defaults (crop side, epochs when no --steps/--epochs).
    demo_*:     the CPU-sized ``demo`` preset run by ``python -m training.demo``.
    """

    name: str
    data_kind: str
    datasets: tuple[str, ...]
    crop: int = 256
    epochs: int = 1
    demo_steps: int = 1000
    demo_crop: int = 128
    demo_lr: float | None = None
    demo_hparams: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "demo_hparams", _frozen(self.demo_hparams))


@dataclass(frozen=True, eq=False)
class NetworkSpec:
    """A network architecture as this project uses it.

    name:     checkpoint name and the ``"model"`` field of its JSON (``pix2pix-unet``).
    role:     "generator", "discriminator" or "depth".
    builder:  reference to ``build(config_dict_or_None) -> nn.Module`` in ``bokeh.models``.
    presets:  reference to ``preset(name, **overrides) -> config dataclass`` ("full" is the
              published size, "demo" the CPU-sized one).
    fixed:    config fields this use fixes on top of any preset (e.g. a pair critic's 6 input
              channels); stated here once, used by inference, training and parameter counts.
    training: how it is trained, for the network a method runs at inference.
    """

    name: str
    label: str
    role: str
    builder: str
    presets: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    training: TrainingSpec | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"network role must be one of {ROLES}; got {self.role!r}")
        object.__setattr__(self, "fixed", _frozen(self.fixed))

    def build(self, config: Mapping[str, Any] | None = None):
        """The network built from a stored config dict (None: the published configuration)."""
        return lazy.load(self.builder)({**self.fixed, **dict(config or {})})

    def config(self, preset: str = "full", **overrides: Any):
        """The config dataclass of a named preset, with this use's fixed fields."""
        return lazy.load(self.presets)(preset, **{**self.fixed, **overrides})


@dataclass(frozen=True, eq=False)
class MethodSpec:
    """A method a user can run: ``pipe = load_method(name); pipe(image, focus=..., **settings)``.

    kind:      "baseline", "depth" (depth + a renderer) or "translation" (image to image).
    ui_label:  its name in the app: the tab of a translation method, the renderer choice of a
               depth method (``label`` is the long name used in tables and results).
    pipeline:  reference to a factory ``(spec) -> pipeline`` (inference only, one ``__call__``).
    renderer:  depth methods: reference to ``render(image, disparity, *, focus, settings)``.
    params:    the settings it takes (validation, CLI flags and app controls come from these).
    networks:  the networks whose weights it runs; ``weights_required``: False when it still
               runs without them (depth methods fall back to other depth sources).
    family / defaults: named variants (``depth-gauss-0.2``) share a family and fix settings;
               they are for evaluation and the CLI, not for the app's tabs or Compare.
    """

    name: str
    label: str
    kind: str
    description: str
    pipeline: str
    ui_label: str = ""
    renderer: str | None = None
    params: tuple[Param, ...] = ()
    networks: tuple[NetworkSpec, ...] = ()
    weights_required: bool = False
    family: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"method kind must be one of {KINDS}; got {self.kind!r}")
        if self.kind == "depth" and not self.renderer:
            raise ValueError(f"depth method {self.name!r} needs a renderer reference")
        object.__setattr__(self, "defaults", _frozen(self.defaults))
        if not self.ui_label:
            object.__setattr__(self, "ui_label", self.label)

    @property
    def is_variant(self) -> bool:
        return self.family is not None

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


__all__ = ["KINDS", "ROLES", "MethodSpec", "NetworkSpec", "TrainingSpec"]
