"""What an evaluation will do, checked before anything is written: the resume plan.

:func:`plan_run` turns the arguments of :func:`eval.runs.iter_evaluate` (or a run id to resume)
into a :class:`RunPlan`: the methods and their validated settings, the dataset and the images,
and the units (a method, or a depth method on true depth: "oracle") scored on each image. A run
resumed keeps the dataset, split, images, methods and settings it was started with (read from its
run.json); arguments given must agree with them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bokeh.errors import BokehError, WeightsNotFoundError
from bokeh.params import validate_settings
from bokeh.registry import get_method
from eval.datasets import SCORED_DATASETS, open_dataset
from eval.provenance import method_availability
from eval.store import RunInfo, get_run
from eval.variants import is_oracle, labels_for, parse_label


@dataclass(frozen=True)
class Unit:
    """One column of a run: a method; for depth methods the depth it runs on (:mod:`eval.variants`:
    None = its own setting, "item" = the item's depth, else an estimator). ``oracle``: the item's
    depth is the true depth (synthetic scenes)."""

    label: str
    method: str
    oracle: bool
    depth: str | None = None

    @classmethod
    def from_label(cls, label: str) -> Unit:
        method, depth = parse_label(label)
        return cls(label, method, is_oracle(label), depth)


@dataclass
class RunPlan:
    methods: list[str]
    dataset: str
    split: str
    limit: int | None
    settings: dict[str, dict[str, Any]]
    data: Any  # eval.datasets dataset, narrowed to the run's images
    labels: list[str]
    units: list[Unit]
    resumed: RunInfo | None = None  # the run being resumed

    @property
    def total(self) -> int:
        return len(self.data) * len(self.units)


def as_list(methods: Sequence[str] | str | None) -> list[str] | None:
    """Method names from a list or ``"a,b"`` (stripped, each once), or None."""
    if methods is None:
        return None
    if isinstance(methods, str):
        methods = methods.split(",")
    return list(dict.fromkeys(m.strip() for m in methods if m and m.strip()))


def check_settings(methods: list[str], settings: Mapping[str, Mapping] | None) -> dict:
    """Per-method settings, validated against each method's params (a clear BokehError)."""
    settings = {k: dict(v or {}) for k, v in (settings or {}).items()}
    extra = sorted(set(settings) - set(methods))
    if extra:
        raise BokehError(
            f"Settings were given for {', '.join(extra)}, which this run does not evaluate; "
            "settings are keyed by method name.")  # fmt: skip
    for m, s in settings.items():
        spec = get_method(m)
        validate_settings(spec.params, {**spec.defaults, **s}, m)  # raises a clear BokehError
    return settings


def row_labels(methods: list[str], data) -> list[str]:
    """The rows of each method on ``data`` (:func:`eval.variants.labels_for`)."""
    return [label for m in methods for label in labels_for(
        m, kind=get_method(m).kind, dataset=data.name, has_depth=data.has_depth)]  # fmt: skip


def _resumed(resume: str, rdir, given: dict[str, Any], settings) -> RunInfo:
    info = get_run(resume, rdir)
    stored = info.meta
    for name, value in given.items():
        have = stored.get(name)
        if value not in (None, []) and value != have:
            raise BokehError(
                f"Run {resume} was started with {name} {have!r}; a resumed run keeps its "
                f"settings (got {value!r}). Start a new run instead.")  # fmt: skip
    if settings and dict(settings) != stored.get("settings"):
        raise BokehError(f"Run {resume} keeps the settings it was started with.")
    if info.status == "complete":
        raise BokehError(f"Run {resume} is already complete; nothing to resume.")
    return info


def plan_run(
    methods: Sequence[str] | str | None,
    dataset: str | None,
    split: str | None,
    *,
    rdir: os.PathLike,
    limit: int | None = None,
    resume: str | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    root: str | os.PathLike | None = None,
) -> RunPlan:
    """Check everything an evaluation needs and say what it will run (see the module doc)."""
    methods_l = as_list(methods)
    info = None
    if resume:
        given = {"dataset": dataset, "split": split, "methods": methods_l, "limit": limit}
        info = _resumed(resume, rdir, given, settings)
        stored = info.meta
        methods_l = list(stored.get("methods") or [])
        dataset, split, limit = stored.get("dataset"), stored.get("split"), stored.get("limit")
        settings = stored.get("settings") or {}
        root = stored.get("dataset_root") or root
    if not methods_l:
        raise BokehError("Choose at least one method to evaluate.")
    for m in methods_l:
        get_method(m)  # unknown names fail here, with the registry's message
    blocked = [why for ok, why in map(method_availability, methods_l) if not ok]
    if blocked:
        raise WeightsNotFoundError("Cannot evaluate: " + "; ".join(blocked) + ".")
    dataset = dataset or "synth"
    if dataset not in SCORED_DATASETS:
        raise BokehError(
            f"Dataset {dataset!r} cannot be scored (it has no bokeh ground truth); "
            f"evaluate on {' or '.join(SCORED_DATASETS)}.")  # fmt: skip
    if limit is not None and (isinstance(limit, bool) or int(limit) < 1):
        raise BokehError(f"limit must be a positive number of images, got {limit!r}.")
    settings_d = check_settings(methods_l, settings)
    data = open_dataset(dataset, split, root=root)
    split = data.split
    data = data.select(info.meta["ids"]) if info else data.head(limit)
    labels = row_labels(methods_l, data)
    units = [Unit.from_label(lb) for lb in labels]
    return RunPlan(methods_l, dataset, split, limit, settings_d, data, labels, units, info)


__all__ = ["RunPlan", "Unit", "as_list", "check_settings", "plan_run", "row_labels"]
