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


def _narrow_labels(fig) -> list:
    return [(a.x, a.y, a.text, a.xanchor, a.yanchor) for a in fig.layout.annotations]


def test_a_phone_gets_fewer_labels_that_keep_off_other_markers():
    """The narrow plot's labels (annotations): each set's best where room allows, above its
    point when below is taken by a neighbour's marker; none covers another point's marker,
    none runs past the outermost points, fewer than on a wide plot."""
    # The page's case: three methods up and to the right, close together.
    rows = [_row("depth-gauss-0.25 (oracle depth)", 40.0, 0.985), _row("depth-gauss-0.25", 38.1, 0.98),
            _row("identity", 35.4, 0.95)]  # fmt: skip
    fig = scatter_figure(rows)  # with the published references
    narrow = _narrow_labels(fig)
    wide = [t for trace in fig.data for t in trace.text if t]
    assert 2 <= len(narrow) < len(wide)
    texts = [t for _, _, t, _, _ in narrow]
    assert "depth-gauss-0.25 (oracle depth) (n=64)" not in texts  # too long for the phone
    assert "depth-gauss-0.25 (n=64)" in texts
    x, y, _, xanchor, yanchor = narrow[texts.index("depth-gauss-0.25 (n=64)")]
    # below-left would cover the identity marker at (35.4, 0.95): it goes above-left
    assert (x, y, xanchor, yanchor) == (38.1, 0.98, "right", "bottom")
    xs = [p for t in fig.data for p in t.x]
    ys = [p for t in fig.data for p in t.y]
    # In a ~230 x 330 px plot (axes ~1.2 times the points' span), 6.5 px a character: every
    # label clears every other point's 12 px marker, and the left and right ends of the span.
    px_x = 230 / (1.2 * (max(xs) - min(xs)))
    px_y = 330 / (1.2 * (max(ys) - min(ys)))
    for x, y, text, xanchor, yanchor in narrow:
        w = len(text) * 6.5
        left = {"right": x * px_x - 6 - w, "left": x * px_x + 6, "center": x * px_x - w / 2}
        top = y * px_y + 8 if yanchor == "bottom" else y * px_y - 8 - 15
        box = (left[xanchor], left[xanchor] + w, top, top + 15)
        assert box[0] >= min(xs) * px_x - 1 and box[1] <= max(xs) * px_x + 1, text
        for px, py in zip(xs, ys, strict=True):
            if (px, py) == (x, y):
                continue
            mx, my = px * px_x, py * px_y
            apart = box[1] <= mx - 6 or box[0] >= mx + 6 or box[3] <= my - 6 or box[2] >= my + 6
            assert apart, (text, px, py)
