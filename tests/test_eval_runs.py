"""Evaluation runs: persistence, oracle depth, resume, cancellation, single flight, errors."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bokeh.errors import BokehError, DatasetNotFoundError, UnknownMethodError
from bokeh.weights.resolve import WeightsStatus
from eval import provenance, runs, store, writer
from eval.__main__ import main as eval_main
from eval.datasets import available_datasets, open_dataset
from eval.metric_table import METRICS
from eval.runs import evaluate, iter_evaluate
from eval.score import score_pair
from eval.store import EvaluationBusyError, EvaluationLock, ResultsWriteError, list_runs, load_rows

METHODS = ["identity", "depth-gauss-0.25", "depth-lens"]
LABELS = [
    "identity",
    "depth-gauss-0.25",
    "depth-gauss-0.25 (oracle depth)",
    "depth-lens",
    "depth-lens (oracle depth)",
]
REQUIRED_ROW_COLUMNS = {
    "run_id",
    "dataset",
    "split",
    "id",
    "method",
    "psnr",
    "ssim",
    "ssim_gauss",
    "seconds",
    "output",
    "input_path",
    "gt_path",
    "error",
}
REQUIRED_SUMMARY_COLUMNS = {
    "method",
    "dataset",
    "split",
    "n",
    "psnr",
    "ssim",
    "ssim_gauss",
    "psnr_std",
    "ssim_std",
    "ssim_gauss_std",
    "seconds",
    "complete",
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """4 synthetic scenes at 96x64 (split holdout), with true depth and focus points."""
    from bokeh.data.synth import generate

    return generate(
        tmp_path_factory.mktemp("synth") / "set", count=4, size=(96, 64), seed=1, split="holdout"
    )


@pytest.fixture(scope="module")
def complete_run(synth, tmp_path_factory) -> Path:
    return evaluate(
        METHODS, "synth", "holdout", root=synth, results_dir=tmp_path_factory.mktemp("results")
    )


def _meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def _simulate_kill(run_dir: Path, half_line: str | None = None) -> None:
    """Make a run look like its process was killed mid-run (SIGKILL leaves no cleanup)."""
    meta = _meta(run_dir)
    meta.update(status="running", pid=_dead_pid(), pid_start=None, ended_at=None)
    (run_dir / "run.json").write_text(json.dumps(meta))
    for name in ("per_image.csv", "summary.csv"):
        (run_dir / name).unlink(missing_ok=True)
    if half_line is not None:
        with open(run_dir / "rows.jsonl", "a") as fh:
            fh.write(half_line)  # no newline: the writer died mid-line


def _stop_after(n: int):
    """A should_stop that lets ``n`` (method, image) pairs run, then says stop."""
    state = {"calls": 0}

    def should_stop() -> bool:
        state["calls"] += 1
        return state["calls"] > n

    return should_stop


# --------------------------------------------------------------------------- datasets


def test_open_synth_items_carry_depth_focus_and_ground_truth(synth):
    ds = open_dataset("synth", "holdout", root=synth)
    assert len(ds) == 4 and ds.ids == ["0", "1", "2", "3"] and ds.has_depth and ds.scorable
    meta = json.loads((synth / "metadata.json").read_text())
    for item, scene in zip(ds, meta["scenes"], strict=True):
        assert item.input.dtype == np.uint8 and item.input.shape == (64, 96, 3)
        assert item.gt.shape == item.input.shape and item.gt.dtype == np.uint8
        assert item.depth.shape == (64, 96) and 0 <= item.depth.min() <= item.depth.max() <= 1
        assert item.focus == tuple(float(v) for v in scene["focus"])
        assert item.input_path.is_file() and item.gt_path.is_file()
    assert ds.head(2).ids == ["0", "1"] and ds.select(["3", "1"]).ids == ["3", "1"]
    with pytest.raises(DatasetNotFoundError, match="99"):
        ds.select(["99"])


def test_ebb_items_without_annotation_focus_at_the_centre(synth, tmp_path):
    # the released EBB! layout (no metadata, no depth), built from the synthetic pairs
    shutil.copytree(synth / "Training", tmp_path / "ebb" / "Training")
    ds = open_dataset("ebb", "all", root=tmp_path / "ebb")
    item = ds[0]
    assert not ds.has_depth and item.depth is None
    assert item.focus == ((96 - 1) / 2, (64 - 1) / 2) and "centre" in item.focus_source
    # no true depth: no oracle rows
    run_dir = evaluate(
        ["depth-lens"], "ebb", "all", root=tmp_path / "ebb", limit=1, results_dir=tmp_path / "res"
    )
    assert list(load_rows(run_dir)["method"]) == ["depth-lens"]


def test_missing_ebb_and_unscorable_motorcycle(monkeypatch, tmp_path):
    monkeypatch.delenv("EBB_ROOT", raising=False)
    monkeypatch.delenv("BOKEH_EBB_REPO", raising=False)
    monkeypatch.setenv("BOKEH_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DatasetNotFoundError, match="EBB_ROOT"):
        open_dataset("ebb", "val294")
    info = {d.name: d for d in available_datasets()}
    assert not info["ebb"].available and "using the synthetic holdout" in info["ebb"].note
    assert info["synth"].available and info["synth"].splits == ("holdout",)
    moto = open_dataset("motorcycle")
    assert len(moto) == 1 and moto[0].gt is None and moto[0].depth is not None
    assert not moto.scorable
    with pytest.raises(BokehError, match="cannot be scored"):
        next(iter_evaluate(["identity"], "motorcycle", results_dir=tmp_path))
    with pytest.raises(BokehError, match="Unknown dataset"):
        open_dataset("nyu")


# --------------------------------------------------------------------------- a complete run


def test_run_folder_holds_provenance_rows_outputs_and_csvs(complete_run, synth):
    meta = _meta(complete_run)
    assert meta["status"] == "complete" and meta["ended_at"] >= meta["started_at"]
    assert (meta["dataset"], meta["split"], meta["n_selected"]) == ("synth", "holdout", 4)
    assert meta["methods"] == METHODS and meta["labels"] == LABELS
    assert meta["code"]["bokeh"] and meta["device"] and meta["python"] and meta["torch"]
    assert meta["dataset_info"]["content_sha256"]
    assert set(meta["weights"]) == set(LABELS)
    assert meta["weights"]["identity"]["summary"] == "none"
    assert meta["weights"]["depth-lens (oracle depth)"]["summary"].startswith("true depth")

    lines = (complete_run / "rows.jsonl").read_text().splitlines()
    assert len(lines) == len(LABELS) * 4
    rows = [json.loads(line) for line in lines]
    assert {(r["method"], r["id"]) for r in rows} == {(m, i) for m in LABELS for i in "0123"}
    for r in rows:
        assert r["error"] is None
        out = complete_run / r["output"]
        assert not Path(r["output"]).is_absolute() and out.is_file()
        pred = np.asarray(Image.open(out).convert("RGB"))
        gt = np.asarray(Image.open(r["gt_path"]).convert("RGB"))
        # the saved PNG is exactly what was scored
        for key, value in score_pair(pred, gt).items():
            assert value == pytest.approx(r[key], rel=1e-9, abs=1e-9)
        if r["method"] == "identity":
            np.testing.assert_array_equal(pred, np.asarray(Image.open(r["input_path"])))

    per_image = pd.read_csv(complete_run / "per_image.csv")
    assert set(per_image.columns) >= REQUIRED_ROW_COLUMNS and len(per_image) == len(rows)
    summary = pd.read_csv(complete_run / "summary.csv")
    assert set(summary.columns) >= REQUIRED_SUMMARY_COLUMNS
    assert list(summary["method"]) == LABELS
    assert (summary["n"] == 4).all() and summary["complete"].all()
    for _, s in summary.iterrows():
        sub = per_image[per_image["method"] == s["method"]]
        for key in METRICS:
            assert s[key] == pytest.approx(sub[key].mean(), rel=1e-9)
            assert s[f"{key}_std"] == pytest.approx(sub[key].std(ddof=1), rel=1e-9)
        assert s["seconds"] == pytest.approx(sub["seconds"].mean(), rel=1e-6)


def test_oracle_depth_rows(complete_run):
    rows = load_rows(complete_run)
    by = {m: rows[rows["method"] == m].set_index("id") for m in LABELS}
    assert "identity (oracle depth)" not in set(rows["method"])
    for m in ("depth-gauss-0.25", "depth-lens"):
        oracle = by[f"{m} (oracle depth)"]
        assert (oracle["depth_source"] == "given").all() and oracle["oracle"].all()
        assert (oracle["base_method"] == m).all()
        assert (by[m]["depth_source"] != "given").all()
    # The ground truth is rendered with the same lens model from the same depth, so the lens
    # renderer on true depth must beat doing nothing on every image, and beat itself on
    # estimated depth on average (that gap is the depth error).
    lens_oracle, identity = by["depth-lens (oracle depth)"], by["identity"]
    assert (lens_oracle["psnr"] > identity["psnr"] + 1.0).all()
    assert lens_oracle["psnr"].mean() > by["depth-lens"]["psnr"].mean()
    assert lens_oracle["ssim"].mean() > identity["ssim"].mean()


def test_list_runs_and_events(complete_run, synth, tmp_path):
    events = list(iter_evaluate(["identity"], "synth", root=synth, limit=2, results_dir=tmp_path))
    assert [e["event"] for e in events] == ["start", "row", "row", "end"]
    assert [e["done"] for e in events] == [0, 1, 2, 2] and {e["total"] for e in events} == {2}
    assert events[1]["row"]["method"] == "identity" and events[1]["error"] is None
    assert events[-1]["status"] == "complete"
    [info] = list_runs(tmp_path)
    assert info.run_id == events[0]["run_id"] and info.status == "complete"
    assert (info.done, info.total, info.n_images) == (2, 2, 2)
    assert list_runs(tmp_path / "nothing-here") == []


def test_results_dir_default_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("BOKEH_RESULTS_DIR", str(tmp_path / "elsewhere"))
    assert store.results_root() == tmp_path / "elsewhere"
    assert store.results_root(tmp_path / "given") == tmp_path / "given"


# --------------------------------------------------------------------------- stop and resume


def test_cancel_after_two_images_then_resume(synth, tmp_path):
    run_dir = evaluate(
        ["identity"], "synth", root=synth, results_dir=tmp_path, should_stop=_stop_after(2)
    )
    meta = _meta(run_dir)
    assert meta["status"] == "cancelled"
    first = load_rows(run_dir)
    assert list(first["id"]) == ["0", "1"]
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary.loc[0, "n"] == 2 and not summary.loc[0, "complete"]
    assert list_runs(tmp_path)[0].status == "cancelled"

    resumed = evaluate(resume=meta["run_id"], results_dir=tmp_path)
    assert resumed == run_dir and _meta(run_dir)["status"] == "complete"
    rows = load_rows(run_dir)
    assert list(rows["id"]) == ["0", "1", "2", "3"]
    assert len((run_dir / "rows.jsonl").read_text().splitlines()) == 4
    # rows written before the stop are kept as they were
    pd.testing.assert_frame_equal(rows.iloc[:2], first)
    [resumed_info] = _meta(run_dir)["resumed"]
    assert resumed_info["at"] and resumed_info["code"]["bokeh"]


def test_resume_after_kill_with_half_written_line(synth, tmp_path):
    settings = {"depth-gauss-0.25": {"sigma": 6.0}}
    run_dir = evaluate(
        ["identity", "depth-gauss-0.25"],
        "synth",
        root=synth,
        results_dir=tmp_path,
        settings=settings,
        should_stop=_stop_after(5),
    )
    run_id = _meta(run_dir)["run_id"]
    _simulate_kill(run_dir, half_line='{"run_id": "x", "method": "identity", "id": "2", "ps')
    [info] = list_runs(tmp_path)
    assert info.status == "incomplete" and info.done == 5
    assert len(load_rows(run_dir)) == 5  # the truncated line is ignored

    with pytest.raises(BokehError, match="keeps"):
        next(
            iter_evaluate(
                resume=run_id, results_dir=tmp_path, settings={"depth-gauss-0.25": {"sigma": 2.0}}
            )
        )
    with pytest.raises(BokehError, match="started with"):
        next(iter_evaluate(["identity"], resume=run_id, results_dir=tmp_path))

    events = list(iter_evaluate(resume=run_id, results_dir=tmp_path))
    assert events[0]["resumed"] and events[0]["done"] == 5
    assert events[-1]["status"] == "complete" and events[-1]["done"] == 12
    lines = (run_dir / "rows.jsonl").read_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line is whole JSON again
    pairs = [(r["method"], r["id"]) for r in parsed]
    assert len(pairs) == 12 == len(set(pairs))
    meta = _meta(run_dir)
    assert meta["status"] == "complete" and meta["settings"] == settings
    assert len(pd.read_csv(run_dir / "per_image.csv")) == 12
    with pytest.raises(BokehError, match="already complete"):
        next(iter_evaluate(resume=run_id, results_dir=tmp_path))


BAD_LINES = [
    '{"run_id": "x", "id": "9", "psnr": 30.0}',  # valid JSON without a method
    '{"method": "identity", "id": ["not", "an", "id"]}',
    "[1, 2, 3]",
    "not json",
]


def test_bad_rows_are_skipped_and_reported_and_resume_finishes(synth, tmp_path, monkeypatch):
    """Issue #12, item 6: lines of rows.jsonl that are not rows (valid JSON without a method,
    an id that is a list, not an object, not JSON) are skipped and reported; the leaderboard
    still shows the run and resuming it completes (it used to crash and stay "running")."""
    from eval import actions

    monkeypatch.setenv("BOKEH_RESULTS_DIR", str(tmp_path))
    run_dir = evaluate(
        ["identity"], "synth", root=synth, results_dir=tmp_path, should_stop=_stop_after(2)
    )
    run_id = _meta(run_dir)["run_id"]
    _simulate_kill(run_dir)
    with open(run_dir / "rows.jsonl", "a") as fh:
        fh.write("\n".join(BAD_LINES) + "\n")
    [info] = list_runs(tmp_path)
    assert info.done == 2 and info.skipped == (3, 4, 5, 6)
    table, _, _ = actions.leaderboard("all")
    assert list(table["Method"]) == ["identity"]
    assert f"Run {run_id}: line(s) 3, 4, 5, 6 of rows.jsonl" in actions.storage_status()

    with pytest.warns(UserWarning, match="skipping unreadable line"):
        events = list(iter_evaluate(resume=run_id, results_dir=tmp_path))
    assert events[-1]["status"] == "complete" and events[-1]["done"] == 4
    assert _meta(run_dir)["status"] == "complete"
    assert [r.status for r in list_runs(tmp_path)] == ["complete"]
    assert list(pd.read_csv(run_dir / "per_image.csv")["id"]) == [0, 1, 2, 3]


def test_a_failing_summary_still_records_the_final_status(synth, tmp_path, monkeypatch):
    """Whatever goes wrong while writing the CSV summaries, run.json gets the final status
    (a run must never stay "running" after its generator ended)."""

    def broken(run_dir, meta):
        raise KeyError("method")

    monkeypatch.setattr(writer, "finalise", broken)
    with pytest.warns(UserWarning, match="CSV summaries were not written"):
        run_dir = evaluate(["identity"], "synth", root=synth, results_dir=tmp_path)
    assert _meta(run_dir)["status"] == "complete"


def test_closing_the_generator_marks_the_run_cancelled(synth, tmp_path):
    gen = iter_evaluate(["identity"], "synth", root=synth, results_dir=tmp_path)
    start = next(gen)
    next(gen)
    # while it runs: status running (this process is alive), one row visible
    [info] = list_runs(tmp_path)
    assert info.status == "running" and info.done == 1
    assert store.running_evaluation(tmp_path)["run_id"] == start["run_id"]
    gen.close()
    assert _meta(Path(start["run_dir"]))["status"] == "cancelled"
    assert store.running_evaluation(tmp_path) is None
    # and the lock is free again
    evaluate(["identity"], "synth", root=synth, limit=1, results_dir=tmp_path)


# --------------------------------------------------------------------------- single flight


def test_single_flight_across_threads(synth, tmp_path):
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_stop() -> bool:
        inside.set()
        release.wait(30)
        return False

    def first() -> None:
        try:
            evaluate(
                ["identity"],
                "synth",
                root=synth,
                limit=1,
                results_dir=tmp_path,
                should_stop=slow_stop,
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=first)
    t.start()
    try:
        assert inside.wait(30)
        run_id = list_runs(tmp_path)[0].run_id
        with pytest.raises(EvaluationBusyError, match="already running") as busy:
            evaluate(["identity"], "synth", root=synth, limit=1, results_dir=tmp_path)
        assert run_id in str(busy.value) and "wait for it or stop it" in str(busy.value)
    finally:
        release.set()
        t.join(30)
    assert not errors and list_runs(tmp_path)[0].status == "complete"
    assert len(list_runs(tmp_path)) == 1  # the refused start left no folder behind


def test_single_flight_across_processes(synth, tmp_path):
    code = (
        "import sys; from eval.runs import EvaluationLock\n"
        f"lock = EvaluationLock({str(tmp_path)!r}).acquire(run_id='other-run')\n"
        "print('locked', flush=True); sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(EvaluationBusyError, match="run other-run"):
            evaluate(["identity"], "synth", root=synth, limit=1, results_dir=tmp_path)
        with pytest.raises(EvaluationBusyError):
            EvaluationLock(tmp_path).acquire()
    finally:
        child.kill()  # a killed holder: the kernel drops its lock
        child.wait(30)
    run_dir = evaluate(["identity"], "synth", root=synth, limit=1, results_dir=tmp_path)
    assert _meta(run_dir)["status"] == "complete"


# --------------------------------------------------------------------------- failures


def test_read_only_results_dir_is_a_clear_error(synth, tmp_path, monkeypatch):
    results = tmp_path / "ro"
    results.mkdir()
    if os.geteuid() == 0:  # root ignores permissions: simulate a read-only file system
        real_open, real_mkdir = os.open, os.mkdir

        def refuse(real):
            def wrapper(path, *args, **kwargs):
                if str(path).startswith(str(results)):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
                return real(path, *args, **kwargs)

            return wrapper

        monkeypatch.setattr(os, "open", refuse(real_open))
        monkeypatch.setattr(os, "mkdir", refuse(real_mkdir))
        reason = "read-only file system"
    else:
        results.chmod(0o555)
        reason = "permission denied"
    try:
        with pytest.raises(ResultsWriteError) as err:
            evaluate(["identity"], "synth", root=synth, limit=1, results_dir=results)
    finally:
        results.chmod(0o755)
    assert isinstance(err.value, BokehError)
    assert str(err.value).startswith(f"Cannot write results to {results}: {reason}")


def test_disk_full_mid_run_fails_cleanly(synth, tmp_path, monkeypatch):
    import eval.writer

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(eval.writer, "save_png", full)
    with pytest.raises(ResultsWriteError, match="no space left on device"):
        evaluate(["identity"], "synth", root=synth, limit=1, results_dir=tmp_path)
    [info] = list_runs(tmp_path)
    assert info.status == "failed" and "no space" in info.meta["error"]
    monkeypatch.undo()
    evaluate(resume=info.run_id, results_dir=tmp_path)  # lock released; resumable
    assert list_runs(tmp_path)[0].status == "complete"


def test_a_failing_method_is_recorded_and_the_run_goes_on(synth, tmp_path, monkeypatch):
    import bokeh.registry

    real = bokeh.registry.load_method

    def broken(name):
        if name != "identity":
            return real(name)

        def pipe(image, **kwargs):
            raise RuntimeError("out of cheese")

        return pipe

    monkeypatch.setattr(runs, "load_method", broken)
    run_dir = evaluate(
        ["identity", "depth-gauss-0.25"], "synth", root=synth, limit=2, results_dir=tmp_path
    )
    rows = load_rows(run_dir).set_index(["method", "id"])
    assert rows.loc[("identity", "0"), "error"] == "RuntimeError: out of cheese"
    assert (
        pd.isna(rows.loc[("identity", "0"), "psnr"])
        and rows.loc[("identity", "0"), "output"] is None
    )
    assert rows.loc[("depth-gauss-0.25", "1"), "error"] is None
    summary = pd.read_csv(run_dir / "summary.csv").set_index("method")
    assert summary.loc["identity", "n"] == 0 and summary.loc["identity", "n_errors"] == 2
    assert not summary.loc["identity", "complete"] and summary.loc["depth-gauss-0.25", "complete"]
    assert _meta(run_dir)["status"] == "complete"


def test_an_unreadable_image_gets_error_rows(synth, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(synth, broken)
    (broken / "Training" / "original" / "1.png").write_bytes(b"not a png")
    run_dir = evaluate(
        ["identity", "depth-lens"], "synth", root=broken, limit=2, results_dir=tmp_path / "res"
    )
    rows = load_rows(run_dir)
    bad = rows[rows["id"] == "1"]
    assert len(bad) == 3 and bad["error"].str.contains("could not read image 1").all()
    assert rows[rows["id"] == "0"]["error"].isna().all()
    assert _meta(run_dir)["status"] == "complete"


def test_methods_without_their_weights_are_refused_up_front(synth, tmp_path, monkeypatch):
    from bokeh.errors import WeightsNotFoundError
    from bokeh.registry import METHODS

    needy = [s.name for s in METHODS.values() if s.weights_required]
    if not needy:
        pytest.skip("no registered method requires weights")
    monkeypatch.setattr(provenance, "weights_status", lambda name: WeightsStatus(name, None))
    ok, why = provenance.method_availability(needy[0])
    assert not ok and "needs trained weights" in why
    assert provenance.method_availability("identity") == (True, "")
    with pytest.raises(WeightsNotFoundError, match=needy[0]):
        next(iter_evaluate(["identity", needy[0]], "synth", root=synth, results_dir=tmp_path))
    assert not (tmp_path / "runs").exists()


def test_bad_arguments_fail_before_anything_is_written(synth, tmp_path):
    with pytest.raises(UnknownMethodError, match="did you mean 'identity'"):
        next(iter_evaluate(["identty"], "synth", root=synth, results_dir=tmp_path))
    with pytest.raises(BokehError, match="does not take"):
        next(
            iter_evaluate(
                ["identity"],
                "synth",
                root=synth,
                results_dir=tmp_path,
                settings={"identity": {"fnumber": 2.0}},
            )
        )
    with pytest.raises(BokehError, match="not evaluate"):
        next(
            iter_evaluate(
                ["identity"],
                "synth",
                root=synth,
                results_dir=tmp_path,
                settings={"depth-lens": {"fnumber": 2.0}},
            )
        )
    with pytest.raises(BokehError, match="No run"):
        next(iter_evaluate(resume="20200101T000000000Z-000000", results_dir=tmp_path))
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- command line


def test_cli_run_prints_summary_and_folder(synth, tmp_path, capsys):
    rc = eval_main(
        [
            "run",
            "--dataset",
            "synth",
            "--root",
            str(synth),
            "--methods",
            "identity,depth-lens",
            "--limit",
            "2",
            "--results",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    run_dir = Path(out[-1])
    assert run_dir.parent == tmp_path / "runs" and (run_dir / "summary.csv").is_file()
    assert out[0].split()[:2] == ["method", "n"] and METRICS["psnr"].label in out[0]
    assert any(line.startswith("depth-lens (oracle depth)") for line in out)

    rc = eval_main(["run", "--methods", "identty", "--results", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "unknown method 'identty'" in err[0]


def test_cli_ctrl_c_cancels_and_resume_finishes(synth, tmp_path, capsys, monkeypatch):
    real = runs._score_unit
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "_score_unit", interrupted)
    rc = eval_main(
        [
            "run",
            "--root",
            str(synth),
            "--methods",
            "identity",
            "--limit",
            "3",
            "--results",
            str(tmp_path),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 130 and "--resume" in captured.err
    [info] = list_runs(tmp_path)
    assert info.status == "cancelled" and info.done == 1
    monkeypatch.undo()
    rc = eval_main(["run", "--resume", info.run_id, "--results", str(tmp_path)])
    assert rc == 0 and list_runs(tmp_path)[0].status == "complete"
    assert list_runs(tmp_path)[0].done == 3
