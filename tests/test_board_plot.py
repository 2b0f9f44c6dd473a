"""Labels on the leaderboard plot: a long label does not run into its neighbour's."""

from __future__ import annotations

from eval.board_plot import place_labels, scatter_figure

# A plot ~870 px wide (a 1366 px page) over these spans; plotly's 12 px font is ~6.5 px a char.
PX_PER_CHAR, PLOT_PX = 6.5, 870


def _row(method: str, psnr: float, ssim: float) -> dict:
    return {"method": method, "psnr": psnr, "ssim": ssim, "n": 64, "set": "synth/holdout · 64",
            "set_key": "s64", "dataset": "synth", "split": "holdout"}  # fmt: skip


def test_a_long_label_keeps_its_neighbour_unlabelled():
    # The case seen on the page: a 38-character label centred 3.4 dB (17% of a 20 dB span)
    # from a 14-character one at the same SSIM: ~125 px + ~45 px of half-widths > 148 px apart.
    points = [(30.0, 0.90), (33.4, 0.90), (16.0, 0.40), (36.0, 1.0)]
    texts = ["depth-gauss-0.25 (oracle depth) (n=64)", "pix2pix (n=64)", "a", "b"]
    positions = ["bottom center"] * 4
    shown = place_labels(points, [True, True, False, False], points, texts=texts,
                         positions=positions)  # fmt: skip
    assert shown[:2] == [True, False]
    # Short labels as far apart are both shown.
    texts = ["lens (n=64)", "p2p (n=64)", "a", "b"]
    shown = place_labels(points, [True, True, False, False], points, texts=texts,
                         positions=positions)  # fmt: skip
    assert shown[:2] == [True, True]


def test_shown_labels_do_not_overlap_in_a_crowded_cluster():
    """15 methods between 29-33 dB and 0.85-0.94 (the issue's cluster): the labels shown are
    at least their half-widths apart in pixels, or on different lines."""
    first = [("depth-gauss-0.25 (oracle depth)", 29.0, 0.90), ("pix2pix", 31.6, 0.90),
             ("depth-lens (oracle depth)", 31.0, 0.86)]  # fmt: skip
    rows = [_row(*r) for r in first]
    rows += [_row(f"m{k}", 29 + 0.27 * k, 0.85 + 0.006 * k) for k in range(12)]
    rows.append(_row("identity", 19.0, 0.65))
    fig = scatter_figure(rows, references=[])
    xs = [r["psnr"] for r in rows]
    px_per_db = PLOT_PX / (max(xs) - min(xs))
    shown = [(x, y, t) for x, y, t in zip(fig.data[0].x, fig.data[0].y, fig.data[0].text,
                                          strict=True) if t]  # fmt: skip
    assert len(shown) >= 2
    for i, (xa, ya, ta) in enumerate(shown):
        for xb, yb, tb in shown[i + 1 :]:
            apart = abs(xa - xb) * px_per_db
            same_line = abs(ya - yb) < 0.02
            assert not same_line or apart >= (len(ta) + len(tb)) / 2 * PX_PER_CHAR, (ta, tb)
