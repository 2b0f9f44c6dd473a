"""Leaderboard tables from run folders, the scatter figure, and the worst-images gallery."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from eval import board_plot
from eval import leaderboard as lb
from eval.metric_table import METRICS
from eval.references import REFERENCE_POINTS
from eval.runs import evaluate, iter_evaluate
from eval.store import list_runs, load_rows


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    from bokeh.data.synth import generate

    return generate(
        tmp_path_factory.mktemp("synth") / "set", count=3, size=(96, 64), seed=2, split="holdout"
    )


def _stop_after(n: int):
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > n

    return should_stop


@pytest.fixture(scope="module")
def results(synth, tmp_path_factory) -> dict:
    """Four runs, oldest first: A complete (identity, depth-lens), B complete (identity),
    C cancelled (identity), D killed mid-run (identity)."""
    res = tmp_path_factory.mktemp("results")
    a = evaluate(["identity", "depth-lens"], "synth", root=synth, limit=2, results_dir=res)
    b = evaluate(["identity"], "synth", root=synth, limit=3, results_dir=res)
    c = evaluate(["identity"], "synth", root=synth, results_dir=res, should_stop=_stop_after(1))
    d = evaluate(["identity"], "synth", root=synth, results_dir=res, should_stop=_stop_after(2))
    meta = json.loads((d / "run.json").read_text())
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    meta.update(status="running", pid=int(dead.stdout), pid_start=None, ended_at=None)
    (d / "run.json").write_text(json.dumps(meta))
    return {"dir": res, "A": a.name, "B": b.name, "C": c.name, "D": d.name}


def test_statuses_of_the_fixture_runs(results):
    status = {r.run_id: r.status for r in list_runs(results["dir"])}
    assert [status[results[k]] for k in "ABCD"] == [
        "complete",
        "complete",
        "cancelled",
        "incomplete",
    ]
    # newest first
    assert [r.run_id for r in list_runs(results["dir"])] == [results[k] for k in "DCBA"]


def test_comparable_view_keeps_image_sets_apart(results):
    """A (2 images) and B (3 images) scored different images: both stay, each ranked on its
    own; the cancelled and killed runs are left out."""
    df = lb.leaderboard_frame(results["dir"])
    got = sorted(zip(df["method"], df["run_id"], df["n"], strict=True))
    assert got == sorted(
        [
            ("identity", results["A"], 2),
            ("depth-lens", results["A"], 2),
            ("depth-lens (oracle depth)", results["A"], 2),
            ("identity", results["B"], 3),
        ]
    )
    assert (df["status"] == "complete").all()
    for _, group in df.groupby("image_set"):
        assert sorted(group["rank"]) == list(range(1, len(group) + 1))
    assert df.groupby("image_set")["run_id"].nunique().max() == 1
    assert df["set_label"].tolist()[0] == "synth/holdout · 3 synthetic scenes"  # bigger set first
    row = df[df["run_id"] == results["B"]].iloc[0]
    rows_b = load_rows(results["dir"] / "runs" / results["B"])  # the numbers are B's rows'
    for key in METRICS:
        assert row[key] == pytest.approx(rows_b[key].mean(), rel=1e-12)
    assert lb.leaderboard_frame(results["dir"], run="latest").equals(df)  # the older name


def test_a_run_on_the_same_images_supersedes_and_a_smaller_one_does_not(synth, tmp_path):
    reference = evaluate(
        ["identity", "depth-gauss-0.25"], "synth", root=synth, results_dir=tmp_path
    )
    tiny = evaluate(["identity"], "synth", root=synth, limit=1, results_dir=tmp_path)
    df = lb.leaderboard_frame(tmp_path)
    gauss = ("depth-gauss-0.25", "depth-gauss-0.25 (oracle depth)")
    assert sorted(zip(df["method"], df["run_id"], strict=True)) == sorted(
        [
            ("identity", reference.name),
            *((g, reference.name) for g in gauss),
            ("identity", tiny.name),
        ]
    )  # the tiny run sits beside the reference rows
    same = evaluate(["identity"], "synth", root=synth, results_dir=tmp_path)
    df = lb.leaderboard_frame(tmp_path)
    got = dict(zip(zip(df["method"], df["n"], strict=True), df["run_id"], strict=True))
    assert got == {
        ("identity", 3): same.name,
        **{(g, 3): reference.name for g in gauss},
        ("identity", 1): tiny.name,
    }


def test_image_set_is_dataset_split_and_ids():
    base = {"dataset": "synth", "split": "holdout", "ids": ["1", "0", "2"]}
    assert lb.image_set(base) == lb.image_set({**base, "ids": ["0", "1", "2"]})
    for other in (
        {**base, "ids": ["0", "1"]},
        {**base, "split": "train"},
        {**base, "dataset": "ebb"},
    ):
        assert lb.image_set(other) != lb.image_set(base)


def test_all_runs_and_a_single_run(results):
    every = lb.leaderboard_frame(results["dir"], run="all")
    assert sorted(every["run_id"].unique()) == sorted(results[k] for k in "ABCD")
    assert len(every) == 3 + 1 + 1 + 1
    assert set(every["status"]) == {"complete", "cancelled", "incomplete"}
    one = lb.leaderboard_frame(results["dir"], run=results["C"])
    assert list(one["method"]) == ["identity"] and one.loc[0, "n"] == 1
    assert one.loc[0, "status"] == "cancelled" and not one.loc[0, "complete"]
    assert lb.leaderboard_frame(results["dir"], dataset="ebb").empty


def test_display_columns_follow_the_metric_declarations(results):
    table = lb.leaderboard_table(results["dir"])
    names = [c["name"] for c in lb.leaderboard_columns()]
    assert list(table.columns) == names
    for spec in METRICS.values():
        assert spec.label in table.columns
        for v in table[spec.label]:
            assert round(v, spec.decimals) == v
    assert set(table["LPIPS"]) == {"n/a"} or "lpips" in METRICS
    first = next(iter(METRICS.values()))
    for _, group in table.groupby("Image set", sort=False):  # best first within an image set
        values = list(group[first.label])
        assert values == sorted(values, reverse=first.higher_is_better)
        assert list(group["Rank"]) == list(range(1, len(group) + 1))
    assert table.set_index("Method").loc["depth-lens (oracle depth)", "Note"].startswith("oracle")
    shown = lb.display_table(table)
    assert list(shown.columns) == lb.display_columns()
    assert {"Method", "Images", "Rank", "n"} <= set(shown.columns)
    assert len(lb.display_widths()) == len(shown.columns)
    assert sum(lb.display_widths()) <= 1216  # the table's box on a 1366 px screen
    csv_text = table.to_csv(index=False)
    assert csv_text.splitlines()[0].split(",")[0] == "Method"


def test_empty_results_give_an_empty_table_with_columns(tmp_path):
    table = lb.leaderboard_table(tmp_path)
    assert table.empty and list(table.columns) == [c["name"] for c in lb.leaderboard_columns()]
    assert lb.rows_for_plot(table) == []


def test_rows_for_plot_and_figure(results):
    frame = lb.leaderboard_frame(results["dir"])
    rows = lb.rows_for_plot(frame)
    assert sorted((r["method"], r["n"]) for r in rows) == sorted(
        [("identity", 2), ("depth-lens", 2), ("depth-lens (oracle depth)", 2), ("identity", 3)]
    )
    assert all(math.isfinite(r["psnr"]) and math.isfinite(r["ssim"]) for r in rows)
    assert [r["oracle"] for r in rows if r["method"].endswith("(oracle depth)")] == [True]
    fig = lb.scatter_figure(rows)
    assert fig.layout.title.text  # the plot says what it shows
    ours = [t for t in fig.data if not t.name.startswith("reported elsewhere")]
    # one trace per image set, named by its dataset, split and number of images
    assert sorted(t.name for t in ours) == [
        "synth/holdout · 2 synthetic scenes",
        "synth/holdout · 3 synthetic scenes",
    ]
    labels = [text for t in ours for text in t.text if text]
    assert labels and all(re.search(r" \(n=\d+\)$", text) for text in labels)
    hover = [d for t in ours for d in t.customdata]
    assert {(d[0], d[2]) for d in hover} == {(r["method"], r["n"]) for r in rows}
    refs = [t for t in fig.data if t.name.startswith("reported elsewhere")]
    assert sum(len(t.x) for t in refs) == len(REFERENCE_POINTS)
    assert len(lb.scatter_figure().data) == len(refs)


def test_plot_labels_the_best_few_per_set_and_never_two_on_one_spot():
    """Fifteen methods in one cluster (as the synthetic reference run has): at most three
    labels per image set, none within reach of another; every point keeps its hover."""
    rows = [
        {
            "method": f"m{k}",
            "psnr": 30 + 0.2 * k,
            "ssim": 0.9 - 0.003 * k,
            "oracle": False,
            "dataset": "synth",
            "split": "holdout",
            "n": 64,
            "set": "synth/holdout · 64 synthetic scenes",
            "set_key": "a",
            "run": "r",
        }
        for k in range(15)
    ]
    fig = lb.scatter_figure(rows, references=REFERENCE_POINTS)
    ours = fig.data[0]
    shown = [k for k, text in enumerate(ours.text) if text]
    assert 1 <= len(shown) <= board_plot.LABELLED_PER_SET and shown[0] == 0
    assert len(ours.customdata) == 15
    placed = [
        (x, y, text, pos)
        for t in fig.data
        for x, y, text, pos in zip(t.x, t.y, t.text, _positions(t), strict=True)
        if text
    ]
    xs, ys = [x for t in fig.data for x in t.x], [y for t in fig.data for y in t.y]
    dx, dy = max(xs) - min(xs), max(ys) - min(ys)
    for i, (x1, y1, t1, p1) in enumerate(placed):
        for x2, y2, t2, p2 in placed[i + 1 :]:
            # ~870 px for dx, 6.5 px a character: labels on one line are their widths apart;
            # a label above its point and one below a neighbour do not meet.
            apart = abs(x1 - x2) / dx * 870 >= (len(t1) + len(t2)) / 2 * 6.5
            other_side = p1.split()[0] != p2.split()[0] and (p1 < p2) == (y1 < y2)
            assert apart or other_side or abs(y1 - y2) / dy >= 0.06, (t1, t2)


def _positions(trace) -> list[str]:
    pos = trace.textposition
    return [pos] * len(trace.x) if isinstance(pos, str) else list(pos)


def test_rows_for_plot_name_their_set():
    df = pd.DataFrame(
        {
            "method": ["identity", "identity"],
            "dataset": ["synth", "vabm"],
            "split": ["holdout", "all"],
            "psnr": [30.0, 20.0],
            "n": [3, 18],
            "n_images": [3, 18],
            "ssim": [0.9, float("nan")],
        }
    )
    rows = lb.rows_for_plot(df)
    assert [(r["method"], r["set"], r["n"]) for r in rows] == [
        ("identity", "synth/holdout · 3 synthetic scenes", 3)
    ]


def test_live_run_is_visible_by_id_but_not_in_latest(synth, tmp_path):
    gen = iter_evaluate(["identity"], "synth", root=synth, results_dir=tmp_path)
    run_id = next(gen)["run_id"]
    next(gen)
    try:
        live = lb.leaderboard_frame(tmp_path, run=run_id)
        assert live.loc[0, "n"] == 1 and live.loc[0, "status"] == "running"
        assert lb.leaderboard_frame(tmp_path).empty
        for _ in gen:  # finish
            pass
        assert lb.leaderboard_frame(tmp_path).loc[0, "n"] == 3
    finally:
        gen.close()


def test_worst_images_order_and_paths(results):
    run_dir = results["dir"] / "runs" / results["A"]
    rows = load_rows(run_dir)
    for metric in METRICS:
        worst = lb.worst_images(run_dir, "depth-lens", metric, k=12)
        values = [w["value"] for w in worst]
        assert len(worst) == 2
        assert values == sorted(values, reverse=not METRICS[metric].higher_is_better)
        expected = rows[rows["method"] == "depth-lens"][metric]
        assert values[0] == pytest.approx(
            expected.min() if METRICS[metric].higher_is_better else expected.max()
        )
        for w in worst:
            assert Path(w["output"]).is_file() and Path(w["input"]).is_file()
            assert Path(w["gt"]).is_file() and w["id"] in w["caption"]
    assert len(lb.worst_images(run_dir, "depth-lens", "psnr", k=1)) == 1
    assert lb.worst_images(run_dir, "no-such-method", "psnr") == []
    with pytest.raises(ValueError, match="metric"):
        lb.worst_images(run_dir, "depth-lens", "lpips-ish")
    table = lb.per_image(run_dir)
    assert all(Path(p).is_file() for p in table["output_path"])


def test_training_overlap_note():
    assert lb._overlap_note("bggan", "ebb", "val294", None) == lb.BGGAN_NOTE
    assert lb._overlap_note("bggan", "ebb", "holdout100", None) == lb.BGGAN_NOTE
    assert lb._overlap_note("bggan", "synth", "holdout", None) == ""
    assert lb._overlap_note("depth-lens", "ebb", "val294", None) == ""
    own = {"networks": {"bggan_g": {"provenance": {"dataset": "ebb", "split": "train"}}}}
    assert lb._overlap_note("bggan", "ebb", "val294", own) == ""
    leaky = {"networks": {"unet": {"provenance": {"train_split": "all"}}}}
    assert "overlaps val294" in lb._overlap_note("pix2pix", "ebb", "val294", leaky)


def test_bundled_reference_runs_are_listed_after_local_ones(tmp_path, monkeypatch):
    """A fresh deployment shows the reference runs shipped in assets/results; local runs come
    first and shadow a bundled run with the same id."""
    import shutil

    from eval import store

    bundled = tmp_path / "bundled" / "runs"
    local = tmp_path / "results"
    (local / "runs").mkdir(parents=True)
    monkeypatch.setattr(store, "bundled_runs_dir", lambda: bundled)
    monkeypatch.setenv("BOKEH_RESULTS_DIR", str(local))
    monkeypatch.setenv("BOKEH_BUNDLED_RUNS", "1")
    for run_id, parent in (
        ("20260101T000000000Z-aaaaaa", bundled),
        ("20260202T000000000Z-bbbbbb", local / "runs"),
    ):
        (parent / run_id).mkdir(parents=True)
        meta = {
            "run_id": run_id,
            "status": "complete",
            "dataset": "synth",
            "split": "holdout",
            "methods": ["identity"],
            "n_images": 1,
        }
        (parent / run_id / "run.json").write_text(json.dumps(meta))
    ids = [r.run_id for r in store.list_runs()]
    assert ids == ["20260202T000000000Z-bbbbbb", "20260101T000000000Z-aaaaaa"]
    assert store.get_run("20260101T000000000Z-aaaaaa").path.parent == bundled
    assert [r.run_id for r in store.list_runs(local)] == ["20260202T000000000Z-bbbbbb"]
    monkeypatch.setenv("BOKEH_BUNDLED_RUNS", "0")
    assert [r.run_id for r in store.list_runs()] == ["20260202T000000000Z-bbbbbb"]
    shutil.rmtree(bundled)


def test_csv_exports_are_named_by_content_and_bounded(monkeypatch, tmp_path):
    """Refreshing the leaderboard must not leave a new temporary file behind each time."""
    import tempfile

    from eval import actions

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = actions.export_file("leaderboard", "a,b\n1,2\n")
    assert actions.export_file("leaderboard", "a,b\n1,2\n") == first
    assert Path(first).read_text() == "a,b\n1,2\n"
    for k in range(actions.EXPORTS_KEPT + 5):
        actions.export_file("leaderboard", f"a\n{k}\n")
    files = list((tmp_path / "bokeh-exports").glob("*.csv"))
    assert len(files) == actions.EXPORTS_KEPT
