"""Load: 16 concurrent gradio_client clients, 5 depth renders each at 1024x683, against the app
launched as its own process on loopback. Zero errors, nothing dropped; the latencies and their
ratio to the same render in-process are printed (run with ``-s`` to see them). Also the
generator-throughput benchmark at a small size, and the FLOP count it relies on."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_sixteen_clients_five_renders_each(tmp_path):
    from eval.bench_app import format_load, load_test

    result = load_test(clients=16, requests=5, size=(1024, 683), workdir=tmp_path, timeout=480)
    print("\n" + format_load(result))
    assert result["errors"] == []
    assert result["completed"] == result["expected"] == 80  # nothing dropped


@pytest.mark.slow
def test_app_latency_against_in_process(tmp_path):
    from eval.bench_app import app_latency, format_latency

    result = app_latency(repeats=3, workdir=tmp_path)
    print("\n" + format_latency(result))
    assert len(result["app_s"]) == 3 and result["ratio"] > 0


@pytest.mark.slow
def test_generator_throughput_rows():
    from eval.bench_models import GENERATORS, benchmark_rows, format_result, measure

    result = measure(size=256, repeats=1)
    print("\n" + format_result(result))
    assert [g["network"] for g in result["generators"]] == list(GENERATORS)
    assert result["matmul"]["gflops"] > 0
    for g in result["generators"]:
        assert g["flops"] > 1e9 and g["gflops"] > 0
        assert g["ratio"] == pytest.approx(g["gflops"] / result["matmul"]["gflops"])
    rows = benchmark_rows(result=result)
    assert [r["benchmark"].split()[0] for r in rows] == list(GENERATORS)
    for r, g in zip(rows, result["generators"], strict=True):
        # time / (the time matmul speed needs for the same FLOPs) = matmul rate / network rate
        assert r["ratio"] == pytest.approx(1 / g["ratio"])
    with pytest.raises(ValueError, match="multiple of 256"):
        measure(size=200)


def test_flop_count_of_a_convolution_and_a_linear_layer():
    """count_flops counts 2 FLOPs per multiply-add of convolutions and matrix products."""
    import torch

    from eval.bench_models import count_flops

    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_flops(conv, torch.zeros(1, 3, 16, 20)) == 2 * (8 * 16 * 20) * (3 * 3 * 3)
    linear = torch.nn.Linear(30, 7)
    assert count_flops(linear, torch.zeros(5, 30)) == 2 * 5 * 30 * 7


def test_paired_keeps_every_pair_of_both_sides(monkeypatch):
    from eval import bench_app, timing

    monkeypatch.setattr(timing, "PAUSE_S", 0.0)
    order: list[str] = []
    seconds = {"x subject": [3.0, 9.0, 4.0], "x reference": [1.0, 2.0, 1.5]}  # app, in-process
    monkeypatch.setattr(bench_app, "wall_timer", lambda label, fn: (fn(), seconds[label].pop(0))[1])
    row = bench_app._paired("x", lambda: order.append("app"), lambda: order.append("local"), 3)
    assert order[:2] == ["app", "local"]  # the warm-up
    assert all(sorted(order[i : i + 2]) == ["app", "local"] for i in range(2, 8, 2))
    assert row["app_runs_s"] == [3.0, 9.0, 4.0] and row["inprocess_runs_s"] == [1.0, 2.0, 1.5]
    assert (row["app_s"], row["inprocess_s"], row["ratio"]) == (4.0, 1.5, 4.0 / 1.5)


def test_the_render_row_is_against_the_render_inside_each_call():
    from eval import bench_app

    row = {"name": "x", "app_s": 1.2, "inprocess_s": 0.8, "ratio": 1.5, "note": "",
           "app_runs_s": [1.2, 1.5, 1.0], "inprocess_runs_s": [0.8, 0.7, 0.9]}  # fmt: skip
    out = bench_app._against_inside(row, [1.0, 1.0, 0.5])
    assert out["ratio"] == 1.5  # the median of 1.2, 1.5 and 2.0: each call against itself
    assert out["inprocess_s"] == 1.0 and out["inside_runs_s"] == [1.0, 1.0, 0.5]
    assert out["note"] == "separate in-process calls: median 0.80 s, 1.50x"
    with pytest.raises(ValueError):  # one inside time per app call
        bench_app._against_inside(row, [1.0])


@pytest.mark.slow
def test_app_phases_add_up_to_the_call(tmp_path):
    """eval.app_phases against the launched app: every edge appears (the client's two uploads
    and two downloads, gradio's, the handler's), in the order of the call, and the gaps add
    up to about the call's time (medians: within 15%)."""
    from eval.app_phases import phases

    result = phases(size=(320, 240), repeats=3)
    names = list(result)
    assert names[-1] == "total"
    order = ["upload<", "upload#2<", "gradio>", "photo<", "render<", "png<", "postprocess<",
             "download<", "download#2<"]  # fmt: skip
    assert [n for n in names if n in order] == order
    assert sum(v for n, v in result.items() if n != "total") == pytest.approx(
        result["total"], rel=0.15)  # fmt: skip
    assert result["render<"] > 0
