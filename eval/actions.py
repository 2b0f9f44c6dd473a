"""What the Leaderboard and Review tabs do, without gradio: start and stop evaluations (token
gate, single flight), build the table and figure, and load a run's images for review.
``app.py`` wires these to components; tests call them directly."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bokeh import lazy
from bokeh.config import admin_token, space_id
from bokeh.errors import BokehError
from bokeh.imaging import load_image, to_uint8
from bokeh.registry import list_methods
from bokeh.service import method_status
from eval import persist
from eval.board_plot import rows_for_plot, scatter_figure
from eval.datasets import SCORED_DATASETS, available_datasets, open_dataset, synth_ready
from eval.leaderboard import (
    display_table,
    display_widths,
    leaderboard_frame,
    table_from_frame,
    worst_images,
)
from eval.metric_table import METRICS
from eval.review import ReviewStore, default_review_db
from eval.store import (
    EvaluationBusyError,
    get_run,
    list_runs,
    running_evaluation,
    slug,
    split_label,
)

BOARD_INTRO = (
    "Scores on held-out images. Rows are ranked only against rows scored on the same images "
    "(same dataset, split and image ids: the *Images* column); *n* is the number of images "
    "scored. The plot also shows published results as grey reference markers (other "
    "protocols: not directly comparable). PSNR can rank a visibly wrong method high: look at "
    "the images in the Review tab. The CSV has every column (standard deviations, weights, "
    "focus)."
)
COMPARABLE = "comparable: newest complete run per method and image set"
ALL_RUNS = "all runs"


class AdminTokenError(BokehError):
    """Starting an evaluation needs the admin token and it was missing or wrong."""


def admin_token_required() -> bool:
    return admin_token() is not None


def evaluations_allowed() -> bool:
    """False on a Hugging Face Space without BOKEH_ADMIN_TOKEN (see check_admin_token)."""
    return admin_token() is not None or space_id() is None


def check_admin_token(given: str | None) -> None:
    """Raise AdminTokenError unless BOKEH_ADMIN_TOKEN is unset or ``given`` matches it.
    Constant-time comparison; the token never appears in messages. On a Hugging Face Space
    (``SPACE_ID`` set) without a token, evaluations are refused: a public page must not let
    anyone fill its CPU with evaluations."""
    expected = admin_token()
    if expected is None:
        if space_id():
            raise AdminTokenError(
                "Evaluations from the page are turned off on this Space: its owner can allow "
                "them by setting the BOKEH_ADMIN_TOKEN secret."
            )
        return
    if not given or not hmac.compare_digest(str(given).encode(), expected.encode()):
        raise AdminTokenError(
            "Starting an evaluation needs the admin token (BOKEH_ADMIN_TOKEN); "
            "the one given is missing or wrong."
        )


class StopFlag:
    """Stop request for the evaluation running in this process (there is at most one: runs are
    single-flight), shared by the Stop button and the running generator."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def request(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def __call__(self) -> bool:
        return self._event.is_set()


STOP = StopFlag()


# ----------------------------------------------------------------------------- leaderboard


def run_choices(results_dir=None) -> list[tuple[str, str]]:
    """(label, value) pairs for the run selector: comparable, all, then each run."""
    return [(COMPARABLE, "comparable"), (ALL_RUNS, "all")] + [
        (r.label, r.run_id) for r in list_runs(results_dir)
    ]


def leaderboard(run: str = "comparable", results_dir=None, *, live: str | None = None):
    """(table for the page, plotly figure, CSV path with every column) for the selected run(s)
    (:func:`eval.leaderboard.leaderboard_frame`; ``live``: a running run shown as well)."""
    frame = leaderboard_frame(results_dir, run=run or "comparable", live=live)
    table = table_from_frame(frame)
    fig = scatter_figure(rows_for_plot(frame))
    return display_table(table), fig, export_file("leaderboard", table.to_csv(index=False))


EXPORTS_KEPT = 32


def _keep_newest(folder: Path, pattern: str, keep: int) -> None:
    """Delete all but the ``keep`` most recently modified files of ``folder`` matching
    ``pattern``."""
    old = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in old[keep:]:
        stale.unlink(missing_ok=True)


def export_file(prefix: str, text: str) -> str:
    """Write ``text`` to ``<temp dir>/bokeh-exports/<prefix>-<hash>.csv`` and return the path.

    Named by content, so refreshing the page reuses one file instead of leaving a new temporary
    file behind each time; only the newest :data:`EXPORTS_KEPT` files are kept. (The temp dir,
    because Gradio serves returned files only from there or the working directory.)"""
    folder = Path(tempfile.gettempdir()) / "bokeh-exports"
    folder.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    path = folder / f"{prefix}-{hashlib.sha256(data).hexdigest()[:16]}.csv"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".csv")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    os.utime(path)
    _keep_newest(folder, "*.csv", EXPORTS_KEPT)
    return str(path)


def table_widths() -> list[int]:
    """Column widths of the page's leaderboard table (:func:`leaderboard`)."""
    return display_widths()


def dataset_choices() -> list[tuple[str, str]]:
    """(label, name) of every dataset an evaluation can score; one that cannot be evaluated
    from this page says so in its label."""
    return [
        (d.name if d.available else f"{d.name} (not available here)", d.name)
        for d in available_datasets()
        if d.name in SCORED_DATASETS
    ]


def dataset_note() -> str:
    """Which datasets can be evaluated here, and what the default is."""
    lines = []
    for info in available_datasets():
        if info.name not in SCORED_DATASETS:
            continue
        mark = "available" if info.available else "not available here"
        splits = ", ".join(f"`{s}`" for s in info.splits)
        lines.append(f"- **{info.name}** ({mark}; splits: {splits}). {info.note}")
    if not evaluations_allowed():
        lines.insert(
            0,
            "**Evaluations are turned off on this Space** until its owner sets the "
            "`BOKEH_ADMIN_TOKEN` secret; the leaderboard above still shows the "
            "stored runs.\n",
        )
    return "\n".join(lines)


def default_dataset() -> str:
    """EBB! when present, else the synthetic holdout (generated on first use)."""
    ebb = [d for d in available_datasets() if d.name == "ebb"]
    return "ebb" if ebb and ebb[0].available else "synth"


def default_methods() -> list[str]:
    """Methods that can run here: everything but methods that need weights nobody has."""
    return [n for n in list_methods() if method_status(n).runnable]


def empty_figure():
    """The PSNR-vs-SSIM plot with the published reference points only."""
    return scatter_figure()


@dataclass(frozen=True)
class Progress:
    """One step of an evaluation started from the page: a status line for people, the
    fraction done, the run, and whether the table and plot should be redrawn (an image
    finished, or the run ended)."""

    status: str
    fraction: float
    run_id: str | None = None
    redraw: bool = False


def preparing_status(dataset: str) -> str:
    """The line shown at once, before the first image (the synthetic holdout is generated on
    first use, which takes a few seconds)."""
    if dataset == "synth" and not synth_ready():
        return "Generating the synthetic holdout (first use only; up to a minute)…"
    return f"Preparing the {dataset} images…"


def evaluation_progress(
    methods: Sequence[str],
    dataset: str,
    split: str | None,
    limit: int | None,
    token: str | None,
    **kwargs: Any,
) -> Iterator[Progress]:
    """:func:`stream_evaluation` as :class:`Progress` steps counted in images (every method
    on one image is one step), starting with a status line before any work."""
    check_admin_token(token)
    busy = running_evaluation(kwargs.get("results_dir"))
    if busy:
        raise EvaluationBusyError(
            f"An evaluation is already running (run {busy.get('run_id')}); wait for it or stop it."
        )
    yield Progress(preparing_status(dataset or "synth"), 0.0)
    rows, run_id, names = 1, None, "methods"
    for event in stream_evaluation(methods, dataset, split, limit, token, **kwargs):
        run_id = event["run_id"]
        if event["event"] == "start":
            labels = event.get("methods") or []
            rows = max(len(labels), 1)
            count = len({split_label(lb)[0] for lb in labels})
            names = f"{count} method{'' if count == 1 else 's'}"
        images = max((event.get("total") or rows) // rows, 1)
        done = event.get("done", 0) // rows
        head = f"Run {run_id}, {names}: {done} of {images} images done"
        if event["event"] == "row" and event["done"] % rows == 0:
            yield Progress(f"{head} (last: {event.get('id')})", done / images, run_id, True)
        elif event["event"] == "row":
            yield Progress(
                f"Run {run_id}, {names}: image {done + 1} of {images}, {event.get('method')}…",
                done / images,
                run_id,
                False,
            )
        elif event["event"] == "end":
            yield Progress(
                f"Run {run_id} {event.get('status')}: {done} of {images} images scored, {names}.",
                done / images,
                run_id,
                True,
            )
        else:
            yield Progress(head, done / images, run_id, False)


def request_stop(token: str | None) -> str:
    """Ask the running evaluation to stop after the current image (admin token as for a start)."""
    check_admin_token(token)
    STOP.request()
    return "Stopping after the current image…"


def stream_evaluation(
    methods: Sequence[str],
    dataset: str,
    split: str | None,
    limit: int | None,
    token: str | None,
    *,
    results_dir=None,
    should_stop: Callable[[], bool] = STOP,
) -> Iterator[dict[str, Any]]:
    """Check the token, then run an evaluation, yielding its progress events (see
    :func:`eval.runs.iter_evaluate`). Busy, missing data or bad input raise BokehError.

    When ``BOKEH_RESULTS_REPO`` is set the run is pushed to it (in the background) when it
    ends, whatever its status, and every ``persist.PROGRESS_PUSH_EVERY_S`` while it runs."""
    check_admin_token(token)
    if not methods:
        raise BokehError("Choose at least one method to evaluate.")
    if limit is not None:
        limit = int(limit)
        if limit < 1:
            raise BokehError("The image limit must be at least 1 (or empty for all images).")
    events = lazy.load("eval.runs:iter_evaluate")(
        list(methods),
        dataset,
        split or None,
        limit=limit,
        results_dir=results_dir,
        should_stop=should_stop,
    )
    run_id, last_push = None, time.monotonic()
    try:
        for event in events:
            if event.get("event") == "start":
                run_id = event["run_id"]
                # Clear an old Stop only once this run holds the lock: a refused request must
                # not cancel a Stop meant for the run in progress.
                if should_stop is STOP:
                    STOP.clear()
            elif time.monotonic() - last_push >= persist.PROGRESS_PUSH_EVERY_S:
                last_push = time.monotonic()
                persist.push_run(run_id, results_dir=results_dir)  # a long run's progress
            yield event
    finally:
        events.close()  # a run closed early records "cancelled" before it is pushed
        if run_id is not None:
            persist.push_run(run_id, results_dir=results_dir)


# ----------------------------------------------------------------------------- review


def method_choices(run_id: str, results_dir=None) -> list[str]:
    return list(get_run(run_id, results_dir).methods) if run_id else []


def review_runs(results_dir=None, *, keep: str | None = None
                ) -> tuple[list[tuple[str, str]], str | None]:  # fmt: skip
    """The Review tab's run choices and the one picked: ``keep`` when it is still a run, else
    the newest run whose outputs are on this machine, else the newest run (its outputs are
    recomputed on demand)."""
    runs = list_runs(results_dir)
    if keep and keep in {r.run_id for r in runs}:
        return [(r.label, r.run_id) for r in runs], keep
    here = [r for r in runs if (r.path / "outputs").is_dir()]
    default = (here or runs)[0].run_id if runs else None
    return [(r.label, r.run_id) for r in runs], default


def review_title(item: dict) -> str:
    """The picked image's title: its id once, the method, the metric and its value."""
    caption = str(item.get("caption", ""))
    rest = caption.removeprefix(f"{item['id']} · ")
    return f"**{item['id']}** · {item['method']} · {rest}"


def worst(run_id: str, method: str, metric: str, k: int = 12, results_dir=None) -> list[dict]:
    if not run_id or not method:
        raise BokehError("Pick a run and a method first.")
    run_dir = get_run(run_id, results_dir).path
    try:
        items = [
            _with_output(item, run_id, run_dir)
            for item in worst_images(run_dir, method, metric, k=k)
        ]
    except BokehError as exc:  # e.g. a reference run on real photos that are not here
        raise BokehError(
            f"The images of run {run_id} are not on this machine, so they cannot "
            f"be shown; its scores are in the leaderboard. ({exc})"
        ) from None
    return [{**item, "output": servable(item["output"])} for item in items]


SERVED_KEPT = 256


def servable(path: str) -> str:
    """A path gradio will send to the page: ``path`` itself inside the temp dir or the working
    directory (the only places gradio serves returned files from), else a copy in
    ``<temp dir>/bokeh-review-cache/served`` named by the file's path, time and size (the newest
    :data:`SERVED_KEPT` are kept). A results folder elsewhere (``/data/...`` on a Space) would
    otherwise make gradio refuse the gallery with a message naming server paths."""
    real = os.path.realpath(path)
    for root in (tempfile.gettempdir(), os.getcwd()):
        base = os.path.realpath(root)
        if real.startswith(base.rstrip(os.sep) + os.sep):
            return path
    st = os.stat(real)
    key = hashlib.sha256(f"{real}|{st.st_mtime_ns}|{st.st_size}".encode()).hexdigest()[:24]
    folder = Path(tempfile.gettempdir()) / "bokeh-review-cache" / "served"
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{key}{Path(real).suffix}"
    if not dest.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=dest.suffix)
        os.close(fd)
        shutil.copyfile(real, tmp)
        os.replace(tmp, dest)
    os.utime(dest)
    _keep_newest(folder, "[!.]*", SERVED_KEPT)
    return str(dest)


def worst_gallery(run_id: str, method: str, metric: str) -> tuple[list, list[dict]]:
    """(gallery of (output, caption), items) of :func:`worst`, for the Review tab."""
    items = worst(run_id, method, metric)
    return [(it["output"], it["caption"]) for it in items], items


def _with_output(item: dict, run_id: str, run_dir) -> dict:
    """The item, its output recomputed when the run's image is not on this machine (the
    reference run ships scores only). The caption says so, and whether the recomputed output
    scores what the run recorded (same weights and code) or not."""

    if item.get("output") and Path(item["output"]).is_file():
        return item
    dest = (
        Path(tempfile.gettempdir())
        / "bokeh-review-cache"
        / slug(run_id)
        / slug(item["method"])
        / f"{slug(item['id'])}.png"
    )
    scores = dest.with_suffix(".json")
    if not (dest.is_file() and scores.is_file()):
        fields = lazy.load("eval.runs:reproduce_output")(run_dir, item["method"], item["id"], dest)
        scores.write_text(json.dumps({m: fields.get(m) for m in METRICS}))
    metric = item["metric"]
    fresh, old = json.loads(scores.read_text()).get(metric), item.get(metric)
    if fresh is not None and old is not None and math.isclose(fresh, old, abs_tol=1e-3):
        note = "recomputed, same score"
    else:
        note = f"recomputed: {METRICS[metric].format(fresh)} now"
    return {**item, "output": str(dest), "caption": f"{item['caption']} ({note})"}


def _read_rgb(path: str | Path) -> np.ndarray:
    return to_uint8(load_image(path, max_side=None).image)


def error_heatmap(output: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 heat map of the per-pixel absolute error, mean over channels, scaled so
    that 64/255 (a large error) is full red; black means equal."""
    if output.shape != gt.shape:
        raise BokehError(f"Output {output.shape} and ground truth {gt.shape} differ in size.")
    err = np.abs(output.astype(np.float32) - gt.astype(np.float32)).mean(axis=2) / 64.0
    err = np.clip(err, 0.0, 1.0)
    heat = np.stack(
        [np.clip(3 * err, 0, 1), np.clip(3 * err - 1, 0, 1), np.clip(3 * err - 2, 0, 1)], axis=2
    )
    return (heat * 255 + 0.5).astype(np.uint8)


def relocate_dataset_file(path: str | None, run_meta: dict) -> str | None:
    """``path`` (an input or ground-truth image a run recorded) on this machine: itself when it
    exists, else the same file under this machine's copy of the run's dataset (a run restored
    from ``BOKEH_RESULTS_REPO`` on a new disk, where the synthetic holdout was regenerated or
    EBB! lives elsewhere), else None."""
    if path and Path(path).is_file():
        return str(path)
    old_root = run_meta.get("dataset_root")
    if not path or not old_root or not run_meta.get("dataset"):
        return None
    try:
        rel = Path(path).relative_to(old_root)
    except ValueError:
        return None

    try:
        root = open_dataset(run_meta["dataset"], run_meta.get("split")).root
    except BokehError:
        return None
    moved = Path(root) / rel if root else None
    return str(moved) if moved is not None and moved.is_file() else None


def review_images(
    item: dict, run_id: str | None = None, results_dir=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(input, output, ground truth, error heat map) as uint8 arrays for one worst_images item;
    with ``run_id``, inputs and ground truths recorded on another machine are looked up in this
    machine's copy of the dataset (:func:`relocate_dataset_file`)."""
    paths = {k: item.get(k) for k in ("input", "output", "gt")}
    if run_id:
        meta = json.loads((Path(get_run(run_id, results_dir).path) / "run.json").read_text())
        for key in ("input", "gt"):
            paths[key] = relocate_dataset_file(paths[key], meta) or paths[key]
    missing = [k for k, v in paths.items() if not v or not Path(v).is_file()]
    if missing:
        what = " and ".join(
            {"input": "input", "output": "output", "gt": "ground truth"}[k] for k in missing
        )
        raise BokehError(
            f"The {what} image of {item.get('id')} is not on this machine (the "
            "run's dataset or outputs were not found here)."
        )
    inp, out, gt = (_read_rgb(paths[k]) for k in ("input", "output", "gt"))
    return inp, out, gt, error_heatmap(out, gt)


def review_store():
    return ReviewStore(default_review_db())


def pick(items: Sequence[dict], index: Any) -> dict:
    """The gallery item a click selected (one clear message for a stale or forged index)."""
    if not items:
        raise BokehError("Show a run's worst images first.")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(items):
        raise BokehError("Pick one of the images shown in the gallery.")
    return items[index]


@dataclass(frozen=True)
class ReviewSelection:
    """What the Review tab shows for the image a reviewer picked."""

    item: dict
    input: np.ndarray
    output: np.ndarray
    gt: np.ndarray
    heat: np.ndarray
    title: str
    notes: Any  # the notes table


def review_selection(items: Sequence[dict], index: Any, run_id: str) -> ReviewSelection:
    """The picked gallery item with its images, error heat map and notes."""
    item = pick(items, index)
    inp, out, gt, heat = review_images(item, run_id)
    notes = notes_table(run_id, item["method"], str(item["id"]))
    return ReviewSelection(item, inp, out, gt, heat, review_title(item), notes)


def save_review_form(run_id, item, reviewer, tags, custom_tags, note):
    """Save the Review tab's form for the selected ``item``; returns its notes table and an
    empty note (the form's note box is cleared)."""
    if not item:
        raise BokehError("Select an image in the gallery first.")
    all_tags = list(tags or []) + [t for t in (custom_tags or "").split(",") if t.strip()]
    save_review(
        run_id,
        item["method"],
        str(item["id"]),
        reviewer=reviewer or "anonymous",
        note=note or "",
        tags=all_tags,
    )
    return notes_table(run_id, item["method"], str(item["id"])), ""


def save_review(run_id: str, method: str, image_id: str, *, reviewer: str, note: str = "", tags=()):
    """Save a note (:meth:`eval.review.ReviewStore.add`, same errors) and queue a push of the
    notes to ``BOKEH_RESULTS_REPO`` when it is set; returns the saved Review."""
    saved = review_store().add(run_id, method, image_id, reviewer=reviewer, note=note, tags=tags)
    persist.push_reviews()
    return saved


def storage_status() -> str:
    """Where results are kept, for the page (:func:`eval.persist.status`), and which runs have
    lines in rows.jsonl that are not valid rows (left out of the table)."""
    notes = [
        f"Run {r.run_id}: line(s) {', '.join(map(str, r.skipped[:10]))} of rows.jsonl "
        "are not valid rows and are left out."
        for r in list_runs()
        if r.skipped
    ]
    return "  \n".join([persist.status(), *notes])


def notes_table(run_id: str, method: str, image_id: str):
    notes = review_store().history(run_id, method, image_id)
    return pd.DataFrame(
        [
            {
                "when": str(n.updated_at)[:16].replace("T", " "),
                "reviewer": n.reviewer,
                "tags": "; ".join(n.tags),
                "note": n.note,
            }
            for n in reversed(notes)
        ],
        columns=["when", "reviewer", "tags", "note"],
    )


def export_reviews(run_id: str | None = None) -> str:
    return export_file("reviews", review_store().export_csv_text(run_id or None))
