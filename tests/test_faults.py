"""Faults: an evaluation process killed with SIGKILL mid-run, two evaluations at once (two app
requests; the command line and the app), Stop through the app, and a results directory that
cannot be written or fills up, seen through the app's run_eval endpoint.

Already covered elsewhere, not repeated: Stop within one image at the library level and a lock
held in-process (tests/test_app_eval.py), simulated kills with a half-written line, read-only
and full directories at the library level (tests/test_eval_runs.py)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHODS = "identity,depth-gauss-0.25"
N_IMAGES = 4
# identity, depth-gauss-0.25 and its oracle-depth variant (the synthetic set has true depth)
N_LABELS = 3

# Loaded by the child through PYTHONPATH: slows each (method, image) so that a kill reliably
# lands mid-run. The code under test is unchanged; only the pace is.
SLOW_SITECUSTOMIZE = """
import os, time
delay = float(os.environ.get("BOKEH_TEST_ROW_DELAY", "0") or 0)
if delay:
    import eval.runs as _runs
    _real = _runs._score_unit
    def _slow(*args, **kwargs):
        time.sleep(delay)
        return _real(*args, **kwargs)
    _runs._score_unit = _slow
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data folder whose default synthetic holdout is tiny (4 scenes at 96x64)."""
    from bokeh.data import synth

    data = tmp_path_factory.mktemp("data")
    synth.generate(
        data / "synth" / synth.HOLDOUT_NAME,
        count=N_IMAGES,
        size=(96, 64),
        seed=11,
        split="holdout",
        progress=False,
    )
    return data


def _child_env(data: Path, results: Path, tmp: Path, delay: float = 0.0) -> dict[str, str]:
    hook = tmp / "slow_hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SLOW_SITECUSTOMIZE)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("EBB_ROOT", "BOKEH_EBB_REPO", "BOKEH_ADMIN_TOKEN")
    }
    env.update(
        BOKEH_DATA_DIR=str(data),
        BOKEH_RESULTS_DIR=str(results),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=os.pathsep.join([str(hook), str(ROOT)]),
        BOKEH_TEST_ROW_DELAY=str(delay),
    )
    return env


def _eval_cli(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "eval", "run", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _rows(run_dir: Path) -> list[dict]:
    path = run_dir / "rows.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _digest_tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _wait_for_rows(
    results: Path,
    n: int,
    proc: subprocess.Popen,
    timeout: float = 120.0,
    exclude: set[str] = frozenset(),
) -> Path:
    """The new run folder (not in ``exclude``) once it holds at least ``n`` complete rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = results / "runs"
        if runs.is_dir():
            for run_dir in runs.iterdir():
                if run_dir.name not in exclude and len(_rows(run_dir)) >= n:
                    return run_dir
        if proc.poll() is not None:
            raise AssertionError(f"the evaluation ended early: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError("no rows appeared in time")


def test_sigkill_mid_run_then_resume(data_dir, tmp_path):
    """An earlier run stays byte-identical; the killed run shows as incomplete with its rows;
    ``--resume`` completes it with every (method, image) exactly once."""
    from eval.store import get_run, list_runs

    results = tmp_path / "results"
    env = _child_env(data_dir, results, tmp_path)
    earlier = _eval_cli(["--dataset", "synth", "--methods", "identity", "--limit", "2"], env)
    out, err = earlier.communicate(timeout=300)
    assert earlier.returncode == 0, err
    [first] = list_runs(results)
    assert first.status == "complete"
    before = _digest_tree(first.path)

    victim = _eval_cli(
        ["--dataset", "synth", "--methods", METHODS],
        _child_env(data_dir, results, tmp_path, delay=0.4),
    )
    try:
        run_dir = _wait_for_rows(results, 2, victim, exclude={first.run_id})
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=60)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL
    kept = _rows(run_dir)
    assert 2 <= len(kept) < N_IMAGES * N_LABELS, "the kill should land mid-run"

    info = get_run(run_dir.name, results)
    assert info.status == "incomplete"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # as killed
    assert not (run_dir / "summary.csv").exists()
    assert _digest_tree(first.path) == before  # the earlier run is untouched
    assert get_run(first.run_id, results).status == "complete"
    assert "incomplete" in info.label

    resume = _eval_cli(["--resume", run_dir.name], env)
    out, err = resume.communicate(timeout=300)
    assert resume.returncode == 0, err
    rows = _rows(run_dir)
    pairs = [(r["method"], r["id"]) for r in rows]
    assert len(pairs) == len(set(pairs)) == N_IMAGES * N_LABELS  # complete, no duplicates
    assert rows[: len(kept)] == kept  # the rows written before the kill are kept as they were
    assert get_run(run_dir.name, results).status == "complete"
    import pandas as pd

    per_image = pd.read_csv(run_dir / "per_image.csv")
    assert len(per_image) == N_IMAGES * N_LABELS
    assert not per_image.duplicated(["method", "id"]).any()
    assert _digest_tree(first.path) == before


# ----------------------------------------------------------------------------- through the app


@pytest.fixture
def app_env(data_dir, tmp_path, monkeypatch):
    results = tmp_path / "results"
    monkeypatch.setenv("BOKEH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BOKEH_RESULTS_DIR", str(results))
    for name in ("BOKEH_ADMIN_TOKEN", "EBB_ROOT", "BOKEH_EBB_REPO"):
        monkeypatch.delenv(name, raising=False)
    return results


@pytest.fixture
def launched(app_env):
    """A freshly launched app (built after the environment is set)."""
    from gradio_client import Client

    import app

    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs())
    clients = [Client(url, verbose=False) for _ in range(2)]
    try:
        yield clients
    finally:
        for c in clients:
            c.close()
        demo.close()


def _clear(message: str) -> None:
    assert message and "\n" not in message.strip()
    assert "Traceback" not in message and "Error:" not in message and 'File "' not in message


def test_command_line_run_blocks_an_app_request(data_dir, app_env, launched, tmp_path):
    """An evaluation from the command line holds the lock: the app refuses a second one with
    a message, and the command-line run is not disturbed."""
    from gradio_client.exceptions import AppError

    from eval.store import list_runs

    cli = _eval_cli(
        ["--dataset", "synth", "--methods", METHODS],
        _child_env(data_dir, app_env, tmp_path, delay=0.15),
    )
    try:
        _wait_for_rows(app_env, 1, cli)
        with pytest.raises(AppError) as err:
            launched[0].predict(["identity"], "synth", "", 1, "", api_name="/run_eval")
        _clear(str(err.value))
        assert "already running" in str(err.value)
        out, errs = cli.communicate(timeout=300)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, errs
    [run] = list_runs(app_env)
    assert run.status == "complete" and run.done == N_IMAGES * N_LABELS


def test_two_evaluations_at_once_through_the_app(app_env, launched, monkeypatch):
    """Two run_eval requests at the same time: one runs, the other is refused with a message
    (it must not sit silently in the queue and start a second run later)."""
    import eval.runs
    from eval.store import list_runs

    real = eval.runs._score_unit

    def slow(*args, **kwargs):  # keep the first run going while the second request arrives
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(eval.runs, "_score_unit", slow)
    first = launched[0].submit(
        ["identity", "depth-gauss-0.25"], "synth", "", N_IMAGES, "", api_name="/run_eval"
    )
    deadline = time.monotonic() + 60
    while not list_runs(app_env) and time.monotonic() < deadline:
        time.sleep(0.02)
    second = launched[1].submit(["identity"], "synth", "", 1, "", api_name="/run_eval")
    outcomes = []
    for job in (first, second):
        try:
            outcomes.append(("ok", job.result(timeout=300)[0]))
        except Exception as exc:  # AppError with the server's message
            outcomes.append(("error", str(exc)))
    assert outcomes[0][0] == "ok" and "complete" in outcomes[0][1]
    assert outcomes[1][0] == "error"  # refused at once, not queued behind the first
    _clear(outcomes[1][1])
    assert "already running" in outcomes[1][1]
    assert len(list_runs(app_env)) == 1


def test_stop_through_the_app_ends_within_one_image(app_env, launched, monkeypatch):
    """stop_eval while run_eval is going (two HTTP clients): the run ends within one image,
    is marked cancelled, keeps its rows and can be resumed."""
    import eval.runs
    from eval.runs import evaluate
    from eval.store import list_runs

    real = eval.runs._score_unit

    def slow(*args, **kwargs):
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(eval.runs, "_score_unit", slow)
    job = launched[0].submit(
        ["identity", "depth-gauss-0.25"], "synth", "", N_IMAGES, "", api_name="/run_eval"
    )
    run_dir = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = list_runs(app_env)
        if runs and runs[0].done >= 1:
            run_dir = runs[0].path
            break
        time.sleep(0.02)
    assert run_dir is not None, "the evaluation did not start"
    at_stop = len(_rows(run_dir))
    assert "Stopping" in launched[1].predict("", api_name="/stop_eval")
    status = job.result(timeout=120)[0]
    assert "cancelled" in status
    [run] = list_runs(app_env)
    assert run.status == "cancelled"
    assert at_stop <= run.done <= at_stop + N_LABELS  # at most the image in progress finished
    assert run.done < N_IMAGES * N_LABELS
    monkeypatch.setattr(eval.runs, "_score_unit", real)
    evaluate(resume=run.run_id)
    assert list_runs(app_env)[0].done == N_IMAGES * N_LABELS


def test_results_dir_that_cannot_be_created(data_dir, tmp_path, monkeypatch):
    """BOKEH_RESULTS_DIR under a regular file (what a read-only or broken mount looks like even
    to root): run_eval answers with one clear sentence, no traceback."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    import app

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the results folder should be")
    monkeypatch.setenv("BOKEH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BOKEH_RESULTS_DIR", str(blocker / "results"))
    monkeypatch.delenv("BOKEH_ADMIN_TOKEN", raising=False)
    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_kwargs())
    try:
        client = Client(url, verbose=False)
        with pytest.raises(AppError) as err:
            client.predict(["identity"], "synth", "", 1, "", api_name="/run_eval")
        message = str(err.value)
        _clear(message)
        assert message.startswith("Cannot write results to")
        assert "BOKEH_RESULTS_DIR" in message
        # The app still renders photos.
        from gradio_client import handle_file

        out, _, _ = client.predict(
            handle_file(str(ROOT / "assets/examples/motorcycle.png")),
            300,
            250,
            "depth-gauss",
            {"depth_source": "classical"},
            None,
            api_name="/render_depth",
        )
        assert Path(out).is_file()
        client.close()
    finally:
        demo.close()


def test_results_disk_full_mid_run(app_env, launched, monkeypatch):
    """The disk fills up after the first image: run_eval ends with a clear message, the run
    is marked failed with the rows written so far, and it can be resumed."""
    from gradio_client.exceptions import AppError

    import eval.writer
    from eval.runs import evaluate
    from eval.store import list_runs

    real = eval.writer.save_png
    calls = {"n": 0}

    def fills_up(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)

    monkeypatch.setattr(eval.writer, "save_png", fills_up)
    with pytest.raises(AppError) as err:
        launched[0].predict(
            ["identity", "depth-gauss-0.25"], "synth", "", 2, "", api_name="/run_eval"
        )
    message = str(err.value)
    _clear(message)
    assert "no space left on device" in message and "Free some space" in message
    monkeypatch.setattr(eval.writer, "save_png", real)
    [run] = list_runs(app_env)
    assert run.status == "failed" and run.done == 2
    evaluate(resume=run.run_id)
    assert list_runs(app_env)[0].status == "complete"
