"""Evaluations started from the web page: the run_eval endpoint, the token gate, single flight,
Stop, persistence, and the review helpers."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory):
    """A tiny synthetic holdout where the app looks for the default one, and a results dir."""
    from bokeh.data import synth

    data = tmp_path_factory.mktemp("data")
    synth.generate(
        data / "synth" / synth.HOLDOUT_NAME,
        count=3,
        size=(96, 64),
        seed=5,
        split="holdout",
        progress=False,
    )
    return data, data / "results"


@pytest.fixture
def env(data_dirs, monkeypatch):
    data, results = data_dirs
    monkeypatch.setenv("BOKEH_DATA_DIR", str(data))
    monkeypatch.setenv("BOKEH_RESULTS_DIR", str(results))
    monkeypatch.delenv("BOKEH_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("EBB_ROOT", raising=False)
    monkeypatch.delenv("BOKEH_EBB_REPO", raising=False)
    return results


class TestWebUI:
    def test_stream_runs_and_persists(self, env):
        from eval import actions
        from eval.store import list_runs

        events = list(
            actions.stream_evaluation(["identity", "depth-gauss-0.25"], "synth", None, 2, None)
        )
        assert events[-1]["event"] == "end" and events[-1]["status"] == "complete"
        table, fig, csv_path = actions.leaderboard("latest")
        assert {"identity", "depth-gauss-0.25"} <= set(table["Method"])
        assert len(fig.data) >= 3  # two reference groups plus this project's markers
        assert Path(csv_path).read_text().splitlines()[0].startswith("Method")
        assert list_runs(env)[0].status == "complete"  # on disk: survives a restart

    def test_stop_ends_within_one_image_and_keeps_rows(self, env):
        from eval import actions
        from eval.store import list_runs, load_rows

        seen = []
        for event in actions.stream_evaluation(["identity", "depth-lens"], "synth", None, 3, None):
            seen.append(event)
            if event["event"] == "row" and len([e for e in seen if e["event"] == "row"]) == 1:
                actions.STOP.request()
        assert seen[-1]["status"] == "cancelled"
        assert sum(e["event"] == "row" for e in seen) == 1
        run = list_runs(env)[0]
        assert run.status == "cancelled" and len(load_rows(run.path)) == 1

    def test_token_gate(self, env, monkeypatch):
        from eval import actions

        monkeypatch.setenv("BOKEH_ADMIN_TOKEN", "s3cret-token")
        with pytest.raises(actions.AdminTokenError) as err:
            next(actions.stream_evaluation(["identity"], "synth", None, 1, "wrong"))
        assert "s3cret" not in str(err.value)
        with pytest.raises(actions.AdminTokenError):
            next(actions.stream_evaluation(["identity"], "synth", None, 1, None))
        events = list(actions.stream_evaluation(["identity"], "synth", None, 1, "s3cret-token"))
        assert events[-1]["status"] == "complete"

    def test_a_space_without_a_token_refuses_evaluations(self, env, monkeypatch):
        """A public Space must not let anyone fill its 2 vCPUs with evaluations by default."""
        from eval import actions

        monkeypatch.setenv("SPACE_ID", "ana/bokeh")
        monkeypatch.delenv("BOKEH_ADMIN_TOKEN", raising=False)
        assert not actions.evaluations_allowed()
        with pytest.raises(actions.AdminTokenError, match="turned off on this Space"):
            next(actions.stream_evaluation(["identity"], "synth", None, 1, None))
        assert "turned off on this Space" in actions.dataset_note()
        monkeypatch.setenv("BOKEH_ADMIN_TOKEN", "s3cret-token")
        assert actions.evaluations_allowed() and "turned off" not in actions.dataset_note()
        events = list(actions.stream_evaluation(["identity"], "synth", None, 1, "s3cret-token"))
        assert events[-1]["status"] == "complete"

    def test_single_flight(self, env):
        from eval import actions
        from eval.store import EvaluationBusyError, EvaluationLock

        with EvaluationLock(env), pytest.raises(EvaluationBusyError, match="already running"):
            next(actions.stream_evaluation(["identity"], "synth", None, 1, None))

    def test_review_helpers(self, env):
        import numpy as np

        from eval import actions

        list(actions.stream_evaluation(["depth-gauss-0.25"], "synth", None, 3, None))
        run_id = actions.run_choices()[2][1]
        items = actions.worst(run_id, "depth-gauss-0.25", "psnr", k=2)
        assert len(items) == 2 and items[0]["psnr"] <= items[1]["psnr"]
        inp, out, gt, heat = actions.review_images(items[0])
        assert inp.shape == out.shape == gt.shape == heat.shape
        err = np.abs(out.astype(int) - gt.astype(int)).mean(axis=2)
        assert heat[err == 0].max() == 0 and heat.max() > 0  # black where equal
        store = actions.review_store()
        store.add(
            run_id, "depth-gauss-0.25", items[0]["id"], reviewer="ann", note="halo", tags=["halo"]
        )
        notes = actions.notes_table(run_id, "depth-gauss-0.25", items[0]["id"])
        assert list(notes["reviewer"]) == ["ann"] and notes["tags"][0] == "halo"
        assert "halo" in Path(actions.export_reviews(run_id)).read_text()


class TestProgressOnThePage:
    def test_status_at_once_then_images_counted_and_a_live_table(self, env):
        from eval import actions

        steps = actions.evaluation_progress(["identity", "depth-lens"], "synth", None, 2, None)
        first = next(steps)  # before the dataset is opened or any image is scored
        assert (
            first.run_id is None
            and first.fraction == 0
            and first.status.startswith(("Preparing", "Generating"))
        )
        live = None
        rest = []
        for step in steps:
            rest.append(step)
            if step.redraw and live is None:  # the first image is done: the table shows it
                table, fig, _ = actions.leaderboard(live=step.run_id)
                live = table[table["Images"].str.endswith(" · running")]
        redrawn = [s.status for s in rest if s.redraw]
        run_id = rest[0].run_id
        assert redrawn == [
            f"Run {run_id}, 2 methods: 1 of 2 images done (last: 0)",
            f"Run {run_id}, 2 methods: 2 of 2 images done (last: 1)",
            f"Run {run_id} complete: 2 of 2 images scored, 2 methods.",
        ]
        assert not any("of 6" in s.status or "3 methods" in s.status for s in rest)
        assert [s.fraction for s in rest if s.redraw] == [0.5, 1.0, 1.0]
        assert sorted(live["Method"]) == ["depth-lens", "depth-lens (oracle depth)", "identity"]
        assert set(live["n"]) == {1}  # the running run, one image in

    def test_the_first_run_says_the_holdout_is_being_generated(self, env, tmp_path, monkeypatch):
        from eval import actions

        monkeypatch.setenv("BOKEH_DATA_DIR", str(tmp_path))  # no holdout generated here
        assert actions.preparing_status("synth").startswith("Generating the synthetic holdout")
        assert actions.preparing_status("vabm") == "Preparing the vabm images…"

    def test_run_labels_count_methods_and_images(self, env):
        from eval import actions
        from eval.store import list_runs

        list(actions.stream_evaluation(["identity", "depth-lens"], "synth", None, 2, None))
        info = list_runs(env)[0]
        assert len(info.methods) == 3  # identity, depth-lens, depth-lens (oracle depth)
        assert " · 2 methods · 2 images · complete" in info.label
        assert info.label in {label for label, _ in actions.run_choices()}

    def test_the_form_offers_every_scored_dataset_and_says_which_are_not_here(self, env):
        from eval import actions
        from eval.datasets import SCORED_DATASETS

        choices = actions.dataset_choices()
        assert [value for _, value in choices] == list(SCORED_DATASETS)
        labels = dict((v, k) for k, v in choices)
        assert labels["synth"] == "synth" and labels["pairs"] == "pairs (not available here)"
        assert labels["ebb"] == "ebb (not available here)"  # EBB_ROOT unset in this test
        note = actions.dataset_note()
        assert all(f"**{name}**" in note for name in SCORED_DATASETS)
        assert "motorcycle" not in note

    def test_review_picks_a_run_on_arrival_and_keeps_the_reviewers_pick(self, env):
        from eval import actions

        list(actions.stream_evaluation(["identity"], "synth", None, 1, None))
        choices, picked = actions.review_runs()
        ids = [value for _, value in choices]
        assert picked == ids[0]  # the newest run, whose outputs are here
        older = ids[-1]
        assert actions.review_runs(keep=older)[1] == older
        assert actions.review_runs(keep="no-such-run")[1] == picked
        item = actions.worst(picked, "identity", "psnr", k=1)[0]
        title = actions.review_title(item)
        assert title.count(str(item["id"])) == 1 and "identity" in title


@pytest.mark.app
def test_run_eval_endpoint_and_token_over_http(env, monkeypatch):
    """The run_eval endpoint works from gradio_client and refuses a missing token."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    import app

    monkeypatch.setenv("BOKEH_ADMIN_TOKEN", "tok-123")
    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, **app.launch_kwargs())
    try:
        client = Client(url, verbose=False)
        names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert {
            "/render_depth",
            "/run_eval",
            "/render_pix2pix",
            "/render_cyclegan",
            "/render_bggan",
        } <= set(names)
        with pytest.raises(AppError, match="admin token"):
            client.predict(["identity"], "synth", "", 1, "", api_name="/run_eval")
        status, table, _, _ = client.predict(
            ["identity"], "synth", "", 1, "tok-123", api_name="/run_eval"
        )
        assert "complete" in status
        assert "identity" in [row[0] for row in table["data"]]
        client.close()
    finally:
        demo.close()


class TestStopNeedsToken:
    def test_stop_refused_without_the_token(self, env, monkeypatch):
        import app
        from eval import actions

        monkeypatch.setenv("BOKEH_ADMIN_TOKEN", "t0ken")
        actions.STOP.clear()
        with pytest.raises(actions.AdminTokenError, match="admin token"):
            app.stop_eval("nope")
        assert not actions.STOP()
        assert "Stopping" in app.stop_eval("t0ken") and actions.STOP()
        actions.STOP.clear()

    def test_a_refused_request_does_not_cancel_a_pending_stop(self, env):
        from eval import actions
        from eval.store import EvaluationBusyError, EvaluationLock

        actions.STOP.request()
        with EvaluationLock(env), pytest.raises(EvaluationBusyError):
            next(actions.stream_evaluation(["identity"], "synth", None, 1, None))
        assert actions.STOP()  # still set for the run in progress
        actions.STOP.clear()
