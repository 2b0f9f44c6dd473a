"""The results mirror: push runs and notes, read them back on start, merge notes, survive a
failing Hub, never leak the token. Tested against a folder and a stand-in of the Hub API; never
the network."""

from __future__ import annotations

import fnmatch
import json
import logging
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from bokeh.errors import BokehError
from eval import mirrors, persist
from eval.mirrors import HubMirror, LocalMirror
from eval.persist import Persister
from eval.review import ReviewStore
from eval.store import list_runs

TOKEN = "hf_FakeSecretToken0123456789"
REPO = "ana/bokeh-results"
METHODS = ["identity", "depth-gauss-0.25"]


class FakeHub:
    """Stand-in for ``huggingface_hub.HfApi``: exactly the calls HubMirror makes, with the real
    signatures' keywords, storing files under ``folder/<repo_id>`` and recording every call."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.calls: list[tuple[str, dict]] = []
        self.repos: dict[str, bool] = {}
        self.fail: Exception | None = None
        self.fail_calls = -1  # how many more calls fail (-1: all, while ``fail`` is set)
        self.extra_listing: list[str] = []
        self.entered = threading.Event()  # set when a commit starts
        self.gate: threading.Event | None = None  # commits wait for it when set
        self.broken: set[str] = set()  # downloads of these runs fail

    def _call(self, name: str, **kw) -> None:
        self.calls.append((name, kw))
        if self.fail is not None and self.fail_calls != 0:
            self.fail_calls -= 1
            raise self.fail

    def calls_named(self, name: str) -> list[dict]:
        return [kw for n, kw in self.calls if n == name]

    def create_repo(self, repo_id, *, token=None, private=None, repo_type=None, exist_ok=False):
        self._call(
            "create_repo",
            repo_id=repo_id,
            token=token,
            private=private,
            repo_type=repo_type,
            exist_ok=exist_ok,
        )
        if repo_id in self.repos and not exist_ok:
            raise RuntimeError("409 conflict")
        self.repos.setdefault(repo_id, private)

    def create_commit(self, repo_id, operations, *, commit_message, token=None, repo_type=None):
        ops = list(operations)
        self._call(
            "create_commit",
            repo_id=repo_id,
            token=token,
            repo_type=repo_type,
            paths=[op.path_in_repo for op in ops],
            message=commit_message,
        )
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        assert repo_id in self.repos, "commit to a repo that was never created"
        for op in ops:
            with op.as_file() as fh:
                data = fh.read()
            target = self.folder / repo_id / op.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def list_repo_files(self, repo_id, *, revision=None, repo_type=None, token=None):
        self._call("list_repo_files", repo_id=repo_id, token=token, repo_type=repo_type)
        if repo_id not in self.repos:
            import httpx2
            from huggingface_hub.errors import RepositoryNotFoundError

            request = httpx2.Request("GET", f"https://huggingface.co/api/datasets/{repo_id}")
            raise RepositoryNotFoundError(
                "Repository Not Found", response=httpx2.Response(404, request=request)
            )
        root = self.folder / repo_id
        files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        return sorted(files) + self.extra_listing

    def snapshot_download(
        self, repo_id, *, repo_type=None, local_dir=None, token=None, allow_patterns=None
    ):
        self._call(
            "snapshot_download",
            repo_id=repo_id,
            token=token,
            repo_type=repo_type,
            patterns=list(allow_patterns or []),
        )
        if any(run in pat for run in self.broken for pat in allow_patterns or []):
            raise OSError("connection reset while downloading")
        root = self.folder / repo_id
        (Path(local_dir) / ".cache" / "huggingface").mkdir(parents=True, exist_ok=True)
        for path in root.rglob("*"):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(rel, p) for p in allow_patterns or ["*"]):
                target = Path(local_dir) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        return str(local_dir)

    def files(self, repo_id: str = REPO) -> set[str]:
        root = self.folder / repo_id
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A tiny synthetic holdout where the app looks for the default one."""
    from bokeh.data import synth

    data = tmp_path_factory.mktemp("data")
    synth.generate(
        data / "synth" / synth.HOLDOUT_NAME,
        count=2,
        size=(96, 64),
        seed=3,
        split="holdout",
        progress=False,
    )
    return data


@pytest.fixture(scope="module")
def base_run(data_dir, tmp_path_factory) -> Path:
    """One complete run folder (identity and depth-gauss with its oracle, 2 images)."""
    from bokeh.data import synth
    from eval.runs import evaluate

    return evaluate(
        METHODS,
        "synth",
        "holdout",
        root=data_dir / "synth" / synth.HOLDOUT_NAME,
        results_dir=tmp_path_factory.mktemp("base"),
    )


@pytest.fixture
def env(data_dir, tmp_path, monkeypatch) -> Path:
    """The app's environment: fresh results dir, no mirror, no tokens."""
    results = tmp_path / "results"
    monkeypatch.setenv("BOKEH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BOKEH_RESULTS_DIR", str(results))
    for name in (
        "BOKEH_RESULTS_REPO",
        "BOKEH_RESULTS_PUSH_IMAGES",
        "HF_TOKEN",
        "BOKEH_ADMIN_TOKEN",
        "EBB_ROOT",
        "BOKEH_EBB_REPO",
    ):
        monkeypatch.delenv(name, raising=False)
    yield results
    persist.default().close()


def _copy_run(run: Path, results: Path) -> str:
    shutil.copytree(run, results / "runs" / run.name)
    return run.name


def _note(results: Path, who: str, text: str, image: str = "0", run_id: str = "r1"):
    return ReviewStore(results / "reviews.sqlite").add(
        run_id, "identity", image, reviewer=who, note=text, tags=["halo"]
    )


def _notes(results: Path) -> list[dict]:
    reviews = ReviewStore(results / "reviews.sqlite").all()
    return sorted(
        ({k: v for k, v in r.to_dict().items() if k != "id"} for r in reviews),
        key=lambda d: d["updated_at"],
    )


def _snapshot(results: Path) -> tuple:
    """What the Leaderboard and Review tabs show: runs, the all-runs table, outputs, notes."""
    from eval.leaderboard import leaderboard_frame

    runs = [(r.run_id, r.status, r.done, r.total, r.methods) for r in list_runs(results)]
    board = leaderboard_frame(results, run="all")
    outputs = {
        p.relative_to(results).as_posix(): p.read_bytes()
        for p in sorted(results.glob("runs/*/outputs/*/*.png"))
    }
    return runs, board, outputs, _notes(results)


def _assert_same(a: tuple, b: tuple) -> None:
    assert a[0] == b[0]
    pd.testing.assert_frame_equal(a[1], b[1])
    assert a[2] == b[2] and a[3] == b[3]


def _expected_run_files(run_dir: Path) -> set[str]:
    rows = [json.loads(line) for line in (run_dir / "rows.jsonl").read_text().splitlines()]
    base = f"runs/{run_dir.name}/"
    return {base + n for n in mirrors.RUN_FILES} | {
        base + r["output"] for r in rows if r.get("output")
    }


# ----------------------------------------------------------------------------- configuration


def test_the_setting_names_a_folder_or_a_dataset_repo(tmp_path):
    assert isinstance(mirrors.mirror_for(f"file://{tmp_path}"), LocalMirror)
    assert mirrors.mirror_for(f"file://{tmp_path}").folder == tmp_path
    assert mirrors.mirror_for(str(tmp_path)).folder == tmp_path
    for spec in (
        "ana/bokeh-results",
        "datasets/ana/bokeh-results",
        "https://huggingface.co/datasets/ana/bokeh-results",
    ):
        mirror = mirrors.mirror_for(spec, token=TOKEN)
        assert isinstance(mirror, HubMirror) and mirror.repo_id == REPO
        assert TOKEN not in repr(mirror) and TOKEN not in mirror.describe()
    for bad in ("bokeh-results", "relative/path/too", "file://relative", "a b/c"):
        with pytest.raises(BokehError, match="BOKEH_RESULTS_REPO"):
            mirrors.mirror_for(bad)


def test_a_bad_setting_is_reported_and_nothing_is_pushed(env, monkeypatch):
    monkeypatch.setenv("BOKEH_RESULTS_REPO", "not-a-repo")
    assert not persist.enabled()
    assert "neither a Hub dataset repo id" in persist.status()
    assert persist.restore(timeout=1) and persist.flush(1)


def test_push_images_setting(monkeypatch):
    from bokeh import config

    monkeypatch.delenv("BOKEH_RESULTS_PUSH_IMAGES", raising=False)
    assert config.results_push_images()
    for off in ("0", "false", "No", " off "):
        monkeypatch.setenv("BOKEH_RESULTS_PUSH_IMAGES", off)
        assert not config.results_push_images()


# ----------------------------------------------------------------------------- through the app


def test_unconfigured_pushes_nothing(env):
    from eval import actions

    events = list(actions.stream_evaluation(["identity"], "synth", None, 1, None))
    run_id = events[-1]["run_id"]
    actions.save_review(run_id, "identity", "0", reviewer="ana", note="fine")
    p = persist.default()
    assert not p.enabled and p._thread is None  # no worker, no network
    assert persist.status() == persist.UNCONFIGURED == actions.storage_status()
    assert persist.flush(1) and persist.restore(timeout=1)
    assert not (env / persist.STATE_DIR).exists()
    assert list_runs(env)[0].status == "complete"


def test_folder_mirror_round_trip_through_the_app(env, tmp_path, monkeypatch):
    from eval import actions

    mirror = tmp_path / "mirror"
    monkeypatch.setenv("BOKEH_RESULTS_REPO", f"file://{mirror}")
    assert persist.enabled() and "nothing pushed yet" in persist.status()
    events = list(actions.stream_evaluation(METHODS, "synth", None, 2, None))
    assert events[-1]["status"] == "complete"
    run_id = events[-1]["run_id"]
    run_dir = env / "runs" / run_id
    # stray files that must never travel: the lock is already there; add temporaries
    (run_dir / ".rows.jsonl.abc.tmp").write_text("partial")
    (run_dir / "outputs" / "identity" / ".1.png.x.tmp").write_bytes(b"partial")
    actions.save_review(
        run_id, "identity", "0", reviewer="ana", note="halo on the edge", tags=["halo"]
    )
    actions.save_review(run_id, "depth-gauss-0.25", "1", reviewer="bo", note="too soft")
    persist.push_run(run_id)
    assert persist.flush(30)
    assert "Results are saved to the folder" in persist.status()
    assert "last push" in persist.status()

    pushed = {p.relative_to(mirror).as_posix() for p in mirror.rglob("*") if p.is_file()}
    assert pushed == _expected_run_files(run_dir) | {mirrors.REVIEWS_FILE}
    assert (env / ".eval.lock").exists() and (env / "reviews.sqlite").exists()
    assert not any(".tmp" in p or p.endswith(".lock") or "sqlite" in p for p in pushed)

    before = _snapshot(env)
    assert len(before[0]) == 1 and len(before[2]) == 6 and len(before[3]) == 2
    shutil.rmtree(env)  # the Space restarts on a fresh disk
    assert persist.restore(timeout=30)
    assert persist.flush(30)
    _assert_same(before, _snapshot(env))
    assert actions.run_choices()[2][1] == run_id
    table, _, _ = actions.leaderboard("latest")
    assert {"identity", "depth-gauss-0.25"} <= set(table["Method"])
    # a second restore (another start) adds nothing
    assert persist.restore(timeout=30)
    _assert_same(before, _snapshot(env))


def test_a_run_closed_early_is_pushed_as_cancelled(env, tmp_path, monkeypatch):
    from eval import actions

    mirror = tmp_path / "mirror"
    monkeypatch.setenv("BOKEH_RESULTS_REPO", str(mirror))
    stream = actions.stream_evaluation(["identity"], "synth", None, 2, None)
    start = next(stream)
    assert next(stream)["event"] == "row"
    stream.close()  # the browser went away
    assert persist.flush(30)
    meta = json.loads((mirror / "runs" / start["run_id"] / "run.json").read_text())
    assert meta["status"] == "cancelled"
    assert len((mirror / "runs" / start["run_id"] / "rows.jsonl").read_text().splitlines()) == 1


def test_a_failing_mirror_does_not_break_saving_locally(env, tmp_path, monkeypatch, caplog):
    from eval import actions

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BOKEH_RESULTS_REPO", str(blocker / "mirror"))
    caplog.set_level(logging.DEBUG)
    events = list(actions.stream_evaluation(["identity"], "synth", None, 1, None))
    actions.save_review(events[-1]["run_id"], "identity", "0", reviewer="ana", note="kept")
    assert not persist.flush(30)
    assert events[-1]["status"] == "complete" and list_runs(env)[0].status == "complete"
    assert [r.note for r in actions.review_store().all()] == ["kept"]
    text = persist.status()
    assert "failed" in text and "kept on this machine" in text and "NotADirectoryError" in text
    assert any("failed" in r.getMessage() for r in caplog.records if r.name == "bokeh.persist")


# ----------------------------------------------------------------------------- the Hub stand-in


def test_hub_round_trip_with_the_stand_in(base_run, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    hub = FakeHub(tmp_path / "hub")
    first = tmp_path / "first"
    run_id = _copy_run(base_run, first)
    _note(first, "ana", "halo", run_id=run_id)
    p = Persister(HubMirror(REPO, token=TOKEN, api=hub), first, retry_delays=())
    p.push_run(run_id)
    p.push_reviews()
    assert p.flush(30), p.status()
    assert hub.files() == _expected_run_files(first / "runs" / run_id) | {"reviews.jsonl"}

    creates = hub.calls_named("create_repo")
    assert creates == [
        {"repo_id": REPO, "token": TOKEN, "private": True, "repo_type": "dataset", "exist_ok": True}
    ]
    assert all(kw["repo_type"] == "dataset" and kw["token"] == TOKEN for _, kw in hub.calls)
    commits = hub.calls_named("create_commit")
    assert commits[0]["paths"][-1].endswith("run.json")  # the run is whole once it lands

    # Unchanged files are not sent again; a new note sends only the notes.
    p.push_run(run_id)
    assert p.flush(30) and len(hub.calls_named("create_commit")) == len(commits)
    _note(first, "bo", "too soft", image="1", run_id=run_id)
    p.push_reviews()
    assert p.flush(30)
    assert hub.calls_named("create_commit")[-1]["paths"] == ["reviews.jsonl"]

    second = tmp_path / "second"
    q = Persister(HubMirror(REPO, token=TOKEN, api=hub), second, retry_delays=())
    assert q.restore(timeout=30) and q.flush(30)
    assert q.restored_runs == [run_id]
    _assert_same(_snapshot(first), _snapshot(second))
    assert not (second / "runs" / ".cache").exists()
    # restoring pushed nothing back: the mirror already had all of it
    assert len(hub.calls_named("create_commit")) == len(commits) + 1
    assert "Results are saved to the Hub dataset ana/bokeh-results" in p.status()
    for who in (p, q):
        who.close()
    assert TOKEN not in caplog.text and TOKEN not in p.status() + q.status()


def test_restore_from_a_repo_that_does_not_exist_yet(tmp_path):
    hub = FakeHub(tmp_path / "hub")
    p = Persister(HubMirror(REPO, token=TOKEN, api=hub), tmp_path / "res", retry_delays=())
    assert p.restore(timeout=30) and p.flush(30)
    assert hub.calls_named("create_repo") == []  # reading creates nothing
    assert "nothing pushed yet" in p.status()
    p.close()


def test_failing_hub_is_reported_without_the_token_and_retried(base_run, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    hub = FakeHub(tmp_path / "hub")
    hub.fail = ConnectionError(f"could not reach the Hub with Authorization: Bearer {TOKEN}")
    root = tmp_path / "res"
    run_id = _copy_run(base_run, root)
    p = Persister(HubMirror(REPO, token=TOKEN, api=hub), root, retry_delays=())
    assert p.restore(timeout=30)  # finished, failed, the app goes on
    assert "Reading results back from the Hub dataset" in p.status()
    assert [r.run_id for r in list_runs(root)] == [run_id]
    p.push_run(run_id)
    assert not p.flush(30)
    text = p.status()
    assert "failed" in text and "ConnectionError" in text and TOKEN not in text
    assert TOKEN not in caplog.text and "***" in caplog.text
    assert hub.files() == set() and list_runs(root)[0].status == "complete"

    hub.fail = None  # the network is back: the next request retries what failed
    _note(root, "ana", "after the outage", run_id=run_id)
    p.push_reviews()
    assert p.flush(30), p.status()
    assert _expected_run_files(root / "runs" / run_id) <= hub.files()
    assert "reviews.jsonl" in hub.files() and "saved to" in p.status()
    p.close()


def test_retries_on_their_own_after_a_delay(base_run, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    hub.fail, hub.fail_calls = ConnectionError("down"), 1  # one failure, then it works
    root = tmp_path / "res"
    run_id = _copy_run(base_run, root)
    p = Persister(HubMirror(REPO, api=hub), root, retry_delays=(0.05,), min_interval=0)
    p.push_run(run_id)
    pause = threading.Event()
    for _ in range(400):  # no new request: the retry fires 0.05 s after the failure
        if f"runs/{run_id}/run.json" in hub.files():
            break
        pause.wait(0.025)
    assert f"runs/{run_id}/run.json" in hub.files()
    assert p.flush(10) and "saved to" in p.status()
    assert len(hub.calls_named("create_repo")) == 2  # the failed try, then the retry
    p.close()


def test_bursts_are_coalesced_and_the_latest_state_wins(base_run, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    hub.gate = threading.Event()
    root = tmp_path / "res"
    run_id = _copy_run(base_run, root)
    p = Persister(HubMirror(REPO, api=hub), root, retry_delays=())
    p.push_run(run_id)
    assert hub.entered.wait(10)  # the first push is in flight, blocked
    meta_path = root / "runs" / run_id / "run.json"
    for k in range(5):
        meta = json.loads(meta_path.read_text())
        meta["note"] = f"edit {k}"
        meta_path.write_text(json.dumps(meta))
        p.push_run(run_id)
    hub.gate.set()
    assert p.flush(30)
    commits = hub.calls_named("create_commit")
    assert len(commits) == 2 and commits[1]["paths"] == [f"runs/{run_id}/run.json"]
    pushed = json.loads((hub.folder / REPO / "runs" / run_id / "run.json").read_text())
    assert pushed["note"] == "edit 4"
    p.close()


def test_pushes_are_spaced_out_and_requests_meanwhile_become_one(base_run, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    root = tmp_path / "res"
    run_id = _copy_run(base_run, root)
    p = Persister(HubMirror(REPO, api=hub), root, retry_delays=(), min_interval=3600)
    p.push_run(run_id)
    pause = threading.Event()
    for _ in range(500):  # the first push goes at once
        if p.last_push:
            break
        pause.wait(0.02)
    for k in range(3):
        _note(root, "ana", f"note {k}", run_id=run_id)
        p.push_reviews()
    pause.wait(0.3)
    assert len(hub.calls_named("create_commit")) == 1  # the notes wait out the interval
    assert p.flush(30)  # ... unless someone flushes (tests, shutdown)
    commits = hub.calls_named("create_commit")
    assert len(commits) == 2 and commits[1]["paths"] == ["reviews.jsonl"]
    assert len((hub.folder / REPO / "reviews.jsonl").read_text().splitlines()) == 3
    p.close()


def test_images_can_be_left_out(base_run, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    root = tmp_path / "res"
    run_id = _copy_run(base_run, root)
    p = Persister(HubMirror(REPO, api=hub), root, push_images=False, retry_delays=())
    p.push_run(run_id)
    assert p.flush(30)
    assert hub.files() == {f"runs/{run_id}/{n}" for n in mirrors.RUN_FILES}
    q = Persister(HubMirror(REPO, api=hub), tmp_path / "back", retry_delays=())
    assert q.restore(timeout=30)
    assert [r.status for r in list_runs(tmp_path / "back")] == ["complete"]
    for who in (p, q):
        who.close()


def test_unsafe_names_in_the_mirror_are_ignored(base_run, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    root = tmp_path / "res"
    run_id = _copy_run(base_run, root)
    p = Persister(HubMirror(REPO, api=hub), root, retry_delays=())
    p.push_run(run_id)
    assert p.flush(30)
    hub.extra_listing = [
        "runs/../evil/run.json",
        "runs/.hidden/run.json",
        f"runs/{run_id}/../../evil.png",
        "runs/x/outputs/m/../../../y.png",
        "/etc/run.json",
        "runs/x\\y/run.json",
        ".eval.lock",
    ]
    stored = hub.folder / REPO / "runs" / run_id
    (stored / "script.sh").write_text("echo not a result")  # really there: never fetched
    (stored / "outputs" / "identity" / ".hidden.png").write_bytes(b"x")
    back = tmp_path / "sub" / "back"
    q = Persister(HubMirror(REPO, api=hub), back, retry_delays=())
    assert q.restore(timeout=30) and q.flush(30)
    assert q.restored_runs == [run_id]
    asked = [pat for kw in hub.calls_named("snapshot_download") for pat in kw["patterns"]]
    assert asked and all(
        ".." not in a and "/." not in a and not a.startswith(("/", ".")) for a in asked
    )
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["back"]
    restored = {p.relative_to(back).as_posix() for p in back.rglob("*") if p.is_file()}
    assert {p for p in restored if p.startswith("runs/")} == _expected_run_files(
        back / "runs" / run_id
    )
    for who in (p, q):
        who.close()


# ----------------------------------------------------------------------------- merging


def test_restore_keeps_local_notes_and_restoring_twice_adds_nothing(tmp_path):
    mirror = LocalMirror(tmp_path / "mirror")
    a, b = tmp_path / "a", tmp_path / "b"
    pa = Persister(mirror, a, retry_delays=())
    _note(a, "ana", "first look")  # older than b's note on the same image
    _note(a, "cy", "another reviewer")
    pa.push_reviews()
    assert pa.flush(30)
    _note(b, "ana", "second look, on machine b")  # saved before b's restore
    pb = Persister(mirror, b, retry_delays=())
    assert pb.restore(timeout=30) and pb.flush(30)
    notes = _notes(b)
    assert [n["note"] for n in notes] == [
        "first look",
        "another reviewer",
        "second look, on machine b",
    ]
    store = ReviewStore(b / "reviews.sqlite")
    # the newest note stays "the" note although it was stored before the older ones arrived
    assert [r.note for r in store.latest("r1", "identity", "0", reviewer="ana")] == [
        "second look, on machine b"
    ]
    assert pb.restore(timeout=30) and pb.flush(30)
    assert _notes(b) == notes and store.count() == 3
    # the restore sent b's note up; a push from a merges it there too
    pa.push_reviews()
    assert pa.flush(30)
    assert _notes(a) == notes
    lines = (tmp_path / "mirror" / "reviews.jsonl").read_text().splitlines()
    assert len(lines) == 3 and "id" not in json.loads(lines[0])
    for who in (pa, pb):
        who.close()


def test_merge_skips_bad_records_and_duplicates(tmp_path):
    store = ReviewStore(tmp_path / "reviews.sqlite")
    saved = store.add("r", "m", "i", reviewer="ana", note="x", tags=["halo"])
    record = saved.to_dict()
    bad = {**record, "created_at": "yesterday"}
    with pytest.warns(UserWarning, match="Skipped 2"):
        added = store.merge(
            [
                record,
                record,
                bad,
                {"run_id": "r"},
                {**record, "note": "y", "updated_at": "2099-01-01T00:00:00+00:00"},
            ]
        )
    assert added == 1 and store.count() == 2
    assert store.latest("r", "m", "i")[0].note == "y"


def test_restore_never_overwrites_a_local_run_and_pushes_local_ones(base_run, tmp_path):
    mirror = LocalMirror(tmp_path / "mirror")
    a, b = tmp_path / "a", tmp_path / "b"
    run_id = _copy_run(base_run, a)
    pa = Persister(mirror, a, retry_delays=())
    pa.push_run(run_id)
    assert pa.flush(30)
    # b has the same run, resumed and still running here, plus a run of its own
    _copy_run(base_run, b)
    meta_path = b / "runs" / run_id / "run.json"
    meta = json.loads(meta_path.read_text())
    meta["resumed"] = [{"at": "now"}]
    meta_path.write_text(json.dumps(meta))
    own = b / "runs" / "20990101T000000000Z-abcdef"
    shutil.copytree(base_run, own)
    own_meta = json.loads((own / "run.json").read_text())
    (own / "run.json").write_text(json.dumps({**own_meta, "run_id": own.name}))
    pb = Persister(mirror, b, retry_delays=())
    assert pb.restore(timeout=30) and pb.flush(30)
    assert pb.restored_runs == []
    assert json.loads(meta_path.read_text())["resumed"] == [{"at": "now"}]
    assert (tmp_path / "mirror" / "runs" / own.name / "run.json").is_file()
    for who in (pa, pb):
        who.close()


def _second_run(base_run: Path, results: Path, run_id: str) -> str:
    """A copy of the base run under another (newer) id."""
    folder = results / "runs" / run_id
    shutil.copytree(base_run, folder)
    meta = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**meta, "run_id": run_id}))
    return run_id


def test_one_unreadable_run_does_not_keep_the_others_away(base_run, tmp_path):
    hub = FakeHub(tmp_path / "hub")
    a = tmp_path / "a"
    older = _copy_run(base_run, a)
    newer = _second_run(base_run, a, "20990101T000000000Z-abcdef")
    pa = Persister(HubMirror(REPO, api=hub), a, retry_delays=())
    pa.push_run(older)
    pa.push_run(newer)
    assert pa.flush(30)
    hub.broken = {newer}
    b = tmp_path / "b"
    pb = Persister(HubMirror(REPO, api=hub), b, retry_delays=())
    assert pb.restore(timeout=30)
    assert [r.run_id for r in list_runs(b)] == [older]
    assert "1 run(s) could not be read back" in pb.status()
    assert not (b / "runs" / newer).exists()  # no half run
    hub.broken = set()
    pb.push_reviews()  # the next request retries the restore first
    assert pb.flush(30), pb.status()
    assert [r.run_id for r in list_runs(b)] == [newer, older]
    for who in (pa, pb):
        who.close()


def test_files_the_mirror_lost_are_sent_again(base_run, tmp_path):
    mirror = tmp_path / "mirror"
    a = tmp_path / "a"
    run_id = _copy_run(base_run, a)
    pa = Persister(LocalMirror(mirror), a, retry_delays=())
    pa.push_run(run_id)
    assert pa.flush(30)
    shutil.rmtree(mirror)  # someone deleted the dataset
    pa.push_run(run_id)
    assert pa.flush(30) and not mirror.exists()  # the manifest alone says all is there
    assert pa.restore(timeout=30) and pa.flush(30)  # a start compares with the mirror
    assert {p.relative_to(mirror).as_posix() for p in mirror.rglob("*") if p.is_file()} == (
        _expected_run_files(a / "runs" / run_id)
    )
    pa.close()


# ----------------------------------------------------------------------------- the app


@pytest.mark.app
def test_app_start_reads_the_mirror_back(base_run, data_dir, tmp_path):
    """`python app.py` with BOKEH_RESULTS_REPO set and an empty (ephemeral) results dir: the
    runs and notes pushed by an earlier deployment are back before the page is served."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    old = tmp_path / "old-disk"
    run_id = _copy_run(base_run, old)
    _note(old, "ana", "halo on the left", run_id=run_id)
    mirror = tmp_path / "mirror"
    first = Persister(LocalMirror(mirror), old)
    first.push_run(run_id)
    first.push_reviews()
    assert first.flush(30)
    first.close()

    fresh = tmp_path / "new-disk"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "BOKEH_RESULTS_REPO": f"file://{mirror}",
        "BOKEH_RESULTS_DIR": str(fresh),
        "BOKEH_DATA_DIR": str(data_dir),
        "GRADIO_SERVER_PORT": str(port),
        "HF_HUB_OFFLINE": "1",
        "BOKEH_DEPTH_ANYTHING_REPO": "none",
    }
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=root,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(1)
        runs = [r.run_id for r in list_runs(fresh)]
        assert run_id in runs
        assert _notes(fresh) == _notes(old)
    finally:
        proc.terminate()  # SIGTERM: the app flushes pending pushes and exits
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-3000:]
    assert "Results are saved to" in out


def test_a_restored_run_reviews_with_this_machines_copy_of_the_dataset(
    base_run, env, tmp_path, monkeypatch
):
    """Rows record absolute input/ground-truth paths; on a new disk the dataset lives elsewhere
    (regenerated holdout, another EBB! folder) and the Review tab must still find them."""
    from eval import actions

    run_id = _copy_run(base_run, env)
    run_dir = env / "runs" / run_id
    meta = json.loads((run_dir / "run.json").read_text())
    old_root = meta["dataset_root"]
    moved_root = "/old-machine/data/synth/holdout"
    meta["dataset_root"] = moved_root
    (run_dir / "run.json").write_text(json.dumps(meta))
    rows = [json.loads(line) for line in (run_dir / "rows.jsonl").read_text().splitlines()]
    for row in rows:
        for key in ("input_path", "gt_path"):
            if row.get(key):
                row[key] = row[key].replace(old_root, moved_root)
    (run_dir / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "per_image.csv").unlink()  # rebuilt from rows.jsonl
    items = actions.worst(run_id, "identity", "psnr")
    assert items and not Path(items[0]["input"]).exists()  # recorded on the old machine
    inp, out, gt, heat = actions.review_images(items[0], run_id)
    assert inp.shape == out.shape == gt.shape == heat.shape
    assert (inp == out).all()  # identity: the output is the input, found again
    # Without the dataset here, the message says what is missing.
    monkeypatch.setattr(actions, "relocate_dataset_file", lambda path, meta: None)
    with pytest.raises(BokehError, match="input and ground truth image .* not on this machine"):
        actions.review_images(items[0], run_id)


def test_review_recomputes_outputs_a_run_does_not_ship(base_run, env, tmp_path, monkeypatch):
    """The reference run in assets/results ships scores only (like a mirror without images):
    the Review tab recomputes the worst images' outputs, and says whether they score as
    recorded."""
    import tempfile

    import numpy as np
    from PIL import Image

    from eval import actions
    from eval.store import slug as _slug

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    run_id = _copy_run(base_run, env)
    outputs = env / "runs" / run_id / "outputs"
    kept = {p.relative_to(outputs): np.asarray(Image.open(p)) for p in outputs.rglob("*.png")}
    shutil.rmtree(outputs)
    for label in ("depth-gauss-0.25", "depth-gauss-0.25 (oracle depth)"):
        items = actions.worst(run_id, label, "ssim")
        assert items and all(it["caption"].endswith("(recomputed, same score)") for it in items)
        for it in items:
            again = np.asarray(Image.open(it["output"]))
            original = kept[Path(_slug(label)) / f"{_slug(it['id'])}.png"]
            assert np.array_equal(again, original)  # the same pixels as the run's own output
        inp, out, gt, heat = actions.review_images(items[0], run_id)
        assert out.shape == gt.shape
    # Weights or code changed since the run: the caption says the score is not the recorded one.
    item = dict(actions.worst(run_id, "identity", "psnr")[0])
    (Path(item["output"]).with_suffix(".json")).write_text(json.dumps({"psnr": 1.0}))
    again = actions.worst(run_id, "identity", "psnr")[0]
    assert again["caption"].endswith("(recomputed: 1.00 now)")
