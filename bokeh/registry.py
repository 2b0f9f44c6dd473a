"""The one table of methods (and of networks) that the app, the CLI, evaluation and training read.

A typo gives ``unknown method 'depth-lense'; did you mean 'depth-lens'? Available: ...``.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bokeh.errors import UnknownMethodError
from bokeh.params import Param


@dataclass(frozen=True)
class NetworkSpec:
    """A network architecture the project defines. ``build(config_dict_or_None)`` -> nn.Module."""

    name: str
    label: str
    role: str  # "depth", "generator" or "discriminator"
    build: Callable[[dict | None], Any]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    kind: "baseline", "depth" (depth + blur) or "translation" (image-to-image network).
    networks: names in NETWORKS whose weights the method uses (resolved by bokeh.weights).
    weights_required: False when the method still works without them (depth methods fall back
        to the classical depth estimate); True when it cannot run without trained weights.
    family / defaults: named variants share a builder and fix some settings.
    """

    name: str
    label: str
    kind: str
    description: str
    params: tuple[Param, ...]
    build: Callable[[], Any]
    networks: tuple[str, ...] = ()
    weights_required: bool = False
    family: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)

    def weights_status(self) -> str:
        """Cheap, never downloads: "none needed", or one status per network."""
        if not self.networks:
            return "none needed"
        from bokeh.weights import weights_status

        parts = [f"{n}: {weights_status(n)}" for n in self.networks]
        text = ", ".join(parts)
        if not self.weights_required and "no weights" in text:
            text += " (classical depth is used instead)"
        return text

    def parameter_count(self) -> int:
        """Parameters of the networks it runs (0 for none), counted without allocating them."""
        return sum(network_parameter_count(n) for n in self.networks)


def _densedepth(config: dict | None):
    from bokeh.models.densedepth import build_densedepth

    return build_densedepth(config)


def _network(module: str, builder: str, **defaults):
    """A ``build(config_dict_or_None)`` for a model in bokeh.models: ``defaults`` (the network's
    published configuration) under the given dict; None builds the defaults."""

    def build(config: dict | None):
        import importlib

        return getattr(importlib.import_module(f"bokeh.models.{module}"), builder)(
            {**defaults, **(config or {})}
        )

    return build


NETWORKS: dict[str, NetworkSpec] = {
    spec.name: spec
    for spec in (
        NetworkSpec("densedepth", "DenseDepth (DenseNet-169 encoder, decoder width 1.0)", "depth",
                    _densedepth),
        NetworkSpec("pix2pix-unet", "pix2pix U-Net 256 generator (ngf 64, BatchNorm)",
                    "generator", _network("unet", "build_unet")),
        NetworkSpec("pix2pix-patchgan", "pix2pix 70x70 PatchGAN on the 6-channel pair",
                    "discriminator", _network("patchgan", "build_patchgan", in_channels=6,
                                              norm="batch")),
        NetworkSpec("cyclegan-resnet", "CycleGAN ResNet generator (9 blocks, InstanceNorm)",
                    "generator", _network("resnet", "build_resnet")),
        NetworkSpec("cyclegan-patchgan", "CycleGAN 70x70 PatchGAN on 3 channels (InstanceNorm)",
                    "discriminator", _network("patchgan", "build_patchgan", in_channels=3,
                                              norm="instance")),
        NetworkSpec("bggan-glassnet", "BGGAN Glass-Net generator (two stages)", "generator",
                    _network("glassnet", "build_glassnet")),
        NetworkSpec("bggan-critic", "BGGAN multi-receptive-field critics (PatchGAN L = 3 and 5)",
                    "discriminator", _network("patchgan", "build_multipatchgan")),
    )
}


def _identity():
    from bokeh.pipelines.identity import IdentityPipeline

    return IdentityPipeline()


def _depth(name: str, mode: str, **defaults):
    def build():
        from bokeh.pipelines.depth_blur import DepthBlurPipeline

        return DepthBlurPipeline(name, mode, defaults)

    return build


def _depth_params(mode: str) -> tuple[Param, ...]:
    # Declared beside the pipeline that validates them (a light module: no torch at import).
    from bokeh.pipelines import depth_blur

    return depth_blur.LENS_PARAMS if mode == "lens" else depth_blur.GAUSS_PARAMS


def _translate(name: str, network: str):
    def build():
        from bokeh.pipelines.translate import TranslationPipeline

        return TranslationPipeline(name, network)

    return build


def _translate_params() -> tuple[Param, ...]:
    from bokeh.pipelines.translate import TRANSLATE_PARAMS  # light: no torch at import

    return TRANSLATE_PARAMS


def _table() -> dict[str, MethodSpec]:
    specs = [
        MethodSpec("identity", "Identity (input unchanged)", "baseline",
                   "Returns the input: the baseline every method must beat.", (), _identity),
        MethodSpec("depth-lens", "Depth + lens blur", "depth",
                   "Depth source, then an occlusion-aware layered lens renderer in linear light "
                   "(f-number, in-focus band, aperture blades, highlight boost).",
                   _depth_params("lens"), _depth("depth-lens", "lens"), ("densedepth",)),
        MethodSpec("depth-gauss", "Depth + threshold Gaussian (paper)", "depth",
                   "The paper's renderer: Gaussian blur wherever normalised depth exceeds a "
                   "threshold.", _depth_params("gauss"), _depth("depth-gauss", "gauss"),
                   ("densedepth",)),
    ]
    for t in ("0.2", "0.25", "0.3"):
        name = f"depth-gauss-{t}"
        specs.append(MethodSpec(
            name, f"Depth + threshold Gaussian, threshold {t} (paper)", "depth",
            f"The paper's renderer with its threshold {t}.", _depth_params("gauss"),
            _depth(name, "gauss", threshold=float(t)), ("densedepth",), family="depth-gauss",
            defaults={"threshold": float(t)}))
    specs += [
        MethodSpec("pix2pix", "Pix2Pix (U-Net 256)", "translation",
                   "A U-Net generator trained on paired (sharp, bokeh) photos with a PatchGAN and "
                   "L1 loss; needs trained weights.", _translate_params(),
                   _translate("pix2pix", "pix2pix-unet"), ("pix2pix-unet",), weights_required=True),
        MethodSpec("cyclegan", "CycleGAN (ResNet-9)", "translation",
                   "A ResNet generator trained on unpaired sharp and bokeh photos with cycle "
                   "consistency; needs trained weights.", _translate_params(),
                   _translate("cyclegan", "cyclegan-resnet"), ("cyclegan-resnet",),
                   weights_required=True),
        MethodSpec("bggan", "BGGAN (Glass-Net)", "translation",
                   "A two-stage Glass-Net generator trained with multi-receptive-field critics "
                   "(WGAN-GP), L1, SSIM and perceptual losses; needs trained weights.",
                   _translate_params(), _translate("bggan", "bggan-glassnet"),
                   ("bggan-glassnet",), weights_required=True),
    ]
    return {s.name: s for s in specs}


METHODS: dict[str, MethodSpec] = _table()


def get_method(name: str) -> MethodSpec:
    """The spec registered under ``name``, or UnknownMethodError listing what exists."""
    try:
        return METHODS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), METHODS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownMethodError(
            f"unknown method {name!r}{hint} Available: {', '.join(METHODS)}"
        ) from None


def list_methods(*, kind: str | None = None, variants: bool = True) -> list[str]:
    """Registered method names, in table order; ``variants=False`` hides named variants."""
    return [
        s.name for s in METHODS.values()
        if (kind is None or s.kind == kind) and (variants or s.family is None)
    ]


_PIPELINES: dict[str, Any] = {}
_LOCK = threading.Lock()


def load_method(name: str):
    """The method's pipeline, built once per process (models inside load lazily on first call)."""
    spec = get_method(name)
    with _LOCK:
        if name not in _PIPELINES:
            _PIPELINES[name] = spec.build()
        return _PIPELINES[name]


_COUNTS: dict[str, int] = {}


def network_parameter_count(name: str, config: dict | None = None) -> int:
    """Parameter count of a network's default (or given) configuration, built on the meta
    device so that nothing is allocated."""
    import torch

    key = f"{name}:{sorted((config or {}).items())}"
    if key not in _COUNTS:
        spec = NETWORKS[name]
        with torch.device("meta"):
            model = spec.build(config)
        _COUNTS[key] = sum(p.numel() for p in model.parameters())
    return _COUNTS[key]
