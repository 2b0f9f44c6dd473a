"""Training recipes: what to build and how one step trains it, one module per method.

A :class:`Recipe` bundles

- ``slots``: the networks it trains (key in the ``models`` dict, registry network name, and the
  checkpoint name the weights are saved under; ``inference`` marks the one the app runs);
- ``build_models(preset, hp)`` -> ``(models, configs)``: modules from ``bokeh.models`` built from
  the named preset (``"full"`` = the published sizes, ``"demo"`` = CPU-sized); ``configs`` holds
  each network's config dataclass, stored beside its weights;
- ``build_optimizers(models, hp)`` -> ``{name: torch.optim.Optimizer}`` (Adam as published);
- ``make_extras(models, hp, device)`` -> helpers a step needs (image pools, the VGG loss);
- ``train_step(batch, models, optimizers, cfg)`` -> ``{loss name: float}``: one update of every
  network on ``batch``. It reads everything else from ``cfg`` (:class:`StepConfig`).

``default_hparams()`` gives the published loss weights and optimiser settings; the command line
overrides ``lr`` (and any key with ``--hp KEY=VALUE``).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bokeh.errors import UnknownMethodError

# name -> module defining RECIPE (an explicit table; nothing is discovered by string building)
_MODULES = {
    "pix2pix": "training.recipes.pix2pix",
    "cyclegan": "training.recipes.cyclegan",
    "bggan": "training.recipes.bggan",
    "densedepth": "training.recipes.densedepth",
}
METHODS = tuple(_MODULES)


@dataclass(frozen=True)
class NetworkSlot:
    """A network a recipe trains.

    key:        its key in the ``models`` / ``configs`` dicts (``"G"``, ``"D"``, ...).
    network:    the architecture's name in ``bokeh.registry.NETWORKS`` (the checkpoint's
                ``"model"`` field; ``NETWORKS[network].build(config)`` rebuilds it).
    checkpoint: file stem of its checkpoint (``<checkpoint>.safetensors`` + ``.json``).
    inference:  True for the network(s) the app and evaluation run (shipped as demo weights).
    """

    key: str
    network: str
    checkpoint: str
    inference: bool = False


@dataclass
class StepConfig:
    """Everything ``train_step`` needs besides the batch, models and optimizers.

    hp: hyper-parameters (loss weights, ...); device; amp (a :class:`training.loop.Amp`);
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

    name: str
    description: str
    data_kind: str  # "paired", "unpaired" or "depth" (training.data.build_dataset)
    datasets: tuple[str, ...]  # dataset kinds it accepts; the first is the default
    slots: tuple[NetworkSlot, ...]
    default_hparams: Callable[[], dict[str, Any]]
    build_models: Callable[[str, dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
    build_optimizers: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
    train_step: Callable[[dict, dict, dict, StepConfig], dict[str, float]]
    make_extras: Callable[[dict, dict, Any], dict[str, Any]] = _no_extras
    default_crop: int = 256
    default_epochs: int = 1  # when neither --steps nor --epochs is given (the paper's)
    # (multiple, minimum) a crop must satisfy for the built models; default: every model's
    # ``multiple`` / ``min_side`` attributes
    crop_rule: Callable[[dict[str, Any]], tuple[int, int]] | None = None
    build_data: Callable[..., Any] | None = None  # custom dataset builder (tests); else by kind

    def slot(self, key: str) -> NetworkSlot:
        for s in self.slots:
            if s.key == key:
                return s
        raise KeyError(key)


def get_recipe(name: str) -> Recipe:
    """The recipe of method ``name``; :class:`UnknownMethodError` lists the available ones."""
    module = _MODULES.get(name)
    if module is None:
        close = difflib.get_close_matches(str(name), METHODS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownMethodError(
            f"unknown training method {name!r}{hint}; available: {', '.join(METHODS)}."
        )
    return importlib.import_module(module).RECIPE


def crop_rule(recipe: Recipe, models: dict[str, Any]) -> tuple[int, int]:
    """(multiple, minimum side) of training crops for ``models``."""
    if recipe.crop_rule is not None:
        return recipe.crop_rule(models)
    import math

    multiple, minimum = 1, 1
    for m in models.values():
        mult = int(getattr(m, "multiple", 1))
        multiple = multiple * mult // math.gcd(multiple, mult)
        minimum = max(minimum, int(getattr(m, "min_side", 1)))
    return multiple, minimum


__all__ = ["METHODS", "NetworkSlot", "Recipe", "StepConfig", "crop_rule", "get_recipe"]
