"""What a training recipe is: the code of one method's training step, tied to its spec.

The facts about a trained network (its training name, data kind, datasets, published crop and
epochs, the demo preset) live in its :class:`~bokeh.specs.TrainingSpec`, beside its definition
in :mod:`bokeh.methods`. A :class:`Recipe` adds the code:

- ``slots``: the networks it trains (key in the ``models`` dict, the registry network, and the
  checkpoint name the weights are saved under; ``inference`` marks the one the app runs);
- ``build_models(preset, hp)`` -> ``(models, configs)``: modules built from the networks'
  named presets (``"full"`` = the published sizes, ``"demo"`` = CPU-sized); ``configs`` holds
  each network's config dataclass, stored beside its weights;
- ``build_optimizers(models, hp)`` -> ``{name: torch.optim.Optimizer}`` (Adam as published);
- ``make_extras(models, hp, device)`` -> helpers a step needs (image pools, the VGG loss);
- ``train_step(batch, models, optimizers, cfg)`` -> ``{loss name: float}``: one update of every
  network on ``batch``. It reads everything else from ``cfg`` (:class:`StepConfig`).

``default_hparams()`` gives the published loss weights and optimiser settings; the command line
overrides ``lr`` (and any key with ``--hp KEY=VALUE``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bokeh.specs import NetworkSpec, TrainingSpec


@dataclass(frozen=True)
class NetworkSlot:
    """A network a recipe trains.

    key:        its key in the ``models`` / ``configs`` dicts (``"G"``, ``"D"``, ...).
    network:    the network's spec (the checkpoint's ``"model"`` field is its name;
                ``network.build(config)`` rebuilds it).
    checkpoint: file stem of its checkpoint (``<checkpoint>.safetensors`` + ``.json``).
    inference:  True for the network the app and evaluation run (shipped as demo weights).
    """

    key: str
    network: NetworkSpec
    checkpoint: str
    inference: bool = False


@dataclass
class StepConfig:
    """Everything ``train_step`` needs besides the batch, models and optimizers.

    hp: hyper-parameters (loss weights, ...); device; amp (a :class:`training.runtime.Amp`);
    extras: from ``make_extras`` (image pools, perceptual loss); step: 0-based global step.
    """

    hp: dict[str, Any]
    device: Any
    amp: Any
    extras: dict[str, Any] = field(default_factory=dict)
    step: int = 0


def _no_extras(models: dict, hp: dict, device: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Recipe:
    """One training method; see the module docstring."""

    description: str
    slots: tuple[NetworkSlot, ...]
    default_hparams: Callable[[], dict[str, Any]]
    build_models: Callable[[str, dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
    build_optimizers: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
    train_step: Callable[[dict, dict, dict, StepConfig], dict[str, float]]
    make_extras: Callable[[dict, dict, Any], dict[str, Any]] = _no_extras
    # (multiple, minimum) a crop must satisfy for the built models; default: every model's
    # ``multiple`` / ``min_side`` attributes
    crop_rule: Callable[[dict[str, Any]], tuple[int, int]] | None = None
    build_data: Callable[..., Any] | None = None  # custom dataset builder (tests); else by kind

    def __post_init__(self) -> None:
        if (
            sum(s.inference for s in self.slots) != 1
            or self.inference_slot.network.training is None
        ):
            raise ValueError("a recipe has exactly one inference slot, whose network has a "
                             "TrainingSpec")  # fmt: skip

    @property
    def inference_slot(self) -> NetworkSlot:
        return next(s for s in self.slots if s.inference)

    @property
    def training(self) -> TrainingSpec:
        return self.inference_slot.network.training

    @property
    def name(self) -> str:
        return self.training.name

    @property
    def data_kind(self) -> str:
        return self.training.data_kind

    @property
    def datasets(self) -> tuple[str, ...]:
        return self.training.datasets

    @property
    def default_crop(self) -> int:
        return self.training.crop

    @property
    def default_epochs(self) -> int:
        return self.training.epochs

    def slot(self, key: str) -> NetworkSlot:
        for s in self.slots:
            if s.key == key:
                return s
        raise KeyError(key)


def crop_rule(recipe: Recipe, models: dict[str, Any]) -> tuple[int, int]:
    """(multiple, minimum side) of training crops for ``models``."""
    if recipe.crop_rule is not None:
        return recipe.crop_rule(models)
    multiple, minimum = 1, 1
    for m in models.values():
        mult = int(getattr(m, "multiple", 1))
        multiple = multiple * mult // math.gcd(multiple, mult)
        minimum = max(minimum, int(getattr(m, "min_side", 1)))
    return multiple, minimum


__all__ = ["NetworkSlot", "Recipe", "StepConfig", "crop_rule"]
