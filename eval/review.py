"""Reviewers' notes and tags on evaluation outputs, kept in a SQLite file beside the results.

The store is append-only: every save adds a row, so a reviewer's earlier notes stay in the
history and two reviewers saving at the same moment never overwrite each other. "The" note of a
reviewer on an image is simply their newest row.

Concurrency: the web app serves several users from threads, and more than one process may write
(the app and a script). Each operation opens its own connection (nothing is shared between
threads), the database runs in WAL mode so readers never block the writer, writes take the
write lock up front with ``BEGIN IMMEDIATE`` and wait up to ``busy_timeout`` seconds for it, and
a write that still finds the database locked is retried a few times with a short backoff.

Example::

    store = ReviewStore()                      # <results dir>/reviews.sqlite
    store.add("run-1", "pix2pix", "img_0042", reviewer="ana", note="halo around hair",
              tags=["halo", "Wrong focus"])
    store.latest("run-1", "pix2pix", "img_0042")   # newest note of each reviewer
    store.export_csv("reviews.csv", run_id="run-1")
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import random
import sqlite3
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from bokeh import config
from bokeh.errors import BokehError
from eval.review_fields import (
    ReviewValidationError,
    check_id,
    check_note,
    check_reviewer,
    check_time,
    normalize_tags,
)

log = logging.getLogger("eval.review")

DEFAULT_TAGS = (
    "wrong focus",
    "halo",
    "dark mask",
    "colour shift",
    "misaligned ground truth",
    "blur too weak",
    "blur too strong",
    "artifact",
)


SCHEMA_VERSION = 1
CSV_COLUMNS = (
    "id",
    "run_id",
    "method",
    "image_id",
    "reviewer",
    "note",
    "tags",
    "created_at",
    "updated_at",
)
_DB_NAME = "reviews.sqlite"


class ReviewStoreError(BokehError):
    """The review database cannot be opened, created or written."""


# ----------------------------------------------------------------------------- paths


def default_review_db() -> Path:
    """Default database path: ``<results dir>/reviews.sqlite`` (the file is not created here)."""
    return config.results_dir() / _DB_NAME


def _image_key(run_id: object, method: object, image_id: object) -> tuple[str, str, str]:
    return check_id(run_id, "run id"), check_id(method, "method"), check_id(image_id, "image id")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Review:
    """One saved note. ``created_at`` is when this reviewer first noted this image (kept across
    revisions); ``updated_at`` is when this version was saved. Both are ISO 8601 UTC."""

    id: int
    run_id: str
    method: str
    image_id: str
    reviewer: str
    note: str
    tags: tuple[str, ...]
    created_at: str
    updated_at: str

    def to_dict(self) -> dict:
        d = {name: getattr(self, name) for name in CSV_COLUMNS}
        d["tags"] = list(self.tags)
        return d


_SELECT = (
    "SELECT id, run_id, method, image_id, reviewer, note, tags, created_at, updated_at FROM reviews"
)


def _row_to_review(row: tuple) -> Review:
    try:
        tags = tuple(str(t) for t in json.loads(row[6] or "[]"))
    except (ValueError, TypeError):  # a hand-edited row: show it rather than fail the page
        tags = ()
    return Review(int(row[0]), row[1], row[2], row[3], row[4], row[5] or "", tags, row[7], row[8])


_MERGE_COLS = "run_id, method, image_id, reviewer, note, tags, created_at, updated_at"


def _record_row(rec: Mapping) -> tuple:
    """A merge record as a row tuple in :data:`_MERGE_COLS` order (validated, normalised)."""
    run_id, method, image_id = _image_key(rec["run_id"], rec["method"], rec["image_id"])
    return (
        run_id,
        method,
        image_id,
        check_reviewer(rec["reviewer"]),
        check_note(rec.get("note")),
        json.dumps(list(normalize_tags(rec.get("tags")))),
        check_time(rec["created_at"], "creation time"),
        check_time(rec["updated_at"], "update time"),
    )


# ----------------------------------------------------------------------------- migrations


def _migrate_to_1(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS reviews ("
        " id INTEGER PRIMARY KEY,"
        " run_id TEXT NOT NULL, method TEXT NOT NULL, image_id TEXT NOT NULL,"
        " reviewer TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',"
        " tags TEXT NOT NULL DEFAULT '[]',"
        " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    conn.execute(
        "CREATE INDEX IF NOT EXISTS reviews_image "
        "ON reviews (run_id, method, image_id, reviewer, id)"
    )


# Version N is reached by running MIGRATIONS[N] on a database at version N - 1. To change the
# schema, append a function and bump SCHEMA_VERSION; never edit a released step.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_to_1}
assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))


# ----------------------------------------------------------------------------- the store


def _is_busy(exc: sqlite3.Error) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class ReviewStore:
    """Append-only store of reviewer notes, safe to share between threads and processes.

    Args:
        path: the SQLite file (default :func:`default_review_db`); parent folders are created.
        busy_timeout: seconds a write waits for another writer before it is retried.
        retries: how many more times a write that found the database locked is attempted.

    Raises:
        ReviewStoreError: the folder or file cannot be created, opened or written, or the file
            was made by a newer version of this code.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        busy_timeout: float = 10.0,
        retries: int = 4,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_review_db()
        self.busy_timeout = float(busy_timeout)
        self.retries = max(0, int(retries))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReviewStoreError(
                f"Cannot create the folder for the review database ({self.path.name}): "
                f"{exc.strerror or 'error'}."
            ) from exc
        self._init_schema()

    def __repr__(self) -> str:
        return f"ReviewStore({str(self.path)!r})"

    # -- connections

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; writes say BEGIN IMMEDIATE themselves.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable in WAL against app crashes
        return conn

    def _fail(self, exc: sqlite3.Error, doing: str) -> ReviewStoreError:
        if _is_busy(exc):
            return ReviewStoreError(
                f"The review database is busy ({doing}); please try again in a moment."
            )
        msg = str(exc)
        low = msg.lower()
        if "readonly" in low or "read-only" in low or "unable to open" in low:
            hint = "the file or its folder is read-only or missing"
        elif "not a database" in low or "malformed" in low:
            hint = "the file is not a readable SQLite database"
        else:
            hint = "the database reported an error (see the server log)"
            log.warning("review database %s (%s): %s", self.path, doing, msg)
        # The file name only: the message reaches web visitors, the folder stays private.
        return ReviewStoreError(
            f"Cannot use the review database ({self.path.name}, {doing}): {hint}."
        )

    @contextmanager
    def _reading(self, doing: str) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise self._fail(exc, doing) from exc
        try:
            yield conn
        except sqlite3.Error as exc:
            raise self._fail(exc, doing) from exc
        finally:
            conn.close()

    def _write(self, doing: str, fn: Callable[[sqlite3.Connection], object]) -> object:
        """Run ``fn(conn)`` in one ``BEGIN IMMEDIATE`` transaction, retrying while locked."""
        for attempt in range(self.retries + 1):
            conn = None
            try:
                conn = self._connect()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                return result
            except sqlite3.Error as exc:
                if _is_busy(exc) and attempt < self.retries:
                    time.sleep(0.05 * 2**attempt * (1 + random.random()))
                    continue
                raise self._fail(exc, doing) from exc
            finally:
                if conn is not None:
                    conn.close()
        raise AssertionError("unreachable")

    def _init_schema(self) -> None:
        with self._reading("opening") as conn:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        self.journal_mode = str(mode).lower()  # "wal", or what the filesystem allows
        if version > SCHEMA_VERSION:
            raise ReviewStoreError(
                f"The review database ({self.path.name}) has schema version {version}, "
                f"newer than this code understands ({SCHEMA_VERSION}); update the project to use it."
            )
        if version < SCHEMA_VERSION:
            self._write("creating the tables", self._migrate)

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        # Re-read inside the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](conn)
            conn.execute("INSERT OR REPLACE INTO schema_version VALUES (?, ?)", (target, _now()))
            conn.execute(f"PRAGMA user_version = {target}")

    @property
    def schema_version(self) -> int:
        with self._reading("reading the schema version") as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # -- writing

    def add(
        self,
        run_id: str,
        method: str,
        image_id: str,
        *,
        reviewer: str,
        note: str | None = "",
        tags: str | Iterable[str] | None = (),
    ) -> Review:
        """Save a note (appended; earlier notes stay in the history) and return it.

        Raises :class:`ReviewValidationError` for a missing id or reviewer, a note over
        ``MAX_NOTE_CHARS`` characters or bad tags (see :func:`normalize_tags`);
        :class:`ReviewStoreError` when the file cannot be written. An empty note without tags is
        allowed: it is how a reviewer clears their note (the history keeps the old one).
        """
        run_id, method, image_id = _image_key(run_id, method, image_id)
        reviewer = check_reviewer(reviewer)
        text = check_note(note)
        clean_tags = normalize_tags(tags)
        key = (run_id, method, image_id, reviewer)

        def insert(conn: sqlite3.Connection) -> Review:
            now = _now()
            first = conn.execute(
                "SELECT created_at FROM reviews WHERE run_id=? AND method=? AND image_id=? "
                "AND reviewer=? ORDER BY id LIMIT 1",
                key,
            ).fetchone()
            created = first[0] if first else now
            cur = conn.execute(
                "INSERT INTO reviews (run_id, method, image_id, reviewer, note, tags, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, text, json.dumps(list(clean_tags)), created, now),
            )
            return Review(int(cur.lastrowid), *key, text, clean_tags, created, now)

        return self._write("saving a note", insert)  # type: ignore[return-value]

    def merge(self, records: Iterable[Mapping]) -> int:
        """Add notes saved elsewhere (another machine, a restored backup) and return how many
        were new.

        Each record is a mapping with ``run_id``, ``method``, ``image_id``, ``reviewer``,
        ``note``, ``tags``, ``created_at`` and ``updated_at`` (as :meth:`Review.to_dict` gives;
        ``id`` is ignored). A record equal to a stored row in all of these is skipped, so merging
        the same records again adds nothing. Records that fail validation are skipped with a
        warning. When merged notes are older than stored ones, the ids are renumbered in time
        order (``updated_at``, then the old id) so that each reviewer's newest note stays "the"
        note: ids are not stable across a merge.
        """
        rows: list[tuple] = []
        bad = 0
        for rec in records:
            try:
                rows.append(_record_row(rec))
            except (ReviewValidationError, KeyError, TypeError, ValueError, AttributeError):
                bad += 1
        if bad:
            warnings.warn(f"Skipped {bad} unreadable review record(s) while merging.", stacklevel=2)
        if not rows:
            return 0

        def insert(conn: sqlite3.Connection) -> int:
            have = set(conn.execute(f"SELECT {_MERGE_COLS} FROM reviews"))
            newest = conn.execute("SELECT MAX(updated_at) FROM reviews").fetchone()[0]
            new = []
            for row in sorted(rows, key=lambda r: (r[7], r[6])):
                if row not in have:
                    have.add(row)
                    new.append(row)
            conn.executemany(
                f"INSERT INTO reviews ({_MERGE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", new
            )
            if new and newest is not None and min(r[7] for r in new) < newest:
                # Older notes arrived: renumber so that id order is time order again.
                conn.execute(
                    "CREATE TEMP TABLE merge_order AS SELECT ROW_NUMBER() OVER "
                    f"(ORDER BY updated_at, id) AS new_id, {_MERGE_COLS} FROM reviews"
                )
                conn.execute("DELETE FROM reviews")
                conn.execute(
                    f"INSERT INTO reviews (id, {_MERGE_COLS}) "
                    f"SELECT new_id, {_MERGE_COLS} FROM merge_order"
                )
                conn.execute("DROP TABLE merge_order")
            return len(new)

        return self._write("merging notes", insert)  # type: ignore[return-value]

    # -- reading

    def _query(self, sql: str, args: tuple, doing: str) -> list[Review]:
        with self._reading(doing) as conn:
            return [_row_to_review(r) for r in conn.execute(sql, args).fetchall()]

    def latest(
        self,
        run_id: str,
        method: str,
        image_id: str,
        *,
        reviewer: str | None = None,
    ) -> list[Review]:
        """Each reviewer's newest note on one image, oldest first (or only ``reviewer``'s)."""
        args: tuple = _image_key(run_id, method, image_id)
        extra = ""
        if reviewer is not None:
            extra, args = " AND reviewer=?", (*args, check_reviewer(reviewer))
        return self._query(
            f"{_SELECT} WHERE id IN (SELECT MAX(id) FROM reviews WHERE run_id=? AND method=? "
            f"AND image_id=?{extra} GROUP BY reviewer) ORDER BY id",
            args,
            "reading notes",
        )

    def history(
        self,
        run_id: str,
        method: str,
        image_id: str,
        *,
        reviewer: str | None = None,
    ) -> list[Review]:
        """Every saved version of the notes on one image (optionally one reviewer's), oldest first."""
        args: tuple = _image_key(run_id, method, image_id)
        extra = ""
        if reviewer is not None:
            extra, args = " AND reviewer=?", (*args, check_reviewer(reviewer))
        return self._query(
            f"{_SELECT} WHERE run_id=? AND method=? AND image_id=?{extra} ORDER BY id",
            args,
            "reading the history",
        )

    def for_run(
        self,
        run_id: str,
        method: str | None = None,
        *,
        latest_only: bool = True,
    ) -> list[Review]:
        """Notes of a run (optionally one method), ordered by method, image and time.

        ``latest_only`` (default) keeps each reviewer's newest note per image; False returns the
        full history.
        """
        where, args = "run_id=?", (check_id(run_id, "run id"),)
        if method is not None:
            where, args = where + " AND method=?", (*args, check_id(method, "method"))
        return self._select(where, args, latest_only, "reading the run's notes")

    def _select(self, where: str, args: tuple, latest_only: bool, doing: str) -> list[Review]:
        if latest_only:
            where = (
                f"id IN (SELECT MAX(id) FROM reviews WHERE {where} "
                "GROUP BY run_id, method, image_id, reviewer)"
            )
        return self._query(
            f"{_SELECT} WHERE {where} ORDER BY run_id, method, image_id, id", args, doing
        )

    def all(self, run_id: str | None = None, *, latest_only: bool = False) -> list[Review]:
        """Every note (optionally of one run), full history by default."""
        where, args = ("run_id=?", (run_id,)) if run_id is not None else ("1", ())
        return self._select(where, args, latest_only, "reading notes")

    def count(self) -> int:
        """Number of saved rows (history included)."""
        with self._reading("counting notes") as conn:
            return int(conn.execute("SELECT COUNT(*) FROM reviews").fetchone()[0])

    def tag_counts(
        self,
        run_id: str | None = None,
        method: str | None = None,
        *,
        latest_only: bool = True,
    ) -> dict[str, int]:
        """How many notes carry each tag, most used first (ties alphabetical).

        By default only each reviewer's newest note per image counts, so revising a note does
        not count its tags twice; ``latest_only=False`` counts the whole history.
        """
        clauses, args = [], ()
        if run_id is not None:
            clauses.append("run_id=?")
            args = (*args, run_id)
        if method is not None:
            clauses.append("method=?")
            args = (*args, method)
        where = " AND ".join(clauses) or "1"
        counts: Counter[str] = Counter()
        for review in self._select(where, args, latest_only, "counting tags"):
            counts.update(review.tags)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    # -- export

    def export_csv(
        self,
        path_or_buffer: str | os.PathLike | IO[str],
        run_id: str | None = None,
        *,
        latest_only: bool = False,
    ) -> int:
        """Write notes as CSV (columns :data:`CSV_COLUMNS`, tags joined by ``"; "``) and return
        the number of data rows. Full history by default; ``latest_only`` keeps each reviewer's
        newest note per image. A path is written atomically (a temporary file, then renamed).

        Cells that a spreadsheet would run as a formula (starting with ``= + - @``) get a
        leading apostrophe.
        """
        reviews = self.all(run_id, latest_only=latest_only)
        if hasattr(path_or_buffer, "write"):
            _write_csv(path_or_buffer, reviews)  # type: ignore[arg-type]
            return len(reviews)
        target = Path(path_or_buffer).expanduser()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".reviews-", suffix=".csv", dir=target.parent)
        except OSError as exc:
            raise ReviewStoreError(
                f"Cannot write the CSV export {target}: {exc.strerror or exc}."
            ) from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                _write_csv(fh, reviews)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(reviews)

    def export_csv_text(self, run_id: str | None = None, *, latest_only: bool = False) -> str:
        """The CSV export as a string (for a download button)."""
        buf = io.StringIO()
        self.export_csv(buf, run_id, latest_only=latest_only)
        return buf.getvalue()


def _safe_cell(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _write_csv(fh: IO[str], reviews: list[Review]) -> None:
    writer = csv.writer(fh)
    writer.writerow(CSV_COLUMNS)
    for r in reviews:
        row = r.to_dict()
        row["tags"] = "; ".join(r.tags)
        writer.writerow([_safe_cell(row[c]) for c in CSV_COLUMNS])
