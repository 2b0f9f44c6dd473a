"""Where evaluation results are mirrored (:mod:`eval.persist` decides what and when): a Hugging
Face dataset repo (:class:`HubMirror`) or a folder (:class:`LocalMirror`).

Layout of the mirror (that of the results directory, see :mod:`eval.store`)::

    runs/<run_id>/run.json, rows.jsonl, per_image.csv, summary.csv
    runs/<run_id>/outputs/<method>/<id>.png   the outputs the Review tab shows (small PNGs;
                                              BOKEH_RESULTS_PUSH_IMAGES=0 leaves them out)
    reviews.jsonl                             every saved note, history included, oldest first

Never pushed: the evaluation lock, temporary files, the SQLite file itself (its notes travel as
``reviews.jsonl``, which merges cleanly) and outputs that no line of ``rows.jsonl`` names yet.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from bokeh.errors import BokehError
from eval.review import CSV_COLUMNS

COMMIT_MAX_FILES = 100  # files per Hub commit (the Hub's advice for HTTP commits)
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")

REVIEWS_FILE = "reviews.jsonl"
RUN_FILES = ("run.json", "rows.jsonl", "per_image.csv", "summary.csv")
_NAME = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}"  # one path part; never "." or ".." or hidden
RUN_PATH = re.compile(
    rf"runs/(?P<run>{_NAME})/(?:run\.json|rows\.jsonl|per_image\.csv|summary\.csv"
    rf"|outputs/{_NAME}/{_NAME}\.png)"
)
RUN_ID = re.compile(_NAME)
_REVIEW_FIELDS = CSV_COLUMNS[1:]  # a review without its local row id


def safe_rel(rel: str) -> bool:
    """A relative POSIX path without empty, hidden, ``.`` or ``..`` parts."""
    if not rel or rel.startswith("/") or "\\" in rel:
        return False
    return all(part and not part.startswith(".") for part in rel.split("/"))


class Mirror(Protocol):
    """Where results are mirrored. Paths are POSIX, relative to the mirror's root."""

    def describe(self) -> str:
        """For people: ``"the Hub dataset owner/name"``."""

    def list_files(self) -> list[str]:
        """Every file in the mirror (empty when it does not exist yet)."""

    def upload(self, files: Sequence[tuple[str, bytes | Path]], message: str) -> None:
        """Write each ``(path, content or local file)``; files listed last land last."""

    def download(self, paths: Sequence[str], dest: Path) -> None:
        """Copy each path to ``dest / path``."""


class LocalMirror:
    """A folder as the mirror (self-hosting, tests). Each file is written atomically."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).expanduser()

    def __repr__(self) -> str:
        return f"LocalMirror({str(self.folder)!r})"

    def describe(self) -> str:
        return f"the folder {self.folder}"

    def _path(self, rel: str) -> Path:
        if not safe_rel(rel):
            raise BokehError(f"Refusing the mirror path {rel!r}.")
        return self.folder / rel

    def list_files(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in self.folder.rglob("*"):
            rel = path.relative_to(self.folder).as_posix()
            if path.is_file() and safe_rel(rel):
                out.append(rel)
        return sorted(out)

    def upload(self, files: Sequence[tuple[str, bytes | Path]], message: str) -> None:
        for rel, src in files:
            target = self._path(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    if isinstance(src, bytes):
                        fh.write(src)
                    else:
                        with open(src, "rb") as inp:
                            shutil.copyfileobj(inp, fh)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def download(self, paths: Sequence[str], dest: Path) -> None:
        for rel in paths:
            target = Path(dest) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._path(rel), target)


class HubMirror:
    """A Hugging Face dataset repo as the mirror, through ``huggingface_hub.HfApi``.

    Args:
        repo_id: ``owner/name`` of a dataset repo; created (``private``) on the first upload
            when missing.
        token: passed to every call; None lets huggingface_hub find its own (``HF_TOKEN``,
            a saved login). Never logged or shown.
        api: an ``HfApi``-like object (tests pass a stand-in); calls used: ``create_repo``,
            ``create_commit``, ``list_repo_files``, ``snapshot_download``.
    """

    def __init__(
        self, repo_id: str, *, token: str | None = None, api=None, private: bool = True
    ) -> None:
        self.repo_id = repo_id
        self.token = token
        self.private = private
        self._api = api
        self._created = False

    def __repr__(self) -> str:  # no token here
        return f"HubMirror({self.repo_id!r})"

    def describe(self) -> str:
        return f"the Hub dataset {self.repo_id}"

    @property
    def api(self):
        if self._api is None:
            self._api = HfApi()
        return self._api

    def list_files(self) -> list[str]:
        try:
            return list(
                self.api.list_repo_files(self.repo_id, repo_type="dataset", token=self.token)
            )
        except RepositoryNotFoundError:
            return []

    def upload(self, files: Sequence[tuple[str, bytes | Path]], message: str) -> None:
        if not self._created:
            self.api.create_repo(
                self.repo_id,
                repo_type="dataset",
                private=self.private,
                exist_ok=True,
                token=self.token,
            )
            self._created = True
        chunks = [files[k : k + COMMIT_MAX_FILES] for k in range(0, len(files), COMMIT_MAX_FILES)]
        for k, chunk in enumerate(chunks, 1):
            ops = [
                CommitOperationAdd(
                    path_in_repo=rel, path_or_fileobj=src if isinstance(src, bytes) else str(src)
                )
                for rel, src in chunk
            ]
            suffix = f" ({k}/{len(chunks)})" if len(chunks) > 1 else ""
            self.api.create_commit(
                self.repo_id,
                ops,
                commit_message=message + suffix,
                repo_type="dataset",
                token=self.token,
            )

    def download(self, paths: Sequence[str], dest: Path) -> None:
        if not paths:
            return
        # One pattern per folder (an exact pattern per file would cost files x patterns
        # matches in huggingface_hub), then drop whatever else those patterns brought.
        wanted = set(paths)
        patterns = sorted({p.rsplit("/", 1)[0] + "/*" if "/" in p else p for p in wanted})
        self.api.snapshot_download(
            self.repo_id,
            repo_type="dataset",
            allow_patterns=patterns,
            local_dir=str(dest),
            token=self.token,
        )
        for path in Path(dest).rglob("*"):
            rel = path.relative_to(dest).as_posix()
            if path.is_file() and rel not in wanted and not rel.startswith(".cache/"):
                path.unlink()


def mirror_for(spec: str, *, token: str | None = None) -> Mirror:
    """The mirror a ``BOKEH_RESULTS_REPO`` value names: ``file:///abs/path`` or ``/abs/path``
    (a folder), ``owner/name`` (also ``datasets/owner/name`` or its huggingface.co URL: a Hub
    dataset repo). Anything else raises BokehError."""
    spec = spec.strip()
    if spec.startswith("file://"):
        path = unquote(urlparse(spec).path)
        if not path or not os.path.isabs(path):
            raise BokehError(f"BOKEH_RESULTS_REPO {spec[:80]!r} must be file:///absolute/path.")
        return LocalMirror(path)
    if os.path.isabs(spec) or spec.startswith("~"):
        return LocalMirror(spec)
    repo = spec
    for prefix in ("https://huggingface.co/datasets/", "datasets/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix) :]
    repo = repo.strip("/")
    if REPO_ID.fullmatch(repo):
        return HubMirror(repo, token=token)
    raise BokehError(
        f"BOKEH_RESULTS_REPO {spec[:80]!r} is neither a Hub dataset repo id "
        "(owner/name) nor an absolute folder (/path or file:///path)."
    )


# ----------------------------------------------------------------------------- reviews.jsonl


def reviews_to_jsonl(reviews: Iterable) -> bytes:
    """Notes (:class:`eval.review.Review`) as JSON lines, oldest first, without local ids."""
    rows = sorted(reviews, key=lambda r: (r.updated_at, r.id))
    lines = []
    for r in rows:
        d = r.to_dict()
        lines.append(json.dumps({k: d[k] for k in _REVIEW_FIELDS}, ensure_ascii=False))
    return "".join(line + "\n" for line in lines).encode()


def reviews_from_jsonl(data: bytes) -> list[dict]:
    """Records of a ``reviews.jsonl`` (unreadable lines are skipped)."""
    out = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            rec = json.loads(line)
            if isinstance(rec, dict):
                out.append(rec)
    return out


# ----------------------------------------------------------------------------- run files


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def stat_sig(path: Path) -> str:
    st = path.stat()
    return f"stat:{st.st_size}:{st.st_mtime_ns}"


def sig_of_file(rel: str, path: Path) -> str:
    """How a pushed file is remembered: PNG outputs (never rewritten) by size and time, the
    small text files by content."""
    return stat_sig(path) if rel.endswith(".png") else sha(path.read_bytes())


def run_files(root: Path, run_id: str, *, images: bool) -> list[tuple[str, bytes | Path, str]]:
    """(mirror path, content or file, signature) of the files of ``root/runs/run_id`` that go to
    the mirror, text files last; the outputs only with ``images``."""
    run_dir = root / "runs" / run_id
    texts: dict[str, bytes] = {}
    for name in RUN_FILES:  # run.json before rows: rows are then at least as new
        with contextlib.suppress(FileNotFoundError):
            texts[name] = (run_dir / name).read_bytes()
    if "run.json" not in texts:
        return []
    rows = texts.get("rows.jsonl", b"")
    texts["rows.jsonl"] = rows = rows[: rows.rfind(b"\n") + 1]  # whole lines only
    files: list[tuple[str, bytes | Path, str]] = []
    if images:
        for line in rows.splitlines():
            try:
                out = json.loads(line).get("output")
            except (ValueError, AttributeError):
                continue
            rel = f"runs/{run_id}/{out}"
            if isinstance(out, str) and RUN_PATH.fullmatch(rel):
                path = run_dir / out
                with contextlib.suppress(OSError):
                    files.append((rel, path, stat_sig(path)))
    order = ("per_image.csv", "summary.csv", "rows.jsonl", "run.json")
    files += [(f"runs/{run_id}/{n}", texts[n], sha(texts[n])) for n in order if n in texts]
    return files
