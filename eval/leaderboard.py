"""Leaderboard: runs -> tables, the PSNR/SSIM figure, and the images behind the numbers.

Plotly figures are built here, never in a ``bokeh.*`` module (gradio sends any figure whose
class lives in a module named like "bokeh" down its Bokeh path).

Tables are computed from each run's ``rows.jsonl`` (the single source of truth), so a run in
progress can be shown too. Which runs feed the table (``run=``):

``"latest"``  (default) for every (method, dataset, split), the newest run with status
              ``complete`` that evaluated it; cancelled, failed, incomplete and running runs are
              left out.
``"all"``     every run, one row per (run, method), with its status.
a run id      that run only, whatever its status (live view while it runs).

Metric columns follow :data:`eval.metrics.METRICS` (label as header, values rounded to the
metric's decimals, sorted best first using ``higher_is_better``). Real photographs and
synthetic scenes are labelled as such (``Data``) and never ranked together: ``Rank`` counts
within one dataset and split. ``Note`` flags oracle rows
and results whose training data overlaps the evaluated images (``Train overlap``): the official
BGGAN weights were trained on a list that includes all of EBB! Val294 (REFERENCE.md section 2).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from bokeh.data.ebb import EBB_NUM_PAIRS, EBB_SPLITS
from eval.datasets import REAL_DATASETS
from eval.metric_table import METRICS
from eval.references import REFERENCE_POINTS, ReferencePoint
from eval.store import get_run, list_runs, load_rows, run_summary, summarize

_SYMBOLS = {"Singh & Gothe, Table 1": "diamond-open", "published, EBB! Val294": "square-open"}

ORACLE_NOTE = "oracle: true depth (an upper bound for this renderer, not a method)"
BGGAN_NOTE = (
    "official BGGAN weights were trained on a list that includes all of Val294 "
    "(ids 4400-4693): not a holdout score"
)
LPIPS_LABEL = "LPIPS"


# --------------------------------------------------------------------------- figure


def scatter_figure(
    rows: Sequence[dict] = (), references: Sequence[ReferencePoint] = REFERENCE_POINTS
):
    """PSNR (x) against SSIM (y): one marker per evaluated method (``rows`` of dicts with
    method, psnr, ssim; rows with ``"oracle": True`` form their own, open-marker trace) plus
    labelled reference markers reported elsewhere."""
    fig = go.Figure()
    for source in dict.fromkeys(r.source for r in references):
        pts = [r for r in references if r.source == source]
        fig.add_trace(
            go.Scatter(
                x=[p.psnr for p in pts],
                y=[p.ssim for p in pts],
                mode="markers+text",
                text=[p.method for p in pts],
                textposition="top center",
                marker={"symbol": _SYMBOLS.get(source, "circle-open"), "size": 11, "color": "#888"},
                name=f"reported elsewhere: {source}",
                hovertemplate="%{text}<br>PSNR %{x:.2f} dB<br>SSIM %{y:.3f}<br>"
                + pts[0].protocol
                + "<extra></extra>",
            )
        )
    ours = [r for r in rows if not r.get("oracle")]
    oracle = [r for r in rows if r.get("oracle")]
    for group, name, marker in (
        (ours, "this project", {"size": 13}),
        (
            oracle,
            "this project, oracle depth (upper bound)",
            {"size": 12, "symbol": "circle-open", "line": {"width": 2}},
        ),
    ):
        if not group:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r["psnr"] for r in group],
                y=[r["ssim"] for r in group],
                mode="markers+text",
                text=[r["method"] for r in group],
                textposition="bottom center",
                marker=marker,
                name=name,
                hovertemplate="%{text}<br>PSNR %{x:.2f} dB<br>SSIM %{y:.3f}<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis_title="PSNR (dB)",
        yaxis_title="SSIM",
        template="plotly_white",
        height=460,
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 50, "r": 20, "t": 30, "b": 40},
    )
    return fig


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


def _run_frame(info) -> Any:
    """Summary of one run (RunInfo) with status, weights notes and overlap flags added."""
    df = _summary_cached(str(info.path), _signature(info.path)).copy()
    weights = info.meta.get("weights") or {}
    df["status"] = info.status
    df["started_at"] = info.started_at
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


def data_kind(dataset: str) -> str:
    """ "real photos" or "synthetic scenes", for people."""
    return "real photos" if dataset in REAL_DATASETS else "synthetic scenes"


def leaderboard_frame(
    results_dir: str | os.PathLike | None = None,
    *,
    run: str = "latest",
    dataset: str | None = None,
    split: str | None = None,
):
    """The leaderboard with machine keys and full precision (see :func:`summarize` columns,
    plus status, started_at, train_overlap, note). ``run``: "latest", "all" or a run id."""

    if run not in ("latest", "all"):
        frames = [_run_frame(get_run(run, results_dir))]
    else:
        runs = list_runs(results_dir)
        if run == "latest":
            runs = [r for r in runs if r.status == "complete"]
        frames = [_run_frame(r) for r in runs]
    frames = [f for f in frames if len(f)]
    if not frames:
        empty = summarize(pd.DataFrame(columns=["method", "error", "seconds", "dataset", "split"]))
        for col in ("status", "started_at", "train_overlap", "note", "data", "rank"):
            empty[col] = pd.Series(dtype=object)
        return empty
    df = pd.concat(frames, ignore_index=True)
    if dataset:
        df = df[df["dataset"] == dataset]
    if split:
        df = df[df["split"] == split]
    if run == "latest":  # newest complete run per (method, dataset, split): runs are newest first
        df = df.drop_duplicates(subset=["method", "dataset", "split"], keep="first")
    df = _sorted(df).reset_index(drop=True)
    scored = df[next(iter(_metric_key()))].notna()
    df["rank"] = scored.groupby([df["dataset"], df["split"]]).cumsum().where(scored)
    return df


def _metric_key():
    key, spec = next(iter(METRICS.items()))
    return key, spec


def _sorted(df):
    key, spec = _metric_key()
    return df.sort_values(
        ["data", "dataset", "split", key],
        ascending=[True, True, True, not spec.higher_is_better],
        kind="stable",
        na_position="last",
    )


def leaderboard_columns() -> list[dict[str, Any]]:
    """The display columns of :func:`leaderboard_table`: ``name`` (header), ``key`` (column of
    :func:`leaderboard_frame` or None), ``kind`` ("text", "number", "bool"), and for metrics
    ``decimals``, ``higher_is_better`` and ``description`` (for tooltips)."""
    cols: list[dict[str, Any]] = [
        {"name": "Method", "key": "method", "kind": "text"},
        {
            "name": "Data",
            "key": "data",
            "kind": "text",
            "description": "real photos or synthetic scenes: never ranked together",
        },
        {"name": "Dataset", "key": "dataset", "kind": "text"},
        {"name": "Split", "key": "split", "kind": "text"},
        {
            "name": "Rank",
            "key": "rank",
            "kind": "number",
            "decimals": 0,
            "description": "by the first metric, within this dataset and split",
        },
        {"name": "n", "key": "n", "kind": "number", "decimals": 0},
    ]
    for key, spec in METRICS.items():
        cols.append(
            {
                "name": spec.label,
                "key": key,
                "kind": "number",
                "decimals": spec.decimals,
                "higher_is_better": spec.higher_is_better,
                "description": spec.description,
            }
        )
        cols.append(
            {
                "name": f"{spec.label} std",
                "key": f"{key}_std",
                "kind": "number",
                "decimals": spec.decimals,
                "description": f"sample standard deviation of {spec.label} over the images",
            }
        )
    if "lpips" not in METRICS:
        cols.append(
            {
                "name": LPIPS_LABEL,
                "key": None,
                "kind": "text",
                "description": "LPIPS (AlexNet) needs weights that are not available "
                "offline here: n/a, never an estimate",
            }
        )
    cols += [
        {"name": "Seconds / image", "key": "seconds", "kind": "number", "decimals": 3},
        {"name": "Run", "key": "run_id", "kind": "text"},
        {"name": "Status", "key": "status", "kind": "text"},
        {"name": "Weights", "key": "weights", "kind": "text"},
        {"name": "Train overlap", "key": "train_overlap", "kind": "bool"},
        {
            "name": "Focus",
            "key": "focus",
            "kind": "text",
            "description": "where the focus points came from: the dataset's annotation or the "
            "image centre",
        },
        {"name": "Note", "key": "note", "kind": "text"},
    ]
    return cols


def leaderboard_table(
    results_dir: str | os.PathLike | None = None,
    *,
    run: str = "latest",
    dataset: str | None = None,
    split: str | None = None,
):
    """The leaderboard for people: one row per (method, dataset, split) (per run with
    ``run="all"``), headers and rounding from :func:`leaderboard_columns`; NaN where a value
    does not exist. Suitable for ``gr.DataFrame`` and CSV download."""
    raw = leaderboard_frame(results_dir, run=run, dataset=dataset, split=split)
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


def rows_for_plot(df) -> list[dict[str, Any]]:
    """Markers for :func:`scatter_figure` from :func:`leaderboard_table` or
    :func:`leaderboard_frame` output: ``{"method", "psnr", "ssim", "oracle", "dataset",
    "split"}``; rows without finite PSNR and SSIM are left out. The dataset is added to the
    label when the table mixes datasets."""

    def col(key: str, label: str) -> str:
        return key if key in df.columns else label

    method = col("method", "Method")
    ds, sp = col("dataset", "Dataset"), col("split", "Split")
    psnr, ssim = col("psnr", METRICS["psnr"].label), col("ssim", METRICS["ssim"].label)
    if len(df) == 0 or psnr not in df.columns or ssim not in df.columns:
        return []
    mixed = df[[ds, sp]].drop_duplicates().shape[0] > 1
    out = []
    for _, r in df.iterrows():
        try:
            x, y = float(r[psnr]), float(r[ssim])
        except (TypeError, ValueError):
            continue
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        name = str(r[method])
        label = f"{name} · {data_kind(str(r[ds]))}: {r[ds]}/{r[sp]}" if mixed else name
        out.append(
            {
                "method": label,
                "psnr": x,
                "ssim": y,
                "oracle": name.endswith(" (oracle depth)"),
                "dataset": r[ds],
                "split": r[sp],
            }
        )
    return out


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
