"""Leaderboard figures. Plotly figures are built here, never in a ``bokeh.*`` module (gradio
sends any figure whose class lives in a module named like "bokeh" down its Bokeh path)."""

from __future__ import annotations

from collections.abc import Sequence

from eval.references import REFERENCE_POINTS, ReferencePoint

_SYMBOLS = {"Singh & Gothe, Table 1": "diamond-open", "published, EBB! Val294": "square-open"}


def scatter_figure(rows: Sequence[dict] = (), references: Sequence[ReferencePoint] = REFERENCE_POINTS):
    """PSNR (x) against SSIM (y): one marker per evaluated method (``rows`` of dicts with
    method, psnr, ssim) plus labelled reference markers reported elsewhere."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for source in dict.fromkeys(r.source for r in references):
        pts = [r for r in references if r.source == source]
        fig.add_trace(go.Scatter(
            x=[p.psnr for p in pts], y=[p.ssim for p in pts], mode="markers+text",
            text=[p.method for p in pts], textposition="top center",
            marker={"symbol": _SYMBOLS.get(source, "circle-open"), "size": 11, "color": "#888"},
            name=f"reported elsewhere: {source}",
            hovertemplate="%{text}<br>PSNR %{x:.2f} dB<br>SSIM %{y:.3f}<br>" + pts[0].protocol
            + "<extra></extra>"))
    if rows:
        fig.add_trace(go.Scatter(
            x=[r["psnr"] for r in rows], y=[r["ssim"] for r in rows], mode="markers+text",
            text=[r["method"] for r in rows], textposition="bottom center",
            marker={"size": 13}, name="this project",
            hovertemplate="%{text}<br>PSNR %{x:.2f} dB<br>SSIM %{y:.3f}<extra></extra>"))
    fig.update_layout(
        xaxis_title="PSNR (dB)", yaxis_title="SSIM", template="plotly_white", height=460,
        legend={"orientation": "h", "y": -0.2}, margin={"l": 50, "r": 20, "t": 30, "b": 40})
    return fig
