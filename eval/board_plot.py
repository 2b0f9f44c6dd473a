"""The leaderboard's PSNR-against-SSIM figure (plotly).

Built here, never in a ``bokeh.*`` module (gradio sends any figure whose class lives in a module
named like "bokeh" down its Bokeh path). One trace per image set (same dataset, split and
images: the rows that may be compared), its name giving the dataset and the number of images;
every point says its method, set, n and run on hover. Labels are drawn only for the best
:data:`LABELLED_PER_SET` methods of each set and the published references, and a label that
would land on another one is left to the hover, so that labels never overlap.

The figure cannot know how wide the page will draw it (gradio sizes it to its box), so it holds
two sets of labels: text on the points, placed for a wide plot, and annotations placed for a
phone's narrow one (:data:`NARROW`: fewer labels, none past the points' span). The page's CSS
shows one of them (``assets/app.css``: annotations only below 640 px).
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
# The same on a phone: ~230 px of axes for a 390 px page, ~330 px high (6.5 px a character of
# the 11 px font used there, a line 15 px below an 8 px gap, the axes ~1.2 times the points'
# span); there a label must also keep off the other points' markers (~7 px half-sizes of a
# 12 px marker) and stay within the points' span.
NARROW = {"char_w": 0.03, "label_h": 0.085, "marker": (0.035, 0.028), "inside": True}


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


def _width(text: str) -> float:
    """A label's width in average characters (capitals ~1.4 times as wide: "BGGAN")."""
    return len(text) + 0.4 * sum(c.isupper() for c in text)


def _label_box(u: float, v: float, text: str, position: str, *, char_w: float = _CHAR_W,
               label_h: float = _LABEL_H) -> tuple[float, ...]:  # fmt: skip
    """(left, right, bottom, top) of a label at point (u, v) in axes fractions, drawn at
    plotly's ``textposition`` ``position`` ("bottom left", "top center", ...), ``char_w`` a
    character wide and ``label_h`` high (fractions of the axes)."""
    w = _width(text) * char_w
    vertical, horizontal = position.split()
    left = {"left": u - w, "right": u, "center": u - w / 2}[horizontal]
    bottom = v - label_h if vertical == "bottom" else v
    return left, left + w, bottom, bottom + label_h


def _meet(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether boxes (left, right, bottom, top) overlap."""
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def place_labels(points: Sequence[tuple[float, float]], wanted: Sequence[bool],
                 everything: Sequence[tuple[float, float]], *, texts: Sequence[str],
                 positions: Sequence[str], **geometry) -> list[bool]:  # fmt: skip
    """Which of ``points`` (in priority order, with their label ``texts`` drawn at
    ``positions``) get a label: those ``wanted`` whose label box would not overlap a label
    already placed (boxes in fractions of the span of ``everything``, all points shown);
    ``geometry``: the options of :func:`choose_positions`."""
    chosen = choose_positions(points, wanted, everything, texts=texts,
                              candidates=[(p,) for p in positions], **geometry)  # fmt: skip
    return [c is not None for c in chosen]


def choose_positions(points: Sequence[tuple[float, float]], wanted: Sequence[bool],
                     everything: Sequence[tuple[float, float]], *, texts: Sequence[str],
                     candidates: Sequence[Sequence[str]], char_w: float = _CHAR_W,
                     label_h: float = _LABEL_H, marker: tuple[float, float] | None = None,
                     inside: bool = False) -> list[str | None]:  # fmt: skip
    """For each of ``points`` (in priority order, labelled ``texts``): the first of its
    ``candidates`` (plotly ``textposition`` values) where its label box would overlap no label
    already placed, or None (not ``wanted``, or no room). Boxes are in fractions of the span
    of ``everything`` (all points shown), a character ``char_w`` wide and a line ``label_h``
    high. ``marker``: (half width, half height) of a marker; a label must not cover another
    point's. ``inside``: a label must stay within the span across (a narrow plot has no room
    past its outermost points)."""
    x0, dx, y0, dy = _spans(everything)
    at = [((x - x0) / dx, (y - y0) / dy) for x, y in everything]
    mw, mh = marker or (0.0, 0.0)
    others = [(a - mw, a + mw, b - mh, b + mh, (a, b)) for a, b in at] if marker else []
    placed: list[tuple[float, ...]] = []
    out: list[str | None] = []
    for (x, y), want, text, options in zip(points, wanted, texts, candidates, strict=True):
        u, v = (x - x0) / dx, (y - y0) / dy
        pick = None
        for pos in options if want else ():
            box = _label_box(u, v, text, pos, char_w=char_w, label_h=label_h)
            if (
                not any(_meet(box, b) for b in placed)
                and (not inside or (box[0] >= 0 and box[1] <= 1))
                and not any(_meet(box, m[:4]) for m in others if m[4] != (u, v))
            ):
                pick = pos
                placed.append(box)
                break
        out.append(pick)
    return out


def _side(x: float, points: Sequence[tuple[float, float]]) -> str:
    """Where a label goes: towards the middle of the plot, so it is never cut at an edge."""
    x0, dx, _, _ = _spans(points)
    u = (x - x0) / dx
    return "bottom left" if u > 0.75 else "bottom right" if u < 0.25 else "bottom center"


def _labelled(rank: Sequence[int], points: Sequence[tuple[float, float]],
              texts: Sequence[str], candidates: Sequence[Sequence[str]],
              **geometry) -> list[str | None]:  # fmt: skip
    """Per point (the project's, each ``rank`` places from its set's best, then the
    references): where its label goes, or None, by :func:`choose_positions` (``geometry``:
    its options) in priority order: each set's best, then each set's second, ... (the best
    :data:`LABELLED_PER_SET`), then the references."""
    order = sorted(
        range(len(points)),
        key=lambda i: (rank[i], i) if i < len(rank) else (LABELLED_PER_SET, i),
    )
    wanted = [i >= len(rank) or rank[i] < LABELLED_PER_SET for i in order]
    chosen = choose_positions([points[i] for i in order], wanted, points,
                              texts=[texts[i] for i in order],
                              candidates=[candidates[i] for i in order], **geometry)  # fmt: skip
    out: list[str | None] = [None] * len(points)
    for i, pos in zip(order, chosen, strict=True):
        out[i] = pos
    return out


# textposition -> an annotation's (xanchor, yanchor, xshift, yshift) beside a 12 px marker
_ANCHORS = {
    "bottom left": ("right", "top", -6, -8),
    "bottom right": ("left", "top", 6, -8),
    "bottom center": ("center", "top", 0, -9),
    "top left": ("right", "bottom", -6, 8),
    "top right": ("left", "bottom", 6, 8),
    "top center": ("center", "bottom", 0, 9),
}
_FLIP = {"bottom": "top", "top": "bottom"}


def _annotate(fig, points, texts, positions) -> None:
    """The narrow plot's labels (``positions``: each one's, or None), as annotations (the
    page's CSS shows them on phones only)."""
    for (x, y), text, pos in zip(points, texts, positions, strict=True):
        if pos is not None:
            xanchor, yanchor, dx, dy = _ANCHORS[pos]
            fig.add_annotation(x=x, y=y, text=text, showarrow=False, xanchor=xanchor,
                               yanchor=yanchor, xshift=dx, yshift=dy,
                               font={"size": 11})  # fmt: skip


def scatter_figure(rows: Sequence[dict] = (),
                   references: Sequence[ReferencePoint] = REFERENCE_POINTS):  # fmt: skip
    """PSNR (x) against SSIM (y): one trace per image set of ``rows`` (:func:`rows_for_plot`;
    oracle rows as open circles), and the published references, labelled where room allows."""
    sets: dict[str, list[dict]] = {}
    for r in rows:
        sets.setdefault(r.get("set_key", r.get("set", "")), []).append(r)
    ours = [(k, r) for group in sets.values() for k, r in enumerate(group)]
    points = [(r["psnr"], r["ssim"]) for _, r in ours] + [(p.psnr, p.ssim) for p in references]
    texts = [f"{r['method']} (n={r['n']})" for _, r in ours] + [p.method for p in references]
    positions = [_side(x, points) for x, _ in points[: len(ours)]]
    positions += ["top center"] * len(references)
    rank = [k for k, _ in ours]
    labels = iter(p is not None for p in _labelled(rank, points, texts, [(p,) for p in positions]))
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
    # A phone: the other side of the point (above, below) where the first has no room.
    both = [(p, f"{_FLIP[p.split()[0]]} {p.split()[1]}") for p in positions]
    _annotate(fig, points, texts, _labelled(rank, points, texts, both, **NARROW))
    fig.update_layout(
        title={"text": TITLE, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        xaxis_title=METRICS["psnr"].label, yaxis_title=METRICS["ssim"].label,
        template="plotly_white", height=520, legend={"orientation": "h", "y": -0.18},
        margin={"l": 50, "r": 40, "t": 50, "b": 40},
        # A vertical tool bar on the right edge cannot cover the title or the axis labels.
        modebar={"orientation": "v"})  # fmt: skip
    return fig


__all__ = ["LABELLED_PER_SET", "NARROW", "TITLE", "choose_positions", "data_kind", "place_labels",
           "rows_for_plot", "scatter_figure", "set_label"]  # fmt: skip
