"""Which rows a depth method gets on a dataset, and what each row feeds it.

* Synthetic data (true depth): ``"depth-lens"`` (its ``depth_source`` setting, ``auto`` by
  default) and ``"depth-lens (oracle depth)"`` (the true depth): an upper bound.
* Real photos (``vabm``, ``pairs``): one row per depth source available here, named by it:
  ``"depth-lens (dataset depth)"`` (the depth the dataset ships, e.g. VABD's Depth Anything
  maps; not an oracle) and ``"depth-lens (classical)"``, ``"(anything)"``, ``"(model)"`` for each
  estimator at hand (:func:`estimators`).
* Other datasets (EBB!): ``"depth-lens"`` alone.

Real items also carry the facts of their pair: the target's f-number and the input's
(:func:`item_settings`), passed to methods that declare those settings unless the run's
settings name them.
"""

from __future__ import annotations

from typing import Any

from bokeh import depth
from bokeh.weights.resolve import depth_metric_status

ORACLE = "oracle depth"
DATASET = "dataset depth"
ESTIMATORS = ("classical", "anything", "model", "metric")
REAL_DATASETS = ("vabm", "pairs")


def estimators() -> list[str]:
    """Depth estimators usable here: classical always; Depth Anything when it is at hand (local
    folder, cached, or the Hub reachable: see :func:`bokeh.depth.anything_available`);
    DenseDepth with real (not demo) weights; metric Depth Anything when local or cached."""
    out = ["classical"]
    if depth.anything_available():
        out.append("anything")
    if depth.model_available():
        out.append("model")
    if depth_metric_status().cached:
        out.append("metric")
    return out


def labels_for(method: str, *, kind: str, dataset: str, has_depth: bool) -> list[str]:
    """The row labels of ``method`` (of registry ``kind``) on ``dataset``."""
    if kind != "depth":
        return [method]
    if dataset in REAL_DATASETS:
        rows = [f"{method} ({DATASET})"] if has_depth else []
        return rows + [f"{method} ({s})" for s in estimators()]
    return [method, f"{method} ({ORACLE})"] if has_depth else [method]


def parse_label(label: str) -> tuple[str, str | None]:
    """``(method, depth)``: depth is None (the method's own setting), ``"item"`` (the item's
    depth: oracle or dataset depth) or an estimator name."""
    if label.endswith(")") and " (" in label:
        method, _, variant = label[:-1].rpartition(" (")
        if variant in (ORACLE, DATASET):
            return method, "item"
        if variant in ESTIMATORS:
            return method, variant
    return label, None


def is_oracle(label: str) -> bool:
    return label.endswith(f" ({ORACLE})")


def item_settings(params, item: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The item's f-numbers as settings, for the declared ``params`` the run does not set."""
    names = {p.name for p in params}
    facts = {
        "fnumber": getattr(item, "fnumber", None),
        "input_fnumber": getattr(item, "input_fnumber", None),
    }
    return {k: v for k, v in facts.items() if v is not None and k in names and k not in given}
