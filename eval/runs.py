"""Evaluation runs: every method on every image of a dataset, scored, saved and resumable.

The run folder's layout and statuses are in :mod:`eval.store`, what a run will do (and how a
resume continues) in :mod:`eval.plan`, how it is written in :mod:`eval.writer`; this module is
the loop. Cancelled, failed and incomplete runs resume with ``resume=run_id``: same dataset,
split, images, methods and settings (read from run.json), skipping every (method, id) already in
rows.jsonl; a last line half-written by a killed process is ignored and cut off before
appending. The start's provenance stays at the top of run.json; each resume adds
``{"at", code, device, ...}`` to ``resumed``.

Order: image by image, every method on each image, so a stopped run covers all methods on the
same images. A method that raises on an image (or an image pair that cannot be read) gets a row
with ``error`` set and no scores, and the run goes on (a resumed run does not retry it). A
method that needs weights none of the sources holds is refused before the run starts
(:func:`method_availability`).

Oracle depth: on datasets that carry true depth (synth), every ``kind == "depth"`` method also
runs with ``depth=item.depth`` (the same pipeline and settings) as the method
``"<name> (oracle depth)"``: an upper bound that separates depth errors from rendering errors.
On real photos (vabm, pairs) depth methods run once per depth source instead ("(dataset
depth)", "(classical)", ...), and items pass their pair's f-numbers (:mod:`eval.variants`);
each row records where its focus point came from (``focus_source``).

Timing: ``seconds`` is the wall time of the pipeline call alone (not scoring or saving). The
depth pipelines' small depth cache is cleared before each call so that a method never reuses
the depth another method estimated on the same image; the first call of a method also includes
loading its network (see ``seconds_median`` in the summary).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bokeh.errors import BokehError
from bokeh.imaging import from_uint8, save_png, to_uint8
from bokeh.pipelines.depth_blur import DEPTH_CACHE
from bokeh.registry import get_method, load_method
from eval.datasets import open_dataset
from eval.metric_table import METRICS
from eval.plan import RunPlan, Unit, plan_run
from eval.score import score_pair
from eval.store import EvaluationLock, read_json, results_root
from eval.variants import item_settings
from eval.writer import RunWriter


@dataclass
class _Unreadable:
    """Stands in for an item whose files could not be read."""

    id: str
    error: str
    input_path: str = ""
    gt_path: str = ""


def _load_item(data, k: int, item_id: str):
    """The k-th item, or an :class:`_Unreadable` saying why its files cannot be read."""
    try:
        return data[k]
    except (BokehError, OSError) as exc:
        return _Unreadable(item_id, f"could not read image {item_id}: {exc}")


def _error_fields(message: str) -> dict[str, Any]:
    return {**{k: None for k in METRICS}, "seconds": None, "depth_source": None, "error": message}


def _score_unit(unit: Unit, item, settings: Mapping[str, Any]):
    """Run one method on one item: (uint8 output or None, row fields)."""
    fields: dict[str, Any] = {k: None for k in METRICS}
    fields.update(seconds=None, depth_source=None, error=None)
    try:
        if unit.depth == "item" and item.depth is None:
            raise BokehError(f"image {item.id} carries no depth")
        pipe = load_method(unit.method)
        image = from_uint8(item.input)
        DEPTH_CACHE.clear()
        extra = {"depth": item.depth} if unit.depth == "item" else {}
        settings = {**item_settings(get_method(unit.method).params, item, settings), **settings}
        if unit.depth not in (None, "item"):
            settings["depth_source"] = unit.depth
        start = time.perf_counter()
        result = pipe(image, focus=item.focus, **extra, **settings)
        fields["seconds"] = time.perf_counter() - start
        fields["depth_source"] = (result.info or {}).get("depth_source")
        pred = to_uint8(result.image)
        fields.update(score_pair(pred, item.gt))
        return pred, fields
    except Exception as exc:  # keep going: the error is recorded in the row
        fields["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        for k in METRICS:
            fields[k] = None
        return None, fields


def reproduce_output(
    run_dir: str | os.PathLike, label: str, item_id: str, dest: str | os.PathLike
) -> dict[str, Any]:
    """Run a run's method again on one of its images and save the output PNG at ``dest``.

    For runs whose output images are not on this machine (the reference run shipped in
    ``assets/results`` keeps scores only): the same method (``label``, oracle variants
    included), settings and image, from this machine's copy of the dataset. Returns the new
    row fields (metrics, seconds, depth source): equal scores to the run's row mean the output
    is reproduced, not merely recomputed. Raises BokehError when the image, dataset or method
    is not available here.
    """
    run_dir = Path(run_dir)
    meta = read_json(run_dir / "run.json") or {}
    root = meta.get("dataset_root") or None
    if root and not Path(root).is_dir():
        root = None  # recorded on another machine: this machine's default copy
    data = open_dataset(meta.get("dataset", "synth"), meta.get("split"), root=root)
    item = data.select([str(item_id)])[0]
    unit = Unit.from_label(label)
    settings = (meta.get("settings") or {}).get(unit.method, {})
    pred, fields = _score_unit(unit, item, settings)
    if pred is None:
        raise BokehError(f"Could not recompute {label} on image {item_id}: {fields['error']}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_png(pred, dest)
    return fields


def _score_run(plan: RunPlan, writer: RunWriter, should_stop: Callable[[], bool], base: dict
               ) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Score every unit not done yet, image by image; yields "row" events. Returns the status
    ("complete", or "cancelled" when ``should_stop`` fired) as the generator's value."""
    done = len(writer.done_pairs)
    for k, item_id in enumerate(plan.data.ids):
        todo = [u for u in plan.units if not writer.is_done(u, item_id)]
        item = None
        for unit in todo:
            if should_stop():
                return "cancelled"
            if item is None:
                item = _load_item(plan.data, k, item_id)
            if isinstance(item, _Unreadable):  # an error row for every method
                pred, fields, focus = None, _error_fields(item.error), None
            else:
                pred, fields = _score_unit(unit, item, plan.settings.get(unit.method, {}))
                focus = item.focus
            row = writer.write(unit, item, fields, pred, focus=focus)
            done += 1
            yield {**base, "event": "row", "done": done, "method": unit.label, "id": item.id,
                   "row": row, "error": row["error"]}  # fmt: skip
    return "complete"


def iter_evaluate(
    methods: Sequence[str] | str | None = None,
    dataset: str | None = None,
    split: str | None = None,
    *,
    limit: int | None = None,
    results_dir: str | os.PathLike | None = None,
    resume: str | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    root: str | os.PathLike | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """Evaluate ``methods`` on ``dataset``/``split``, yielding progress events.

    Args:
        methods: registered method names (list or ``"a,b"``); oracle-depth variants are added
            on datasets with true depth.
        dataset: ``"synth"`` or ``"ebb"`` (see :mod:`eval.datasets`); ``split``: its default
            when None. ``root``: the dataset's folder (default: see :func:`open_dataset`).
        limit: evaluate only the first ``limit`` images of the split.
        results_dir: where runs go (:func:`results_root`).
        resume: a run id to continue; its dataset, split, images, methods and settings come
            from its run.json (arguments given must agree with it or be None).
        settings: per-method settings, ``{"depth-lens": {"fnumber": 2.8}}`` (validated first;
            the oracle variant uses its method's settings).
        should_stop: checked before each (image, method); True cancels the run (status
            ``cancelled``, rows kept, resumable).

    Yields:
        dicts with ``event`` ("start", "row", "end"), ``run_id``, ``run_dir``, ``done``,
        ``total`` (both count (method, image) pairs, resumed ones included); "row" events add
        ``method``, ``id``, ``row`` (the row written) and ``error`` (None or the message);
        "end" adds ``status``.

    Raises (at the first ``next()``): :class:`~bokeh.errors.UnknownMethodError`,
    :class:`~bokeh.errors.DatasetNotFoundError`, :class:`EvaluationBusyError` (another
    evaluation runs), :class:`ResultsWriteError` (read-only or full results directory),
    :class:`~bokeh.errors.BokehError` (bad settings, not resumable run, unscorable dataset).
    Closing the generator early or KeyboardInterrupt marks the run ``cancelled``; any other
    exception marks it ``failed`` and propagates.
    """
    rdir = results_root(results_dir)
    plan = plan_run(methods, dataset, split, rdir=rdir, limit=limit, resume=resume,
                    settings=settings, root=root)  # fmt: skip
    lock = EvaluationLock(rdir).acquire()
    writer = None
    try:
        writer = RunWriter(plan, rdir)
        lock.set_info(run_id=writer.run_id)
        base = {"run_id": writer.run_id, "run_dir": str(writer.run_dir), "total": plan.total}
        done = sum(1 for i in plan.data.ids for u in plan.units if writer.is_done(u, i))
        yield {**base, "event": "start", "done": done, "methods": plan.labels,
               "resumed": plan.resumed is not None}  # fmt: skip
        status = yield from _score_run(plan, writer, should_stop, base)
        writer.close(status)
        yield {**base, "event": "end", "done": len(writer.done_pairs), "status": status}
    except (GeneratorExit, KeyboardInterrupt):
        if writer is not None:
            writer.close("cancelled")
        raise
    except BaseException as exc:
        if writer is not None:
            writer.close("failed", error=str(exc) or type(exc).__name__)
        raise
    finally:
        if writer is not None:
            writer.close("failed")  # no-op when already closed
        lock.release()


def evaluate(
    methods: Sequence[str] | str | None = None,
    dataset: str | None = None,
    split: str | None = None,
    **kwargs: Any,
) -> Path:
    """Run :func:`iter_evaluate` to its end; return the run folder (status in its run.json:
    ``complete``, or ``cancelled`` when ``should_stop`` fired)."""
    run_dir = None
    for event in iter_evaluate(methods, dataset, split, **kwargs):
        run_dir = event["run_dir"]
    assert run_dir is not None
    return Path(run_dir)


__all__ = ["evaluate", "iter_evaluate", "reproduce_output"]
