"""EBB! ("Everything is Better with Bokeh!") pairs, and any folder in the same layout.

Layouts understood (``root`` is the folder you point at; one level of nesting is searched):

``released``  ``Training/original/{i}.jpg`` and ``Training/bokeh/{i}.jpg``, ids 0..4693, as in the
              released training archive. Named splits use these ids: ``train`` (0..4399),
              ``val294`` (4400..4693, the community holdout), ``holdout100`` (4400..4499, the
              stand-in for the paper's unpublished 100-image holdout) and ``all`` (every id found).
              Pointing at the ``Training`` folder itself also works.
``pynet``     ``{train,test}/{original,bokeh}/{i}.jpg`` (the PyNET-Bokeh layout). Ids restart at 0
              in each folder, so only the splits ``train``, ``test`` and ``all`` exist there, and
              item keys are ``"train/12"``, ``"test/3"``. Its ``original_depth`` maps (predicted, not
              ground truth) are not loaded.
``synth``     the layout written by :mod:`bokeh.data.synth`: the released layout plus
              ``depth/{i}.png`` and ``metadata.json``, which lists the ids of each split
              (``train``, ``holdout``) and the focus point and focus disparity of every scene.

Images may be ``.jpg``, ``.jpeg`` or ``.png`` (the synthetic set is lossless PNG).

Where the data comes from (:func:`find_ebb_root`): the ``root`` argument, else the ``EBB_ROOT``
environment variable, else a Hugging Face *dataset* repo named by ``BOKEH_EBB_REPO`` (revision
``BOKEH_EBB_REVISION``, default ``main``), fetched with ``snapshot_download`` into the usual Hub
cache. With ``HF_HUB_OFFLINE=1`` only a cached snapshot is used. Anything missing raises
:class:`~bokeh.errors.DatasetNotFoundError` with a sentence saying what to do.

Policies:

* **Missing pair** (either image of a requested id absent): ``missing="error"`` (default) raises
  :class:`~bokeh.errors.DatasetNotFoundError` at construction, naming the ids; ``missing="skip"``
  warns once with the ids, leaves them out, and lists them in :attr:`PairDataset.missing_ids`
  so an evaluation can report them.
* **Unreadable pair** (a file that exists but does not decode): ``dataset[k]`` raises
  :class:`~bokeh.errors.ImageReadError` naming the id and file. Iterating a ``missing="skip"``
  dataset skips it with a warning and records the id in :attr:`PairDataset.unreadable_ids`.
* **Size mismatch** between ``original`` and ``bokeh``: when each side differs by at most
  ``mismatch_tolerance`` (default 2 %) of the larger image, both are cropped to the common
  top-left region (the pairs are registered at the top-left corner); a larger difference raises
  :class:`~bokeh.errors.ImageReadError` naming the id and both sizes.
* **Resizing**: ``size=(w, h)`` resizes both images (PIL bicubic, antialiased when shrinking) and
  the depth map (bilinear) after the mismatch crop; the focus point is scaled with them. EXIF
  orientation is ignored: pairs are used as stored, like every published EBB! evaluation.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import huggingface_hub
import numpy as np
from PIL import Image

from bokeh.data.real import read_rgb
from bokeh.errors import DatasetNotFoundError, ImageReadError

EBB_NUM_PAIRS = 4694
EBB_SPLITS: dict[str, range] = {
    "train": range(0, 4400),
    "val294": range(4400, 4694),
    "holdout100": range(4400, 4500),
}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")  # preference order when an id has several
SYNTH_GENERATOR = "bokeh.data.synth"
METADATA_FILE = "metadata.json"

_NAME_RE = re.compile(r"^(\d+)\.(png|jpe?g)$", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class BokehPair:
    """One (original, bokeh) pair.

    ``original``/``bokeh``: uint8 HxWx3 RGB, same shape. ``depth``: float32 HxW normalised
    disparity in [0, 1] (1 = near) when the dataset carries it (synth), else ``None``.
    ``focus``: (x, y) pixel the bokeh image is focused on and ``focus_disparity`` its disparity,
    when known (synth). ``key`` is unique within the dataset (``"4400"``, ``"test/3"``).
    """

    id: int
    key: str
    original: np.ndarray
    bokeh: np.ndarray
    original_path: Path
    bokeh_path: Path
    depth: np.ndarray | None = None
    depth_path: Path | None = None
    focus: tuple[float, float] | None = None
    focus_disparity: float | None = None


@dataclass(frozen=True)
class _Entry:
    id: int
    key: str
    original: Path
    bokeh: Path
    depth: Path | None = None
    focus: tuple[float, float] | None = None
    focus_disparity: float | None = None


# --------------------------------------------------------------------------- finding the data


def _env_settings() -> dict[str, str | None]:
    """The environment variables this module reads (the only place it reads them)."""
    return {
        "root": os.environ.get("EBB_ROOT") or None,
        "repo": os.environ.get("BOKEH_EBB_REPO") or None,
        "revision": os.environ.get("BOKEH_EBB_REVISION") or "main",
    }


def _fetch_from_hub(repo: str, revision: str) -> Path:
    try:
        return Path(
            huggingface_hub.snapshot_download(repo_id=repo, repo_type="dataset", revision=revision)
        )
    except Exception as exc:  # offline, unknown repo, auth, network: all one message
        raise DatasetNotFoundError(
            f"Could not fetch the EBB! dataset repo {repo!r} (revision {revision!r}) from the "
            f"Hugging Face Hub and no cached copy exists ({type(exc).__name__}); connect to the "
            "network once, or set EBB_ROOT to a local copy."
        ) from None


def find_ebb_root(root: str | os.PathLike | None = None) -> Path:
    """Return the folder holding the dataset: ``root``, else ``EBB_ROOT``, else the Hub repo
    named by ``BOKEH_EBB_REPO`` (downloaded once, then cached).

    Raises :class:`~bokeh.errors.DatasetNotFoundError` when none is given or it does not exist.
    """
    env = _env_settings()
    if root is None and env["root"]:
        root = env["root"]
    if root is not None:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DatasetNotFoundError(f"EBB! dataset folder {str(path)!r} does not exist.")
        return path
    if env["repo"]:
        return _fetch_from_hub(env["repo"], env["revision"] or "main")
    raise DatasetNotFoundError(
        "EBB! dataset not found: pass its folder, set EBB_ROOT to the folder holding "
        "Training/original and Training/bokeh, or set BOKEH_EBB_REPO to a Hugging Face dataset "
        "repo; without it, use the synthetic holdout (bokeh.data.synth.ensure_holdout())."
    )


def _is_pair_dir(path: Path) -> bool:
    return (path / "original").is_dir() and (path / "bokeh").is_dir()


def _read_metadata(root: Path) -> dict[str, Any] | None:
    meta_path = root / METADATA_FILE
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetNotFoundError(f"{meta_path} is not readable JSON ({exc}).") from None
    return meta if isinstance(meta, dict) and meta.get("generator") == SYNTH_GENERATOR else None


def _match_layout(path: Path) -> tuple[str, Path] | None:
    if _is_pair_dir(path / "Training"):
        return ("synth" if _read_metadata(path) is not None else "released"), path
    if _is_pair_dir(path / "train") or _is_pair_dir(path / "test"):
        return "pynet", path
    if _is_pair_dir(path) and path.name.lower() == "training":
        # pointed at Training/ itself; the synth metadata lives one level up
        if _read_metadata(path.parent) is not None:
            return "synth", path.parent
        return "released", path.parent
    if _is_pair_dir(path):
        return "flat", path
    return None


def detect_layout(root: str | os.PathLike) -> tuple[str, Path]:
    """Return ``(layout, base)`` for the folder ``root``: layout is ``"released"``, ``"pynet"``,
    ``"synth"`` or ``"flat"`` (``original/`` and ``bokeh/`` directly inside, released numbering);
    ``base`` is the folder the layout is relative to (``root`` or one folder inside it).

    Raises :class:`~bokeh.errors.DatasetNotFoundError` naming the expected folders otherwise.
    """
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetNotFoundError(f"Dataset folder {str(path)!r} does not exist.")
    found = _match_layout(path)
    if found:
        return found
    matches = []
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        sub = _match_layout(child)
        if sub:
            matches.append(sub)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(str(m[1]) for m in matches)
        raise DatasetNotFoundError(
            f"{str(path)!r} holds several datasets ({names}); point at one of them."
        )
    raise DatasetNotFoundError(
        f"{str(path)!r} is not an EBB!-style dataset: expected Training/original and "
        "Training/bokeh (released archive), train|test/original and train|test/bokeh (PyNET), "
        "or original/ and bokeh/ folders of {id}.jpg or {id}.png images."
    )


# --------------------------------------------------------------------------- indexing


def _index_dir(folder: Path) -> dict[int, Path]:
    """id -> file for the ``{id}.png|jpg|jpeg`` files in ``folder`` (PNG preferred)."""
    found: dict[int, Path] = {}
    if not folder.is_dir():
        return found
    rank = {ext: i for i, ext in enumerate(IMAGE_EXTENSIONS)}
    for entry in os.scandir(folder):
        m = _NAME_RE.match(entry.name)
        if not m:
            continue
        i = int(m.group(1))
        ext = "." + m.group(2).lower()
        prev = found.get(i)
        if prev is None or rank[ext] < rank[prev.suffix.lower()]:
            found[i] = Path(entry.path)
    return found


def _format_ids(ids: Sequence[int], limit: int = 12) -> str:
    """Compact id list: ``4400-4410, 4512`` (ranges joined, long lists cut)."""
    ids = sorted(ids)
    parts: list[str] = []
    start = prev = None
    for i in [*ids, None]:
        if start is not None and (i is None or i != prev + 1):
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if i is not None and start is None:
            start = i
        prev = i
    text = ", ".join(parts[:limit])
    return text + (f", ... ({len(ids)} ids)" if len(parts) > limit else "")


def _check_split_name(split: str, available: Sequence[str], layout: str) -> None:
    if split in available:
        return
    hint = ""
    if layout == "pynet" and split in EBB_SPLITS:
        hint = (
            " The PyNET layout renumbers images from 0 in each folder, so the released-id splits "
            "(train 0..4399, val294, holdout100) cannot be located in it."
        )
    raise DatasetNotFoundError(
        f"Unknown split {split!r} for this {layout} dataset; available: "
        f"{', '.join(available)}.{hint}"
    )


def _collect(
    base: Path, layout: str, split: str, meta: dict[str, Any] | None
) -> tuple[list[_Entry], list[str]]:
    """Entries for ``split`` and the keys of requested pairs that are missing a file."""
    entries: list[_Entry] = []
    missing: list[str] = []

    def add(folder: Path, ids: Sequence[int] | None, prefix: str = "", **extra: Any) -> None:
        orig, bok = _index_dir(folder / "original"), _index_dir(folder / "bokeh")
        wanted = sorted(set(orig) | set(bok)) if ids is None else list(ids)
        for i in wanted:
            key = f"{prefix}{i}"
            if i in orig and i in bok:
                kwargs = {k: f(i) for k, f in extra.items()}
                entries.append(_Entry(i, key, orig[i], bok[i], **kwargs))
            else:
                missing.append(key)

    if layout == "pynet":
        _check_split_name(split, ("train", "test", "all"), layout)
        for sub in ("train", "test"):
            if split in (sub, "all"):
                add(base / sub, None, prefix=f"{sub}/")
        return entries, missing

    if layout == "synth":
        assert meta is not None
        splits = {k: [int(i) for i in v] for k, v in dict(meta.get("splits", {})).items()}
        all_ids = sorted({i for ids in splits.values() for i in ids})
        _check_split_name(split, [*splits, "all"], layout)
        ids = all_ids if split == "all" else splits[split]
        scenes = {int(s["id"]): s for s in meta.get("scenes", [])}
        depth_dir = base / "depth"

        def focus(i: int) -> tuple[float, float] | None:
            f = scenes.get(i, {}).get("focus")
            return (float(f[0]), float(f[1])) if f else None

        def focus_d(i: int) -> float | None:
            v = scenes.get(i, {}).get("focus_disparity")
            return None if v is None else float(v)

        def depth(i: int) -> Path | None:
            p = depth_dir / f"{i}.png"
            return p if p.is_file() else None

        add(base / "Training", ids, depth=depth, focus=focus, focus_disparity=focus_d)
        return entries, missing

    folder = base if layout == "flat" else base / "Training"
    _check_split_name(split, [*EBB_SPLITS, "all"], layout)
    add(folder, None if split == "all" else EBB_SPLITS[split])
    return entries, missing


# --------------------------------------------------------------------------- reading


def _read_depth(path: Path, key: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            raw = np.asarray(im)
    except Exception as exc:
        raise ImageReadError(
            f"Pair {key}: the depth map {str(path)!r} could not be read ({exc})."
        ) from None
    if raw.ndim != 2:
        raise ImageReadError(f"Pair {key}: the depth map {str(path)!r} is not single-channel.")
    scale = 65535.0 if raw.dtype == np.uint16 else 255.0
    return (raw.astype(np.float32) / np.float32(scale)).astype(np.float32)


def _reconcile(a: np.ndarray, b: np.ndarray, key: str, tol: float) -> tuple[np.ndarray, np.ndarray]:
    if a.shape == b.shape:
        return a, b
    (ha, wa), (hb, wb) = a.shape[:2], b.shape[:2]
    if abs(ha - hb) > tol * max(ha, hb) or abs(wa - wb) > tol * max(wa, wb):
        raise ImageReadError(
            f"Pair {key}: original is {wa}x{ha} but bokeh is {wb}x{hb}, more than "
            f"{tol:.0%} apart; the pair cannot be compared."
        )
    h, w = min(ha, hb), min(wa, wb)
    return a[:h, :w], b[:h, :w]


def _resize_rgb(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (img.shape[1], img.shape[0]) == size:
        return img
    return np.asarray(Image.fromarray(img).resize(size, resample=Image.Resampling.BICUBIC))


def _resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (depth.shape[1], depth.shape[0]) == size:
        return depth
    out = Image.fromarray(depth.astype(np.float32), mode="F").resize(
        size, resample=Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


class PairDataset(Sequence[BokehPair]):
    """Lazy sequence of :class:`BokehPair`: files are listed at construction and read on
    ``dataset[k]``. See the module docstring for layouts, splits and policies.

    Parameters
    ----------
    root : folder of the dataset; ``None`` uses ``EBB_ROOT`` or ``BOKEH_EBB_REPO``.
    split : ``"all"``, ``"train"``, ``"val294"``, ``"holdout100"`` (released layout);
        ``"train"``, ``"test"``, ``"all"`` (PyNET); the names in ``metadata.json`` (synth).
    size : optional ``(width, height)`` to resize every item to.
    missing : ``"error"`` or ``"skip"``: what to do with requested ids that lack a file.
    mismatch_tolerance : largest relative size difference cropped away (default 0.02).
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "all",
        *,
        size: tuple[int, int] | None = None,
        missing: Literal["error", "skip"] = "error",
        mismatch_tolerance: float = 0.02,
    ) -> None:
        if missing not in ("error", "skip"):
            raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
        if size is not None:
            if len(size) != 2 or min(int(size[0]), int(size[1])) < 1:
                raise ValueError(f"size must be (width, height) with positive ints, got {size!r}")
            size = (int(size[0]), int(size[1]))
        if not 0.0 <= mismatch_tolerance < 1.0:
            raise ValueError("mismatch_tolerance must be in [0, 1)")
        self.layout, self.root = detect_layout(find_ebb_root(root))
        self.metadata = _read_metadata(self.root) if self.layout == "synth" else None
        self.split = split
        self.size = size
        self.missing = missing
        self.mismatch_tolerance = float(mismatch_tolerance)
        entries, missing_keys = _collect(self.root, self.layout, split, self.metadata)
        self.missing_ids: tuple[str, ...] = tuple(missing_keys)
        self.unreadable_ids: list[str] = []
        if missing_keys:
            shown = _describe_keys(missing_keys)
            if missing == "error" or not entries:
                raise DatasetNotFoundError(
                    f"{len(missing_keys)} pair(s) of split {split!r} are missing a file under "
                    f"{str(self.root)!r}: ids {shown}."
                    + (" Pass missing='skip' to leave them out." if entries else "")
                )
            warnings.warn(
                f"Skipping {len(missing_keys)} pair(s) of split {split!r} with a missing file: "
                f"ids {shown}.",
                stacklevel=2,
            )
        if not entries:
            raise DatasetNotFoundError(
                f"Split {split!r} of {str(self.root)!r} holds no image pairs."
            )
        self._entries = entries

    # -- Sequence protocol
    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._load(self._entries[index])

    def __iter__(self) -> Iterator[BokehPair]:
        for entry in self._entries:
            try:
                yield self._load(entry)
            except ImageReadError as exc:
                if self.missing == "error":
                    raise
                warnings.warn(f"Skipping unreadable pair: {exc}", stacklevel=2)
                self.unreadable_ids.append(entry.key)

    def __repr__(self) -> str:
        return (
            f"PairDataset(root={str(self.root)!r}, layout={self.layout!r}, split={self.split!r}, "
            f"n={len(self)}, missing={len(self.missing_ids)})"
        )

    @property
    def ids(self) -> list[int]:
        """File ids in order (unique except in the PyNET layout's ``all``; see :attr:`keys`)."""
        return [e.id for e in self._entries]

    @property
    def keys(self) -> list[str]:
        """Unique item keys in order (``"4400"``; ``"test/3"`` in the PyNET layout)."""
        return [e.key for e in self._entries]

    @property
    def name(self) -> str:
        """Short dataset name for reports: ``ebb``, ``ebb-pynet`` or ``synth``."""
        return {"released": "ebb", "flat": "ebb", "pynet": "ebb-pynet"}.get(self.layout, "synth")

    def _load(self, entry: _Entry) -> BokehPair:
        original = read_rgb(entry.original, "original image", entry.key)
        bokeh = read_rgb(entry.bokeh, "bokeh image", entry.key)
        original, bokeh = _reconcile(original, bokeh, entry.key, self.mismatch_tolerance)
        h, w = original.shape[:2]
        depth = None
        if entry.depth is not None:
            depth = _read_depth(entry.depth, entry.key)
            if depth.shape[0] < h or depth.shape[1] < w:
                raise ImageReadError(
                    f"Pair {entry.key}: depth map is {depth.shape[1]}x{depth.shape[0]}, "
                    f"smaller than the {w}x{h} images."
                )
            depth = depth[:h, :w]
        focus = entry.focus
        if self.size is not None:
            sw, sh = self.size
            original, bokeh = _resize_rgb(original, self.size), _resize_rgb(bokeh, self.size)
            if depth is not None:
                depth = _resize_depth(depth, self.size)
            if focus is not None:
                # pixel centres scale about the image corner at -0.5
                focus = ((focus[0] + 0.5) * sw / w - 0.5, (focus[1] + 0.5) * sh / h - 0.5)
        return BokehPair(
            id=entry.id,
            key=entry.key,
            original=original,
            bokeh=bokeh,
            original_path=entry.original,
            bokeh_path=entry.bokeh,
            depth=depth,
            depth_path=entry.depth,
            focus=focus,
            focus_disparity=entry.focus_disparity,
        )


def _describe_keys(keys: Sequence[str]) -> str:
    if all(k.isdigit() for k in keys):
        return _format_ids([int(k) for k in keys])
    shown = ", ".join(keys[:12])
    return shown + (f", ... ({len(keys)} ids)" if len(keys) > 12 else "")


def load_ebb(
    root: str | os.PathLike | None = None,
    split: str = "all",
    *,
    size: tuple[int, int] | None = None,
    missing: Literal["error", "skip"] = "error",
    mismatch_tolerance: float = 0.02,
) -> PairDataset:
    """Open an EBB!-layout dataset (released, PyNET or synth); see :class:`PairDataset`."""
    return PairDataset(
        root, split, size=size, missing=missing, mismatch_tolerance=mismatch_tolerance
    )
