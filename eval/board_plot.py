"""The leaderboard's PSNR-against-SSIM figure (plotly).

Built here, never in a ``bokeh.*`` module (gradio sends any figure whose class lives in a module
named like "bokeh" down its Bokeh path). One trace per image set (same dataset, split and
images: the rows that may be compared), its name giving the dataset and the number of images;
every point says its method, set, n and run on hover. Labels are drawn only for the best
:data:`LABELLED_PER_SET` methods of each set and the published references, and a label that
would land on another one is left to the hover, so that labels never overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from eval.datasets import REAL_DATASETS
from eval.metric_table import METRICS
from eval.references import REFERENCE_POINTS, ReferencePoint

_SYMBOLS = {"Singh & Gothe, Table 1": "diamond-open", "published, EBB! Val294": "square-open"}
TITLE = "PSNR against SSIM (higher is better on both)"
LABELLED_PER_SET = 3
# A label's size in fractions of the points' spans: per character (about 7 px of a ~900 px
# wide plot, generous for the ~870 px a 1366 px page gives it) and its height.
_CHAR_W, _LABEL_H = 0.0085, 0.07


def data_kind(dataset: str) -> str:
    """ "real photos" or "synthetic scenes", for people."""
    return "real photos" if dataset in REAL_DATASETS else "synthetic scenes"


def set_label(dataset: str, split: str, n_images: Any) -> str:
    """An image set for people: ``"synth/holdout · 64 synthetic scenes"``."""
    return f"{dataset}/{split} · {int(n_images)} {data_kind(dataset)}"


def rows_for_plot(df) -> list[dict[str, Any]]:
    """Markers for :func:`scatter_figure` from :func:`eval.leaderboard.leaderboard_frame`
    output: ``{"method", "psnr", "ssim", "oracle", "dataset", "split", "n", "set", "run"}``, in
    the frame's order (best first within a set); rows without finite PSNR and SSIM are left
    out. ``set`` names the image set (:func:`set_label`)."""
    need = {"method", "psnr", "ssim", "dataset", "split"}
    if len(df) == 0 or not need <= set(df.columns):
        return []
    out = []
    for _, r in df.iterrows():
        try:
            x, y = float(r["psnr"]), float(r["ssim"])
        except (TypeError, ValueError):
            continue
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        n_images = r.get("n_images", r.get("n", 0))
        n_images = int(n_images) if n_images == n_images else 0  # NaN for odd rows
        key = str(r.get("image_set") or f"{r['dataset']}/{r['split']}/{n_images}")
        out.append({
            "method": str(r["method"]), "psnr": x, "ssim": y,
            "oracle": bool(r.get("oracle", str(r["method"]).endswith(" (oracle depth)"))),
            "dataset": str(r["dataset"]), "split": str(r["split"]), "n": int(r.get("n", 0) or 0),
            "set": set_label(r["dataset"], r["split"], n_images), "set_key": key,
            "run": str(r.get("run_id") or ""),
        })  # fmt: skip
    return out


def _spans(points: Sequence[tuple[float, float]]) -> tuple[float, float, float, float]:
    xs = [p[0] for p in points] or [0.0]
    ys = [p[1] for p in points] or [0.0]
    return min(xs), max(max(xs) - min(xs), 1e-9), min(ys), max(max(ys) - min(ys), 1e-9)


def _label_box(u: float, v: float, text: str, position: str) -> tuple[float, ...]:
    """(left, right, bottom, top) of a label at point (u, v) in axes fractions, drawn at
    plotly's ``textposition`` ``position`` ("bottom left", "top center", ...)."""
    w = len(text) * _CHAR_W
    vertical, horizontal = position.split()
    left = {"left": u - w, "right": u, "center": u - w / 2}[horizontal]
    bottom = v - _LABEL_H if vertical == "bottom" else v
    return left, left + w, bottom, bottom + _LABEL_H


def place_labels(points: Sequence[tuple[float, float]], wanted: Sequence[bool],
                 everything: Sequence[tuple[float, float]], *, texts: Sequence[str],
                 positions: Sequence[str]) -> list[bool]:  # fmt: skip
    """Which of ``points`` (in priority order, with their label ``texts`` drawn at
    ``positions``) get a label: those ``wanted`` whose label box would not overlap a label
    already placed (boxes in fractions of the span of ``everything``, all points shown)."""
    x0, dx, y0, dy = _spans(everything)
    placed: list[tuple[float, ...]] = []
    out = []
    for (x, y), want, text, pos in zip(points, wanted, texts, positions, strict=True):
        box = _label_box((x - x0) / dx, (y - y0) / dy, text, pos)
        ok = want and not any(
            box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3] for b in placed
        )
        if ok:
            placed.append(box)
        out.append(ok)
    return out


def _side(x: float, points: Sequence[tuple[float, float]]) -> str:
    """Where a label goes: towards the middle of the plot, so it is never cut at an edge."""
    x0, dx, _, _ = _spans(points)
    u = (x - x0) / dx
    return "bottom left" if u > 0.75 else "bottom right" if u < 0.25 else "bottom center"


def scatter_figure(rows: Sequence[dict] = (),
                   references: Sequence[ReferencePoint] = REFERENCE_POINTS):  # fmt: skip
    """PSNR (x) against SSIM (y): one trace per image set of ``rows`` (:func:`rows_for_plot`;
    oracle rows as open circles), and the published references, labelled where room allows."""
    sets: dict[str, list[dict]] = {}
    for r in rows:
        sets.setdefault(r.get("set_key", r.get("set", "")), []).append(r)
    ours = [(k, r) for group in sets.values() for k, r in enumerate(group)]
    points = [(r["psnr"], r["ssim"]) for _, r in ours] + [(p.psnr, p.ssim) for p in references]
    # Priority: each set's best, then each set's second, ... (the best few), then references.
    order = sorted(
        range(len(points)),
        key=lambda i: (ours[i][0], i) if i < len(ours) else (LABELLED_PER_SET, i),
    )
    wanted = [i >= len(ours) or ours[i][0] < LABELLED_PER_SET for i in order]
    texts = [f"{r['method']} (n={r['n']})" for _, r in ours] + [p.method for p in references]
    positions = [_side(x, points) for x, _ in points[: len(ours)]]
    positions += ["top center"] * len(references)
    placed = place_labels([points[i] for i in order], wanted, points,
                          texts=[texts[i] for i in order],
                          positions=[positions[i] for i in order])  # fmt: skip
    shown = [False] * len(points)
    for i, ok in zip(order, placed, strict=True):
        shown[i] = ok
    labels = iter(shown)
    fig = go.Figure()
    for key, group in sets.items():
        first = group[0]
        fig.add_trace(
            go.Scatter(
                x=[r["psnr"] for r in group],
                y=[r["ssim"] for r in group],
                mode="markers+text",
                text=[f"{r['method']} (n={r['n']})" if next(labels) else "" for r in group],
                textposition=[_side(r["psnr"], points) for r in group],
                name=f"{first.get('set', key)}",
                marker={
                    "size": 12,
                    "symbol": ["circle-open" if r.get("oracle") else "circle" for r in group],
                    "line": {"width": 2},
                },
                customdata=[
                    [r["method"], r.get("set", ""), r["n"], r.get("run", "")] for r in group
                ],
                hovertemplate="%{customdata[0]}<br>%{customdata[1]}, n = %{customdata[2]}<br>"
                "PSNR %{x:.2f} dB<br>SSIM %{y:.3f}<br>run %{customdata[3]}<extra></extra>",
            )
        )
    for source in dict.fromkeys(p.source for p in references):
        pts = [p for p in references if p.source == source]
        fig.add_trace(
            go.Scatter(
                x=[p.psnr for p in pts],
                y=[p.ssim for p in pts],
                mode="markers+text",
                text=[p.method if next(labels) else "" for p in pts],
                textposition="top center",
                customdata=[p.method for p in pts],
                marker={"symbol": _SYMBOLS.get(source, "circle-open"), "size": 11, "color": "#888"},
                name=f"reported elsewhere: {source}",
                hovertemplate="%{customdata}<br>PSNR %{x:.2f} dB<br>SSIM %{y:.3f}<br>"
                + pts[0].protocol
                + "<extra></extra>",
            )
        )
    fig.update_layout(
        title={"text": TITLE, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        xaxis_title=METRICS["psnr"].label, yaxis_title=METRICS["ssim"].label,
        template="plotly_white", height=520, legend={"orientation": "h", "y": -0.18},
        margin={"l": 50, "r": 40, "t": 50, "b": 40},
        # A vertical tool bar on the right edge cannot cover the title or the axis labels.
        modebar={"orientation": "v"})  # fmt: skip
    return fig


__all__ = ["LABELLED_PER_SET", "TITLE", "data_kind", "place_labels",
           "rows_for_plot", "scatter_figure", "set_label"]  # fmt: skip
