"""``python -m eval benchmark``: targets, verdicts and the ``--strict`` exit status, run on tiny
images with an injected timer (the real code runs; the seconds are made up, never measured),
and the pieces the speed rows rely on (the threaded reference, the exponent fit)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from eval import bench_lens, bench_start, benchmark, timing
from eval.__main__ import main as eval_main
from eval.benchmark import Row, Target, exit_status, missed


@pytest.fixture(autouse=True)
def _no_pauses(monkeypatch):
    monkeypatch.setattr(timing, "PAUSE_S", 0.0)


def _parsed(*argv: str) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser()
    benchmark.add_arguments(parser)
    return parser.parse_args(list(argv)), parser


def _timer(seconds: dict[str, float], calls: list[str]):
    """A timer that runs the function (so the code under test runs) and reports made-up
    seconds by the kind of call: the first key contained in the label."""

    def timer(label, fn):
        fn()
        calls.append(label)
        return next(v for k, v in seconds.items() if k in label)

    return timer


FAST = {"reference": 1.0, "subject": 0.5, "scikit-image": 1.0, "ours": 0.05}
SLOW_LENS = {"reference": 1.0, "subject": 1.5, "scikit-image": 1.0, "ours": 0.05}


def test_alternate_draws_which_side_goes_first_and_pauses(monkeypatch):
    """Pairs in a random order, each call after a random pause: load that recurs with the
    pairs' rhythm must not keep hitting one side."""
    calls: list[str] = []
    pauses: list[float] = []
    monkeypatch.setattr(timing, "PAUSE_S", 0.01)
    monkeypatch.setattr(timing.time, "sleep", pauses.append)
    s, r = timing.alternate(lambda: calls.append("s"), lambda: calls.append("r"), repeats=20,
                            timer=lambda name, fn: (fn(), 2.0 if "subject" in name else 1.0)[1],
                            label="x")  # fmt: skip
    assert calls[:2] == ["s", "r"] and (s, r) == ([2.0] * 20, [1.0] * 20)
    pairs = [calls[i : i + 2] for i in range(2, len(calls), 2)]
    assert all(sorted(p) == ["r", "s"] for p in pairs)
    assert 5 <= sum(p[0] == "s" for p in pairs) <= 15  # both orders, about as often
    assert len(pauses) == 40 and all(0 <= p <= 0.01 for p in pauses) and len(set(pauses)) == 40
    calls.clear()
    timing.alternate(lambda: calls.append("s"), lambda: calls.append("r"), repeats=1,
                     timer=lambda name, fn: (fn(), 1.0)[1], label="x", warm_up=False)  # fmt: skip
    assert sorted(calls) == ["r", "s"]  # the caller ran the warm-up: one pair, nothing else


def test_targets_and_verdicts():
    assert Target("<=", 1.0).met(1.0) and not Target("<=", 1.0).met(1.01)
    assert Target(">=", 10).met(10.0) and not Target(">=", 10).met(9.9)
    with pytest.raises(ValueError, match="operator"):
        Target("<", 1.0).met(0.5)
    ok = Row("a", "1 vs 1", 0.9, "x", Target("<=", 1.0))
    miss = Row("b", "2 vs 2", 1.1, "x", Target("<=", 1.0))
    info = Row("c", "1 vs 1", 5.0, "x")
    assert (ok.verdict, miss.verdict, info.verdict) == ("ok", "MISS", "")
    assert missed([ok, miss, info]) == [miss]
    assert exit_status([ok, info], strict=True) == 0
    assert exit_status([ok, miss], strict=True) == 1
    assert exit_status([ok, miss], strict=False) == 0


@pytest.mark.parametrize(
    ("seconds", "strict", "status"), [(FAST, True, 0), (SLOW_LENS, True, 1), (SLOW_LENS, False, 0)]
)
def test_quick_run_verdicts_and_strict_exit(capsys, seconds, strict, status):
    calls: list[str] = []
    argv = ["--quick", "--size", "96x64", "--repeats", "2", "--threads", "1,2"]
    args, parser = _parsed(*argv, *(["--strict"] if strict else []))
    assert benchmark.main(args, parser, timer=_timer(seconds, calls)) == status
    out = capsys.readouterr().out
    # Both scenes at both thread counts, each side stated, each with its verdict.
    for scene in bench_lens.SCENES:
        for t in (1, 2):
            line = next(
                ln
                for ln in out.splitlines()
                if f"depth-lens 96x64 {scene}" in ln and f"{t} vs {t}" in ln
            )
            assert ("MISS" if seconds is SLOW_LENS else " ok ") in line
            assert f"depth-lens {scene} {t}t subject" in calls
            assert f"depth-lens {scene} {t}t reference" in calls
    assert "psnr+ssim+ssim_gauss 96x64" in out and "20 x faster" in out
    assert "metrics max |ours - scikit-image|" in out
    for what in ("decode", "encode"):  # the PNG rows, for information (no verdict)
        assert f"png {what} subject" in calls and f"png {what} reference" in calls
    assert "PNG upload decode 96x64" in out and "PNG output encode 96x64" in out
    assert "load before" in out and "logical cores" in out
    assert ("every target met" in out) == (seconds is FAST)


def test_cli_strict_exit_status(monkeypatch):
    miss = [Row("lens", "1 vs 1", 1.5, "x", Target("<=", 1.0))]
    monkeypatch.setattr(benchmark, "run", lambda **kwargs: miss)
    assert eval_main(["benchmark", "--quick", "--strict"]) == 1
    assert eval_main(["benchmark", "--quick"]) == 0
    monkeypatch.setattr(
        benchmark, "run", lambda **kwargs: [Row("lens", "1 vs 1", 0.5, "x", Target("<=", 1.0))]
    )
    assert eval_main(["benchmark", "--quick", "--strict"]) == 0


@pytest.mark.parametrize("argv", [["--size", "big"], ["--threads", "0"], ["--size", "32x32"]])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        eval_main(["benchmark", *argv])
    assert exc.value.code == 2


def test_threaded_reference_equals_one_call():
    from concurrent.futures import ThreadPoolExecutor

    image = np.random.default_rng(0).random((150, 90, 3), dtype=np.float32)
    one = bench_lens.gaussian_reference(image)
    with ThreadPoolExecutor(3) as pool:
        three = bench_lens.gaussian_reference(image, pool, 3)
    np.testing.assert_array_equal(three, one)


def test_fit_exponent():
    xs = np.array([1.0, 2.0, 4.0, 8.0])
    assert bench_lens.fit_exponent(xs, 3.0 * xs**1.27) == pytest.approx(1.27)
    assert bench_lens.fit_exponent(xs, np.full(4, 2.0)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="two distinct"):
        bench_lens.fit_exponent([2.0, 2.0], [1.0, 3.0])


def test_scenes():
    for name in bench_lens.SCENES:
        s = bench_lens.make_scene(name, 120, 80)
        assert s.image.shape == (80, 120, 3) and s.disparity.shape == (80, 120)
        assert s.image.dtype == s.disparity.dtype == np.float32
        assert s.image.min() >= 0 and s.image.max() <= 1 and s.disparity.min() >= 0
        assert s.disparity.max() <= 1 and 0 <= s.focus_disparity <= 1
    with pytest.raises(ValueError, match="unknown scene"):
        bench_lens.make_scene("nope")


def test_app_rows_state_the_spread_of_their_pairs(monkeypatch):
    from eval import bench_app

    seen = {}

    def fake(*, repeats, render_repeats):
        seen.update(repeats=repeats, render_repeats=render_repeats)
        return [
            {"name": "app /render_depth", "app_s": 1.1, "inprocess_s": 1.0, "ratio": 1.1,
             "app_runs_s": [1.1, 1.4, 1.0], "inprocess_runs_s": [1.0, 0.9, 1.3], "note": ""},
            {"name": "app /compare", "app_s": 26.0, "inprocess_s": 20.0, "ratio": 1.3,
             "app_runs_s": [26.0], "inprocess_runs_s": [20.0], "note": "methods add to 18 s"},
        ]  # fmt: skip

    monkeypatch.setattr(bench_app, "overhead", fake)
    render, compare = benchmark.app_rows(5)
    assert seen == {"repeats": 5, "render_repeats": bench_app.RENDER_PAIRS}
    assert (render.verdict, compare.verdict) == ("ok", "MISS")
    assert render.note == "3 pairs: app 1.00-1.40 s, in-process 0.90-1.30 s"
    assert compare.note.endswith("; methods add to 18 s")


class TestBenchStart:
    def test_a_fresh_process_loads_the_loops_in_its_first_render_unless_warmed_up(self):
        """The child processes report what their renders loaded: nothing after the warm-up
        (every loop is loaded by then), the compiled loops without it."""
        cold = bench_start.run_child(width=192, height=128, warm=False, cache_dir=None)
        warm = bench_start.run_child(width=192, height=128, warm=True, cache_dir=None)
        assert cold["warm_up_s"] == 0.0 and warm["warm_up_s"] > 0.0
        assert cold["loops_loaded_by_renders"] >= 5
        assert warm["loops_loaded_by_renders"] == 0
        assert all(r[k] > 0 for r in (cold, warm) for k in ("first_s", "second_s"))

    def test_a_bad_size_is_a_usage_error(self, capsys):
        with pytest.raises(SystemExit) as exc:
            bench_start.main(["--size", "big"])
        assert exc.value.code == 2
        assert "--size is WxH" in capsys.readouterr().err


def test_metric_rows_take_at_least_the_metric_pairs(monkeypatch):
    """Ours takes about 0.05 s: the metrics rows take more pairs than --repeats asks."""
    from eval import bench_metrics

    seen = []

    def fake(*, height, width, repeats, threads, timer):
        seen.append((threads, repeats))
        return {"ratio": 12.0, "ours_s": 0.05, "skimage_s": 0.6, "max_abs_diff": {"psnr": 0.0}}

    monkeypatch.setattr(benchmark, "measure", fake)
    rows = benchmark.metric_rows(64, 48, (1, 2), 5, timing.wall_timer)
    assert seen == [(1, bench_metrics.METRIC_PAIRS), (2, bench_metrics.METRIC_PAIRS)]
    assert benchmark.metric_rows(64, 48, (1,), 20, timing.wall_timer) and seen[-1] == (1, 20)
    assert [r.verdict for r in rows] == ["ok", "ok", "ok"]
