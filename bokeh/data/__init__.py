"""Datasets for evaluation and training.

* :mod:`bokeh.data.ebb`: EBB! pairs (released and PyNET layouts) and anything in that layout,
  including the synthetic set: :func:`load_ebb`, :class:`PairDataset`, :class:`BokehPair`.
* :mod:`bokeh.data.nyu`: NYU Depth v2 as packaged for DenseDepth: :func:`load_nyu`.
* :mod:`bokeh.data.vabm`: real pairs in the VABM layout (VABD, EBB! as distributed there), with
  colour-mapped depth (:mod:`bokeh.data.colormap`) and focal masks: :func:`load_vabm`;
  :mod:`bokeh.data.pairs`: any folder of ``original/`` + ``bokeh/`` pairs: :func:`load_pairs`.
* :mod:`bokeh.data.synth`: the deterministic synthetic bokeh benchmark: :func:`ensure_holdout`,
  :func:`load_synth`, :func:`synth_main`, :func:`motorcycle_sample`.

Names are imported lazily so that ``import bokeh.data`` stays cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "BokehPair": "ebb",
    "PairDataset": "ebb",
    "load_ebb": "ebb",
    "find_ebb_root": "ebb",
    "EBB_SPLITS": "ebb",
    "DepthSample": "nyu",
    "load_nyu": "nyu",
    "RealPair": "real",
    "load_vabm": "vabm",
    "load_pairs": "pairs",
    "decode_colormap_depth": "colormap",
    "ensure_holdout": "synth",
    "load_synth": "synth",
    "synth_main": "synth",
    "motorcycle_sample": "synth",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bokeh.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bokeh.data.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
