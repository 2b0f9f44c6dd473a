"""The reviewers' note store: round trips, history, concurrent writers, CSV export, validation."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing as mp
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from bokeh.errors import BokehError
from eval import review, review_fields
from eval.review import (
    CSV_COLUMNS,
    DEFAULT_TAGS,
    ReviewStore,
    ReviewStoreError,
    ReviewValidationError,
    normalize_tags,
)

N_THREADS, N_PROCS, N_WRITES = 8, 2, 25


@pytest.fixture
def store(tmp_path: Path) -> ReviewStore:
    return ReviewStore(tmp_path / "results" / "reviews.sqlite")


def test_creates_parent_dirs_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "reviews.sqlite"
    s = ReviewStore(path)
    assert path.is_file()
    assert s.journal_mode == "wal"
    assert s.schema_version == review.SCHEMA_VERSION


def test_round_trip(store: ReviewStore) -> None:
    saved = store.add(
        "run1",
        "pix2pix",
        "img_001",
        reviewer="ana",
        note=" halo on hair ",
        tags=["Halo", "wrong focus"],
    )
    got = store.latest("run1", "pix2pix", "img_001")
    assert got == [saved]
    r = got[0]
    assert (r.run_id, r.method, r.image_id, r.reviewer) == ("run1", "pix2pix", "img_001", "ana")
    assert r.note == "halo on hair"
    assert r.tags == ("halo", "wrong focus")
    assert r.created_at.endswith("+00:00") and r.created_at == r.updated_at
    # Other images, methods and runs are not mixed in.
    assert store.latest("run1", "pix2pix", "img_002") == []
    assert store.latest("run1", "bggan", "img_001") == []
    assert store.latest("run2", "pix2pix", "img_001") == []


def test_history_kept_and_latest_is_newest(store: ReviewStore) -> None:
    first = store.add("r", "m", "i", reviewer="ana", note="first", tags="halo")
    second = store.add("r", "m", "i", reviewer="ana", note="second", tags="dark mask")
    latest = store.latest("r", "m", "i")
    assert [x.note for x in latest] == ["second"]
    assert latest[0].tags == ("dark mask",)
    hist = store.history("r", "m", "i")
    assert [x.note for x in hist] == ["first", "second"]
    # created_at stays at the first note; updated_at moves with each version.
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    assert store.count() == 2


def test_latest_per_reviewer(store: ReviewStore) -> None:
    store.add("r", "m", "i", reviewer="ana", note="a1")
    store.add("r", "m", "i", reviewer="bo", note="b1")
    store.add("r", "m", "i", reviewer="ana", note="a2")
    latest = store.latest("r", "m", "i")
    assert {x.reviewer: x.note for x in latest} == {"ana": "a2", "bo": "b1"}
    assert [x.note for x in store.latest("r", "m", "i", reviewer="bo")] == ["b1"]
    assert [x.note for x in store.history("r", "m", "i", reviewer="ana")] == ["a1", "a2"]


def test_for_run_filters_and_latest_only(store: ReviewStore) -> None:
    store.add("r1", "m1", "i1", reviewer="ana", note="old")
    store.add("r1", "m1", "i1", reviewer="ana", note="new")
    store.add("r1", "m2", "i1", reviewer="ana", note="other method")
    store.add("r2", "m1", "i1", reviewer="ana", note="other run")
    assert [x.note for x in store.for_run("r1")] == ["new", "other method"]
    assert [x.note for x in store.for_run("r1", "m1")] == ["new"]
    assert [x.note for x in store.for_run("r1", "m1", latest_only=False)] == ["old", "new"]
    assert store.for_run("r3") == []


def test_tag_counts(store: ReviewStore) -> None:
    store.add("r", "m", "i1", reviewer="ana", tags=["halo", "artifact"])
    store.add("r", "m", "i2", reviewer="ana", tags=["halo"])
    store.add("r", "m", "i2", reviewer="bo", tags=["Halo", "dark mask"])
    store.add("r", "m2", "i1", reviewer="ana", tags=["dark mask"])
    store.add("r2", "m", "i1", reviewer="ana", tags=["colour shift"])
    # A revision replaces its earlier version in the counts by default.
    store.add("r", "m", "i1", reviewer="ana", tags=["halo"])
    assert store.tag_counts("r", "m") == {"halo": 3, "dark mask": 1}
    assert store.tag_counts("r", "m", latest_only=False) == {
        "halo": 4,
        "artifact": 1,
        "dark mask": 1,
    }
    assert store.tag_counts("r") == {"halo": 3, "dark mask": 2}
    everything = store.tag_counts()
    assert everything["colour shift"] == 1
    counts = list(everything.values())
    assert counts == sorted(counts, reverse=True)


def test_tag_normalisation() -> None:
    assert normalize_tags(["  Wrong   Focus ", "HALO", "halo", "", "  "]) == ("wrong focus", "halo")
    assert normalize_tags("halo, Dark Mask;artifact,,") == ("halo", "dark mask", "artifact")
    assert normalize_tags(None) == ()
    assert normalize_tags(["my custom tag"]) == ("my custom tag",)
    assert normalize_tags(["x" * 40]) == ("x" * 40,)
    with pytest.raises(ReviewValidationError, match="at most 40"):
        normalize_tags(["x" * 41])
    with pytest.raises(ReviewValidationError, match="text"):
        normalize_tags([3])  # type: ignore[list-item]
    with pytest.raises(ReviewValidationError, match="at most"):
        normalize_tags([f"t{i}" for i in range(review_fields.MAX_TAGS + 1)])
    # The defaults are already in normal form.
    assert normalize_tags(DEFAULT_TAGS) == DEFAULT_TAGS


def test_tags_stored_as_json_list(store: ReviewStore) -> None:
    store.add("r", "m", "i", reviewer="ana", tags=["Halo", "misaligned ground truth"])
    with sqlite3.connect(store.path) as conn:
        raw = conn.execute("SELECT tags FROM reviews").fetchone()[0]
    assert json.loads(raw) == ["halo", "misaligned ground truth"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"run_id": ""}, "run id is required"),
        ({"method": "  "}, "method is required"),
        ({"image_id": None}, "image id must be text"),
        ({"reviewer": ""}, "reviewer name is required"),
        ({"reviewer": "r" * 81}, "at most 80"),
        ({"note": "n" * 5001}, "at most 5000"),
        ({"note": 12}, "note must be text"),
        ({"tags": ["t" * 41]}, "at most 40"),
        ({"image_id": "a\nb"}, "control characters"),
    ],
)
def test_validation_errors(store: ReviewStore, kwargs: dict, match: str) -> None:
    args = {"run_id": "r", "method": "m", "image_id": "i", "reviewer": "ana", "note": "ok"}
    args.update(kwargs)
    with pytest.raises(ReviewValidationError, match=match) as info:
        store.add(args.pop("run_id"), args.pop("method"), args.pop("image_id"), **args)
    assert isinstance(info.value, BokehError)
    assert store.count() == 0


def test_limits_are_inclusive(store: ReviewStore) -> None:
    r = store.add("r", "m", "i", reviewer="r" * 80, note="n" * 5000, tags=["t" * 40])
    assert len(r.note) == 5000 and len(r.reviewer) == 80


def test_reopen_persists(tmp_path: Path) -> None:
    path = tmp_path / "reviews.sqlite"
    first = ReviewStore(path)
    first.add("r", "m", "i", reviewer="ana", note="kept", tags=["halo"])
    del first
    again = ReviewStore(path)
    assert [(x.note, x.tags) for x in again.latest("r", "m", "i")] == [("kept", ("halo",))]
    again.add("r", "m", "i", reviewer="ana", note="later")
    assert again.count() == 2
    assert again.schema_version == review.SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "reviews.sqlite"
    ReviewStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {review.SCHEMA_VERSION + 1}")
    with pytest.raises(ReviewStoreError, match="newer"):
        ReviewStore(path)


def test_migration_hook_runs_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "reviews.sqlite"
    ReviewStore(path).add("r", "m", "i", reviewer="ana", note="before")
    calls = []

    def to_2(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE reviews ADD COLUMN severity INTEGER")

    monkeypatch.setattr(review, "SCHEMA_VERSION", review.SCHEMA_VERSION + 1)
    monkeypatch.setitem(review.MIGRATIONS, review.SCHEMA_VERSION, to_2)
    s = ReviewStore(path)
    ReviewStore(path)
    assert calls == [1]
    assert s.schema_version == review.SCHEMA_VERSION
    assert [x.note for x in s.latest("r", "m", "i")] == ["before"]
    with sqlite3.connect(path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        cols = [row[1] for row in conn.execute("PRAGMA table_info(reviews)")]
    assert versions == [1, 2] and "severity" in cols


def test_path_under_a_file_gives_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(ReviewStoreError, match="Cannot create the folder") as info:
        ReviewStore(blocker / "reviews.sqlite")
    assert isinstance(info.value, BokehError)


def test_not_a_database_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "reviews.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ReviewStoreError, match="not a readable SQLite database"):
        ReviewStore(path)


def test_database_messages_name_no_server_folder(tmp_path: Path) -> None:
    """Issue #12, item 9: the messages reach web visitors, so they name the file only."""
    folder = tmp_path / "private-folder"
    folder.mkdir()
    path = folder / "reviews.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ReviewStoreError) as info:
        ReviewStore(path)
    message = str(info.value)
    assert "reviews.sqlite" in message and "private-folder" not in message
    assert str(tmp_path) not in message and "\n" not in message


def test_lone_surrogates_are_refused_in_one_line(store: ReviewStore) -> None:
    """Issue #12, item 9: a lone surrogate (only a forged request sends one) in a note, name,
    tag or id is refused with one line instead of sqlite's UnicodeEncodeError."""
    bad = "x\ud800y"
    for kwargs, what in (
        (dict(note=bad), "note"),
        (dict(reviewer=bad), "reviewer name"),
        (dict(tags=[bad]), "tag"),
    ):
        args = {"reviewer": "ann", **kwargs}
        with pytest.raises(ReviewValidationError, match=f"{what} holds characters") as info:
            store.add("r1", "m", "i1", **args)
        assert "\n" not in str(info.value)
    with pytest.raises(ReviewValidationError, match="image id"):
        store.add("r1", "m", bad, reviewer="ann")
    assert store.count() == 0


def test_nul_is_stripped_from_names_and_tags_as_from_notes(store: ReviewStore) -> None:
    """Issue #12, item 9: NUL bytes were stripped from notes only."""
    saved = store.add(
        "r1", "m", "i1", reviewer="an\x00n", note="n\x00ote", tags=["ha\x00lo", "wrong\x00 focus"]
    )
    assert (saved.reviewer, saved.note, saved.tags) == ("ann", "note", ("halo", "wrong focus"))
    [again] = store.history("r1", "m", "i1")
    assert "\x00" not in again.reviewer + again.note + "".join(again.tags)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permission bits"
)
def test_read_only_dir_gives_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ReviewStoreError, match="read-only"):
            ReviewStore(folder / "reviews.sqlite").add("r", "m", "i", reviewer="a", note="x")
    finally:
        folder.chmod(0o700)


def test_default_path_follows_results_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOKEH_RESULTS_DIR", str(tmp_path / "res"))
    assert review.default_review_db() == tmp_path / "res" / "reviews.sqlite"
    monkeypatch.delenv("BOKEH_RESULTS_DIR")
    monkeypatch.setenv("BOKEH_DATA_DIR", str(tmp_path / "data"))
    from bokeh import config

    if not hasattr(config, "results_dir"):  # otherwise bokeh.config decides
        assert review.default_review_db() == tmp_path / "data" / "results" / "reviews.sqlite"
    store = ReviewStore()
    assert store.path == review.default_review_db() and store.path.is_file()


def _parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_csv_columns_and_rows(store: ReviewStore, tmp_path: Path) -> None:
    store.add(
        "r1",
        "m",
        "i1",
        reviewer="ana",
        note='quote " and, comma\nnew line',
        tags=["halo", "dark mask"],
    )
    store.add("r1", "m", "i1", reviewer="ana", note="revised")
    store.add("r1", "m", "i2", reviewer="bo", note='=HYPERLINK("x")')
    store.add("r2", "m", "i1", reviewer="ana", note="other run")

    out = tmp_path / "exports" / "reviews.csv"
    assert store.export_csv(out, run_id="r1") == 3
    with out.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    assert len(rows) == 3 and {r["run_id"] for r in rows} == {"r1"}
    assert rows[0]["note"] == 'quote " and, comma\nnew line'
    assert rows[0]["tags"] == "halo; dark mask"
    assert rows[2]["note"].startswith("'=")  # formula cells are defused for spreadsheets
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)

    buf = io.StringIO()
    assert store.export_csv(buf) == 4
    assert len(_parse_csv(buf.getvalue())) == 4
    latest = _parse_csv(store.export_csv_text("r1", latest_only=True))
    assert [r["note"] for r in latest] == ["revised", '\'=HYPERLINK("x")']
    assert _parse_csv(store.export_csv_text("nope")) == []
    assert store.export_csv_text("nope").splitlines()[0].split(",") == list(CSV_COLUMNS)


# ----------------------------------------------------------------------------- concurrency


def _process_writer(path: str, worker: int, n: int, start) -> None:
    s = ReviewStore(path)
    start.wait()
    for k in range(n):
        s.add(
            "run",
            "m",
            f"img_{k % 5}",
            reviewer=f"proc{worker}",
            note=f"p{worker}-{k}",
            tags=["halo"],
        )


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "reviews.sqlite"
    store = ReviewStore(path)
    ctx = mp.get_context("spawn")
    # One barrier for every writer (processes and threads), so they really write at once.
    start = ctx.Barrier(N_PROCS + N_THREADS, timeout=60)
    procs = [
        ctx.Process(target=_process_writer, args=(str(path), w, N_WRITES, start))
        for w in range(N_PROCS)
    ]
    for p in procs:
        p.start()
    errors: list[BaseException] = []

    def thread_writer(worker: int) -> None:
        try:
            s = ReviewStore(path) if worker % 2 else store  # shared and separate store objects
            start.wait()
            for k in range(N_WRITES):
                # Every thread writes on the same few images, so writes collide.
                s.add(
                    "run",
                    "m",
                    f"img_{k % 5}",
                    reviewer=f"thread{worker}",
                    note=f"t{worker}-{k}",
                    tags=["dark mask"],
                )
                if k % 10 == 0:
                    s.latest("run", "m", f"img_{k % 5}")  # readers interleaved with writers
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=thread_writer, args=(w,)) for w in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for p in procs:
        p.join(timeout=120)

    assert not errors, errors
    assert [p.exitcode for p in procs] == [0] * N_PROCS
    total = N_THREADS * N_WRITES + N_PROCS * N_WRITES
    assert store.count() == total
    notes = {r.note for r in store.all()}
    expected = {f"t{w}-{k}" for w in range(N_THREADS) for k in range(N_WRITES)}
    expected |= {f"p{w}-{k}" for w in range(N_PROCS) for k in range(N_WRITES)}
    assert notes == expected
    # Each writer's newest note on an image is its last write there.
    newest = {r.reviewer: r.note for r in store.latest("run", "m", "img_4")}
    assert newest["thread3"] == f"t3-{N_WRITES - 1}"
    assert newest["proc1"] == f"p1-{N_WRITES - 1}"
    assert store.tag_counts() == {"dark mask": N_THREADS * 5, "halo": N_PROCS * 5}
