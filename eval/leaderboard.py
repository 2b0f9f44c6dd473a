"""Leaderboard: runs -> tables, the PSNR/SSIM figure, and the images behind the numbers.

Plotly figures are built here, never in a ``bokeh.*`` module (gradio sends any figure whose
class lives in a module named like "bokeh" down its Bokeh path).

Tables are computed from each run's ``rows.jsonl`` (the single source of truth), so a run in
progress can be shown too. Rows are **comparable** when they were scored on the same image set:
the same dataset, split and image ids (``image_set``, a digest of the sorted ids). Which runs
feed the table (``run=``):

``"comparable"``  (default; ``"latest"`` is an older name of it) for every image set and
              method, the newest run with status ``complete`` that evaluated it, so a reference
              run stays until a run on the same images supersedes it, and a 3-image run never
              replaces 64-image rows; cancelled, failed, incomplete and running runs are left
              out, except the run named by ``live`` (shown as its own set while it runs).
``"all"``     every run, one row per (run, method), with its status.
a run id      that run only, whatever its status (live view while it runs).

Metric columns follow :data:`eval.metrics.METRICS` (label as header, values rounded to the
metric's decimals, sorted best first using ``higher_is_better``). Real photographs and
synthetic scenes are labelled as such (``Data``) and never ranked together: ``Rank`` counts
within one image set. ``Note`` flags oracle rows
and results whose training data overlaps the evaluated images (``Train overlap``): the official
BGGAN weights were trained on a list that includes all of EBB! Val294 (REFERENCE.md section 2).
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from bokeh.data.ebb import EBB_NUM_PAIRS, EBB_SPLITS

# rows_for_plot and scatter_figure are re-exported: the figure lives in eval.board_plot
from eval.board_plot import data_kind, rows_for_plot, scatter_figure, set_label  # noqa: F401
from eval.metric_table import METRICS
from eval.store import bundled_runs_dir, get_run, list_runs, load_rows, run_summary, summarize

ORACLE_NOTE = "oracle: true depth (an upper bound for this renderer, not a method)"
BGGAN_NOTE = (
    "official BGGAN weights were trained on a list that includes all of Val294 "
    "(ids 4400-4693): not a holdout score"
)
LPIPS_LABEL = "LPIPS"


# --------------------------------------------------------------------------- tables


def _overlap_note(base: str, dataset: str, split: str, weights: dict | None) -> str:
    """Why this score is not a holdout score, or ``""``."""
    if dataset != "ebb":
        return ""

    def ids(name: str) -> set[int] | None:
        if name == "all":
            return set(range(EBB_NUM_PAIRS))
        r = EBB_SPLITS.get(name)
        return set(r) if r is not None else None

    evaluated = ids(split)
    for net, entry in ((weights or {}).get("networks") or {}).items():
        prov = (entry or {}).get("provenance") or {}
        trained = prov.get("train_split") or (
            prov.get("split") if prov.get("dataset") == "ebb" else None
        )
        if isinstance(trained, str) and evaluated is not None:
            seen = ids(trained)
            if seen is None or seen & evaluated:
                return f"{net} weights were trained on EBB! {trained}, which overlaps {split}"
            return ""  # stated, and disjoint
    if "bggan" in base.lower() and split in ("val294", "holdout100", "all"):
        return BGGAN_NOTE
    return ""


def _signature(run_dir: Path) -> tuple:
    sig = []
    for name in ("run.json", "rows.jsonl"):
        try:
            st = (run_dir / name).stat()
            sig.append((st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append(None)
    return tuple(sig)


@lru_cache(maxsize=256)
def _summary_cached(run_dir: str, _sig: tuple):
    return run_summary(run_dir)


def image_set(meta: dict) -> str:
    """The run's image set: a digest of its dataset, split and sorted image ids (runs recorded
    without ids: their count)."""
    ids = meta.get("ids")
    if not ids:
        return f"{meta.get('dataset')}/{meta.get('split')}/n{meta.get('n_selected') or 0}"
    text = "\n".join([str(meta.get("dataset")), str(meta.get("split")), *sorted(map(str, ids))])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _is_reference(info) -> bool:
    """A run shipped in assets/results (read-only reference), not made on this machine."""
    try:
        return info.path.resolve().parent == bundled_runs_dir().resolve()
    except OSError:
        return False


def _run_frame(info) -> Any:
    """Summary of one run (RunInfo) with status, image set, weights notes and overlap flags."""
    df = _summary_cached(str(info.path), _signature(info.path)).copy()
    weights = info.meta.get("weights") or {}
    df["status"] = info.status
    df["started_at"] = info.started_at
    df["image_set"] = image_set(info.meta)
    df["source"] = "reference" if _is_reference(info) else "this machine"
    notes, flags = [], []
    for _, r in df.iterrows():
        overlap = _overlap_note(
            str(r["base_method"]), str(r["dataset"]), str(r["split"]), weights.get(r["method"])
        )
        parts = [ORACLE_NOTE] if r["oracle"] else []
        parts += [overlap] if overlap else []
        if r["n_errors"]:
            parts.append(f"failed on {r['n_errors']} image(s)")
        notes.append("; ".join(parts))
        flags.append(bool(overlap))
    df["train_overlap"] = flags
    df["note"] = notes
    df["data"] = [data_kind(d) for d in df["dataset"]]
    return df


COMPARABLE = "comparable"
SET_KEYS = ["dataset", "split", "image_set"]  # rows that may be compared (and ranked) together


def leaderboard_frame(
    results_dir: str | os.PathLike | None = None,
    *,
    run: str = COMPARABLE,
    dataset: str | None = None,
    split: str | None = None,
    live: str | None = None,
):
    """The leaderboard with machine keys and full precision (see :func:`summarize` columns,
    plus status, started_at, image_set, set_label, source, train_overlap, note, rank).
    ``run``: "comparable" (or "latest"), "all" or a run id; ``live``: a running run shown in
    the comparable view as its own set (see the module docstring)."""
    run = COMPARABLE if run in ("latest", "", None) else run
    if run not in (COMPARABLE, "all"):
        frames = [_run_frame(get_run(run, results_dir))]
    else:
        runs = list_runs(results_dir)
        if run == COMPARABLE:
            runs = [r for r in runs if r.status == "complete" or r.run_id == live]
        frames = [_run_frame(r) for r in runs]
    frames = [f for f in frames if len(f)]
    if not frames:
        empty = summarize(pd.DataFrame(columns=["method", "error", "seconds", "dataset", "split"]))
        for col in (
            "status",
            "started_at",
            "image_set",
            "set_label",
            "source",
            "train_overlap",
            "note",
            "data",
            "rank",
        ):
            empty[col] = pd.Series(dtype=object)
        return empty
    df = pd.concat(frames, ignore_index=True)
    if dataset:
        df = df[df["dataset"] == dataset]
    if split:
        df = df[df["split"] == split]
    groups = SET_KEYS + (["run_id"] if run == "all" else [])
    if run == COMPARABLE:
        live_rows = df["run_id"] == live
        df.loc[live_rows, "image_set"] = df.loc[live_rows, "image_set"] + "-live"
        # newest complete run per (method, image set): runs are newest first
        df = df.drop_duplicates(subset=["method", *SET_KEYS], keep="first")
    df = df.assign(
        set_label=[
            set_label(d, s, n) + (" · running" if r == live else "")
            for d, s, n, r in zip(
                df["dataset"], df["split"], df["n_images"], df["run_id"], strict=True
            )
        ]
    )
    df = _sorted(df, groups).reset_index(drop=True)
    scored = df[next(iter(_metric_key()))].notna()
    df["rank"] = scored.groupby([df[g] for g in groups]).cumsum().where(scored)
    return df


def _metric_key():
    key, spec = next(iter(METRICS.items()))
    return key, spec


def _sorted(df, groups):
    """Sets with more images first within a dataset and split, then best first in each set."""
    key, spec = _metric_key()
    by = ["data", "dataset", "split", "n_images", *groups[2:], key]
    up = [True, True, True, False, *[False] * len(groups[2:]), not spec.higher_is_better]
    return df.sort_values(by, ascending=up, kind="stable", na_position="last")


def _col(name: str, key: str | None, kind: str, description: str = "", **more) -> dict:
    """One display column (see :func:`leaderboard_columns`)."""
    return {"name": name, "key": key, "kind": kind, **more} | (
        {"description": description} if description else {}
    )


def leaderboard_columns() -> list[dict[str, Any]]:
    """The display columns of :func:`leaderboard_table`: ``name`` (header), ``key`` (column of
    :func:`leaderboard_frame` or None), ``kind`` ("text", "number", "bool"), and for metrics
    ``decimals``, ``higher_is_better`` and ``description`` (for tooltips)."""
    cols = [
        _col("Method", "method", "text"),
        _col("Data", "data", "text", "real photos or synthetic scenes: never ranked together"),
        _col("Dataset", "dataset", "text"),
        _col("Split", "split", "text"),
        _col("Images", "set_label", "text", "the image set: rows are comparable only within one"),
        _col("Rank", "rank", "number", "by the first metric, within this image set", decimals=0),
        _col("n", "n", "number", "images scored", decimals=0),
    ]
    for key, spec in METRICS.items():
        cols.append(
            _col(
                spec.label,
                key,
                "number",
                spec.description,
                decimals=spec.decimals,
                higher_is_better=spec.higher_is_better,
            )  # fmt: skip
        )
        cols.append(
            _col(
                f"{spec.label} std",
                f"{key}_std",
                "number",
                f"sample standard deviation of {spec.label} over the images",
                decimals=spec.decimals,
            )  # fmt: skip
        )
    if "lpips" not in METRICS:
        cols.append(
            _col(
                LPIPS_LABEL,
                None,
                "text",
                "LPIPS (AlexNet) needs weights that are not "
                "available offline here: n/a, never an estimate",
            )  # fmt: skip
        )
    return cols + [
        _col("Seconds / image", "seconds", "number", decimals=3),
        _col("Run", "run_id", "text"),
        _col(
            "Source",
            "source",
            "text",
            "a reference run shipped with the project, or a run made here",
        ),  # fmt: skip
        _col("Image set", "image_set", "text"),
        _col("Status", "status", "text"),
        _col("Weights", "weights", "text"),
        _col("Train overlap", "train_overlap", "bool"),
        _col(
            "Focus",
            "focus",
            "text",
            "where the focus points came from: the dataset's annotation or the image centre",
        ),  # fmt: skip
        _col("Note", "note", "text"),
    ]


def leaderboard_table(
    results_dir: str | os.PathLike | None = None,
    *,
    run: str = COMPARABLE,
    dataset: str | None = None,
    split: str | None = None,
    live: str | None = None,
):
    """The leaderboard for people (every column; the CSV download): one row per method and
    image set (per run with ``run="all"``), headers and rounding from
    :func:`leaderboard_columns`; NaN where a value does not exist."""
    raw = leaderboard_frame(results_dir, run=run, dataset=dataset, split=split, live=live)
    return table_from_frame(raw)


def table_from_frame(raw):
    """:func:`leaderboard_frame` output as :func:`leaderboard_table` shows it."""
    out = {}
    for col in leaderboard_columns():
        if col["key"] is None:
            out[col["name"]] = ["n/a"] * len(raw)
        elif col["kind"] == "number":
            vals = pd.to_numeric(raw[col["key"]], errors="coerce")
            out[col["name"]] = vals.round(col["decimals"]).tolist()
        else:
            out[col["name"]] = raw[col["key"]].tolist()
    return pd.DataFrame(out, columns=[c["name"] for c in leaderboard_columns()])


def display_columns() -> list[str]:
    """The columns the page shows (the CSV has them all): method, image set, rank, n, each
    metric's mean, seconds, source and note, so that the table fits a 1366 px screen."""
    return [
        "Method",
        "Images",
        "Rank",
        "n",
        *(m.label for m in METRICS.values()),
        "Seconds / image",
        "Source",
        "Note",
    ]


def display_widths() -> list[int]:
    """Widths of :func:`display_columns` in pixels: together under the 1216 px a 1366 px
    screen gives the table, and on a phone the first columns stay readable while the table
    scrolls sideways inside its box."""
    return [165, 135, 50, 44, *[78] * len(METRICS), 72, 96, 300]


def display_table(table):
    """:func:`leaderboard_table` output cut to :func:`display_columns`."""
    return table[display_columns()]


# --------------------------------------------------------------------------- images


def per_image(run_dir: str | os.PathLike):
    """The run's rows (:func:`eval.store.load_rows`) plus ``output_path``: the absolute path of
    each saved output (None for rows with an error)."""
    run_dir = Path(run_dir)
    df = load_rows(run_dir)
    df["output_path"] = [
        str(run_dir / o) if isinstance(o, str) and o else None for o in df["output"]
    ]
    return df


def worst_images(
    run_dir: str | os.PathLike, method: str, metric: str = "psnr", k: int = 12
) -> list[dict[str, Any]]:
    """The ``k`` worst scored images of ``method`` in a run, worst first.

    "Worst" follows the metric's ``higher_is_better`` (lowest PSNR/SSIM first). Rows with an
    error have no image and are left out. Each dict: ``id``, ``method``, ``metric``, ``value``,
    ``psnr``, ``ssim``, ``ssim_gauss`` (all metrics), ``output``/``input``/``gt`` (absolute
    paths as strings), ``caption`` (e.g. ``"4412 · PSNR (dB) 21.37"``).
    """

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}.")
    if k < 1:
        return []
    spec = METRICS[metric]
    df = per_image(run_dir)
    df = df[(df["method"] == method) & df["output_path"].notna()]
    df = df.assign(_v=pd.to_numeric(df[metric], errors="coerce")).dropna(subset=["_v"])
    df = df.sort_values("_v", ascending=spec.higher_is_better, kind="stable").head(int(k))
    out = []
    for _, r in df.iterrows():
        value = float(r["_v"])
        out.append(
            {
                "id": str(r["id"]),
                "method": method,
                "metric": metric,
                "value": value,
                **{m: (None if pd.isna(r[m]) else float(r[m])) for m in METRICS},
                "output": r["output_path"],
                "input": r["input_path"] or None,
                "gt": r["gt_path"] or None,
                "caption": f"{r['id']} · {spec.label} {spec.format(value)}",
            }
        )
    return out
