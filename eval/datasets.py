"""Datasets an evaluation run can score methods on, behind one uniform item type.

``open_dataset(name, split, root=...)`` returns an :class:`EvalDataset`, a lazy sequence of
:class:`EvalItem` (images are read on access):

``synth``       the project's synthetic bokeh benchmark (:mod:`bokeh.data.synth`). With
                ``root=None`` it is the default holdout (64 scenes at 384x256, split
                ``holdout``), generated on first use into ``data_dir()/synth``; a set made with
                ``python -m bokeh synth`` can be named with ``root=`` (splits ``holdout``,
                ``train`` or ``all``, as its metadata lists). Items carry the true disparity and
                the focus point the ground truth was rendered with, so depth methods also run on
                the true depth ("oracle depth").
``ebb``         EBB! (:mod:`bokeh.data.ebb`): ``root=``, else ``EBB_ROOT``, else the Hugging Face
                dataset repo ``BOKEH_EBB_REPO``. Splits ``val294`` (default, ids 4400..4693, the
                community holdout the published results use), ``holdout100`` (4400..4499, the
                stand-in for the paper's 100 images) and ``train``. Images at native resolution.
                EBB! has no focus annotation: every item is focused at the **image centre**
                ((W - 1) / 2, (H - 1) / 2), the same default the pipelines use, and recorded so.
``vabm``        real pairs in the VABM layout (:mod:`bokeh.data.vabm`; VABD, or EBB! as the VABM
                repository distributes it): ``root=``, else ``<realdata>/vabd``. Splits
                ``all``, ``train``, ``test``, each optionally ``@1.8``, ``@2.8`` or ``@8`` for one
                aperture. Items carry the dataset's depth (decoded from its colour map), the
                focus point of the focal mask, the target's f-number and the input's (16).
``pairs``       a generic folder of real pairs (:mod:`bokeh.data.pairs`); split ``all``.
``motorcycle``  the Middlebury photo with measured disparity that scikit-image ships. It has no
                bokeh ground truth, so it is **not scored**: :data:`SCORED_DATASETS` leaves it
                out and evaluation runs refuse it; it is here for rendering with estimated and
                true depth side by side (``item.gt`` is ``None``).

Images are uint8 RGB (H, W, 3) at the dataset's resolution; depth is float32 (H, W) normalised
disparity in [0, 1] (1 = nearest) or ``None``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bokeh.config import data_dir, realdata_dir
from bokeh.data import ebb
from bokeh.data.ebb import load_ebb
from bokeh.data.pairs import load_pairs
from bokeh.data.real import RealPair, RealPairs
from bokeh.data.synth import (
    HOLDOUT_COUNT,
    HOLDOUT_NAME,
    HOLDOUT_SIZE,
    load_synth,
    motorcycle_sample,
)
from bokeh.data.vabm import load_vabm
from bokeh.errors import BokehError, DatasetNotFoundError
from bokeh.imaging import to_uint8

DATASETS = ("synth", "ebb", "vabm", "pairs", "motorcycle")
SCORED_DATASETS = ("synth", "ebb", "vabm", "pairs")  # those with a bokeh ground truth
REAL_DATASETS = ("ebb", "vabm", "pairs", "motorcycle")  # real photographs, not rendered scenes
DEFAULT_SPLITS = {
    "synth": "holdout",
    "ebb": "val294",
    "vabm": "all",
    "pairs": "all",
    "motorcycle": "all",
}
EBB_INPUT_FNUMBER = 16.0  # EBB!'s inputs are shot at f/16
EBB_SPLIT_NAMES = ("val294", "holdout100", "train")
FOCUS_CENTRE = "image centre (no focus annotation)"


@dataclass(frozen=True, eq=False)
class EvalItem:
    """One evaluation image.

    id: unique within the dataset (``"4400"``; ``"test/3"`` in the PyNET layout).
    input: uint8 (H, W, 3) RGB, the sharp photo. gt: uint8 (H, W, 3) bokeh ground truth, or
    ``None`` (motorcycle). depth: float32 (H, W) normalised disparity (1 = near) or ``None``.
    focus: (x, y) in pixels, always set: the annotated focus point, else the image centre
    (``focus_source`` says which).
    """

    id: str
    input: np.ndarray
    gt: np.ndarray | None
    input_path: Path | None
    gt_path: Path | None
    depth: np.ndarray | None
    focus: tuple[float, float]
    focus_source: str = "annotation"
    fnumber: float | None = None  # the target's f-number, when the dataset knows it
    input_fnumber: float | None = None  # the input's f-number, when it has a depth of field


def centre_of(image: np.ndarray) -> tuple[float, float]:
    """The centre pixel (x, y) of an (H, W, ...) image, as the pipelines define it."""
    h, w = image.shape[:2]
    return (w - 1) / 2, (h - 1) / 2


@dataclass
class EvalDataset(Sequence[EvalItem]):
    """A lazy, indexable sequence of :class:`EvalItem` (see the module docstring).

    Attributes: ``name`` (synth/ebb/motorcycle), ``split``, ``root`` (folder, or ``None``),
    ``has_depth`` (items carry true depth), ``scorable`` (items carry a ground truth),
    ``description`` (for people), ``provenance`` (JSON-ready facts for a run's record).
    """

    name: str
    split: str
    root: Path | None
    has_depth: bool
    scorable: bool
    description: str
    provenance: dict[str, Any] = field(default_factory=dict)
    _source: Any = None  # a PairDataset, or a list of ready items
    _index: list[int] = field(default_factory=list)

    # -- Sequence protocol
    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, k):  # type: ignore[override]
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        return self._load(self._index[k])

    def __iter__(self) -> Iterator[EvalItem]:
        for i in range(len(self)):
            yield self[i]

    @property
    def ids(self) -> list[str]:
        """Item ids in order, without reading any image."""
        if isinstance(self._source, list):
            return [self._source[i].id for i in self._index]
        keys = self._source.keys
        return [keys[i] for i in self._index]

    def select(self, ids: Sequence[str]) -> EvalDataset:
        """The items with these ids, in the given order; unknown ids raise
        :class:`~bokeh.errors.DatasetNotFoundError` naming them."""
        pos = {key: i for key, i in zip(self.ids, self._index, strict=True)}
        missing = [str(i) for i in ids if str(i) not in pos]
        if missing:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise DatasetNotFoundError(
                f"{len(missing)} image(s) of {self.name}/{self.split} are no longer in the "
                f"dataset: ids {shown}."
            )
        return self._with_index([pos[str(i)] for i in ids])

    def head(self, limit: int | None) -> EvalDataset:
        """The first ``limit`` items (all when ``limit`` is None)."""
        if limit is None:
            return self
        return self._with_index(self._index[: max(0, int(limit))])

    def _with_index(self, index: list[int]) -> EvalDataset:
        return EvalDataset(
            self.name,
            self.split,
            self.root,
            self.has_depth,
            self.scorable,
            self.description,
            dict(self.provenance),
            self._source,
            list(index),
        )

    @property
    def real(self) -> bool:
        """Real photographs (not the synthetic benchmark)."""
        return self.name in REAL_DATASETS

    def _load(self, i: int) -> EvalItem:
        if isinstance(self._source, list):
            return self._source[i]
        pair = self._source[i]
        if isinstance(pair, RealPair):
            return EvalItem(
                id=pair.key,
                input=pair.input,
                gt=pair.target,
                input_path=pair.input_path,
                gt_path=pair.target_path,
                depth=pair.depth,
                focus=pair.focus,
                focus_source=pair.focus_source,
                fnumber=pair.fnumber,
                input_fnumber=pair.input_fnumber,
            )
        if pair.focus is not None:
            focus, how = (float(pair.focus[0]), float(pair.focus[1])), "annotation"
        else:
            focus, how = centre_of(pair.original), FOCUS_CENTRE
        return EvalItem(
            id=pair.key,
            input=pair.original,
            gt=pair.bokeh,
            input_path=pair.original_path,
            gt_path=pair.bokeh_path,
            depth=pair.depth,
            focus=focus,
            focus_source=how,
            input_fnumber=EBB_INPUT_FNUMBER if self.name == "ebb" else None,
        )


def _from_pairs(name: str, pairs, split: str, description: str) -> EvalDataset:
    meta = pairs.metadata or {}
    provenance: dict[str, Any] = {
        "dataset": name,
        "split": split,
        "root": str(pairs.root),
        "layout": pairs.layout,
        "n_images": len(pairs),
    }
    if meta.get("content_sha256"):
        provenance["content_sha256"] = meta["content_sha256"]
    if meta.get("args"):
        provenance["generator_args"] = meta["args"]
    if pairs.layout != "synth":
        provenance["focus"] = FOCUS_CENTRE
    return EvalDataset(
        name=name,
        split=split,
        root=Path(pairs.root),
        has_depth=pairs.layout == "synth",
        scorable=True,
        description=description,
        provenance=provenance,
        _source=pairs,
        _index=list(range(len(pairs))),
    )


def _from_real(pairs: RealPairs) -> EvalDataset:
    return EvalDataset(
        name=pairs.name,
        split=pairs.split,
        root=Path(pairs.root),
        has_depth=pairs.has_depth,
        scorable=True,
        description=pairs.description,
        provenance=dict(pairs.provenance),
        _source=pairs,
        _index=list(range(len(pairs))),
    )


def _real(name: str, split: str, root) -> EvalDataset:
    if name == "pairs":
        if root is None:
            raise DatasetNotFoundError("The paired-folder dataset needs its folder (--root DIR).")
        return _from_real(load_pairs(root, split))
    if root is None:
        root = realdata_dir() / "vabd"
        if not root.is_dir():
            raise DatasetNotFoundError(
                f"No VABM-layout folder given and none at {root}; pass --root DIR."
            )
    return _from_real(load_vabm(root, split))


def _motorcycle() -> EvalDataset:
    s = motorcycle_sample()
    item = EvalItem(
        id=s.name,
        input=to_uint8(s.image),
        gt=None,
        input_path=None,
        gt_path=None,
        depth=np.asarray(s.disparity),
        focus=(float(s.focus[0]), float(s.focus[1])),
    )
    return EvalDataset(
        name="motorcycle",
        split="all",
        root=None,
        has_depth=True,
        scorable=False,
        description=f"{s.source}: real measured depth, no bokeh ground truth (not scored)",
        provenance={"dataset": "motorcycle", "split": "all", "source": s.source, "n_images": 1},
        _source=[item],
        _index=[0],
    )


def open_dataset(
    name: str, split: str | None = None, *, root: str | os.PathLike | None = None
) -> EvalDataset:
    """Open dataset ``name`` (see :data:`DATASETS`) at ``split`` (default:
    :data:`DEFAULT_SPLITS`); ``root`` is its folder.

    Raises :class:`~bokeh.errors.DatasetNotFoundError` with what to do when the data is missing
    or the split does not exist, and :class:`~bokeh.errors.BokehError` for an unknown name.
    """
    if name not in DATASETS:
        raise BokehError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    split = split or DEFAULT_SPLITS[name]
    if name == "motorcycle":
        if split != "all":
            raise DatasetNotFoundError("The motorcycle sample has one split, 'all'.")
        return _motorcycle()
    if name in ("vabm", "pairs"):
        return _real(name, split, root)
    if name == "synth":
        try:
            pairs = load_synth(root, split)
        except DatasetNotFoundError as exc:
            if root is None and split != "holdout":
                raise DatasetNotFoundError(
                    f"{exc} The default synthetic set is a holdout only; for a {split!r} split "
                    "generate one with `python -m bokeh synth --out DIR --split "
                    f"{split} ...` and pass its folder."
                ) from None
            raise
        what = "synthetic holdout" if root is None else f"synthetic set {pairs.root}"
        return _from_pairs(
            "synth", pairs, split, f"{what}, split {split} ({len(pairs)} scenes, true depth)"
        )

    pairs = load_ebb(root, split)
    return _from_pairs(
        "ebb",
        pairs,
        split,
        f"EBB! {pairs.root}, split {split} ({len(pairs)} pairs, focus at centre)",
    )


class DatasetInfo(NamedTuple):
    """One entry of :func:`available_datasets`: unpacks as ``(name, splits, available, note)``."""

    name: str
    splits: tuple[str, ...]
    available: bool
    note: str


def _ebb_status() -> tuple[bool, str]:
    """Whether EBB! can be opened, found without downloading anything."""
    env = ebb._env_settings()  # the one place EBB_ROOT / BOKEH_EBB_REPO are read
    if env["root"]:
        try:
            _layout, base = ebb.detect_layout(env["root"])
        except DatasetNotFoundError as exc:
            return False, f"EBB_ROOT is set but unusable: {exc} Using the synthetic holdout."
        return True, f"EBB! at {base}"
    if env["repo"]:
        return True, (
            f"EBB! from the Hugging Face dataset repo {env['repo']} "
            "(downloaded on first use; offline only a cached copy works)"
        )
    return False, "EBB! not found (set EBB_ROOT); using the synthetic holdout"


def synth_ready() -> bool:
    """Whether the default synthetic holdout has been generated (else the first run makes it)."""
    try:
        return (data_dir() / "synth" / HOLDOUT_NAME / "metadata.json").is_file()
    except OSError:
        return False


def available_datasets() -> list[DatasetInfo]:
    """What the UI can offer, cheaply (nothing is generated or downloaded here); ``pairs``
    needs a folder, given on the command line only."""
    out = []
    ready = synth_ready()
    size = f"{HOLDOUT_SIZE[0]}x{HOLDOUT_SIZE[1]}"
    note = f"synthetic holdout: {HOLDOUT_COUNT} scenes at {size} with true depth" + (
        "" if ready else " (generated on first use, under a minute)"
    )
    out.append(DatasetInfo("synth", ("holdout",), True, note))
    ok, note = _ebb_status()
    out.append(DatasetInfo("ebb", EBB_SPLIT_NAMES, ok, note))

    vabd = realdata_dir() / "vabd"
    out.append(
        DatasetInfo(
            "vabm",
            ("all", "all@1.8", "all@2.8", "all@8"),
            vabd.is_dir(),
            f"real photos, VABM layout (VABD) at {vabd}"
            if vabd.is_dir()
            else "real photos in the VABM layout: not on this machine (--root DIR)",
        )
    )
    out.append(
        DatasetInfo(
            "pairs",
            ("all",),
            False,
            "a folder of real pairs, named on the "
            "command line: `python -m eval run --dataset pairs --root DIR`",
        )
    )
    out.append(
        DatasetInfo(
            "motorcycle",
            ("all",),
            True,
            "one real photo with measured depth; no bokeh ground truth, so it is "
            "rendered but not scored",
        )
    )
    return out
