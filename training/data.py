"""Training datasets: paired and unpaired random crops, and depth pairs, as torch tensors.

Sources (``--dataset``):

``ebb``    an EBB!-layout folder (released archive, PyNET layout, or a synthetic set), opened
           with :func:`bokeh.data.ebb.load_ebb`; its ``--split`` (default ``train``).
``synth``  a folder written by ``python -m bokeh synth`` (the EBB! layout plus depth maps),
           opened with :func:`bokeh.data.synth.load_synth`.
``nyu``    NYU Depth v2 as packaged for DenseDepth (:func:`bokeh.data.nyu.load_nyu`).

Items (dicts of float32 tensors, channel-first):

- :class:`PairedCrops` (pix2pix, BGGAN): ``{"original": (3, c, c), "bokeh": (3, c, c)}`` in
  [-1, 1], the same random crop and horizontal flip applied to both images.
- :class:`UnpairedCrops` (CycleGAN): the same keys, but the bokeh image comes from an
  independently shuffled scene (a fresh permutation per epoch) with its own crop and flip, so the
  two domains are sampled independently.
- :class:`DepthCrops` (DenseDepth): ``{"image": (3, c, c) in [-1, 1], "target": (1, c, c)}`` with
  the target in DenseDepth units ``depth_scale / depth_cm`` (1000/d, 1..100 by default):
  from NYU depth in metres via :func:`bokeh.models.densedepth.depth_to_target`; from the
  synthetic set's normalised disparity ``p`` (1 = near) via the affine map
  ``lo + p * (hi - lo)`` with ``lo = depth_scale / max_depth_cm`` and ``hi = depth_scale /
  min_depth_cm`` (1 + 99 p), i.e. disparity 0 is placed at 10 m and disparity 1 at 10 cm. The
  inference code min-max normalises the prediction, which inverts any affine map exactly.

Augmentation is a deterministic function of ``(seed, epoch, index)``: the same item gets the
same crop whichever process or data-loader worker reads it, which keeps multi-process runs
equal to single-process runs and makes resumed runs repeat the original exactly. Call
``set_epoch`` before each epoch. ``crop=0`` keeps whole images (they must all share one size to
be batched). Images smaller than the crop are first scaled up (bicubic) so their short side fits;
``scale`` resizes every image by a factor before cropping (e.g. 0.25 for 1536x1024 EBB! photos).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from bokeh.data.ebb import load_ebb
from bokeh.data.nyu import load_nyu
from bokeh.data.synth import load_synth
from bokeh.errors import DatasetNotFoundError
from bokeh.models.densedepth import DenseDepthConfig, depth_to_target

DATASETS = ("ebb", "synth", "nyu")


# --------------------------------------------------------------------------- sources


def open_pairs(root: str | os.PathLike, dataset: str, split: str = "train") -> Sequence[Any]:
    """The (original, bokeh[, depth]) pairs of an EBB!-layout or synthetic folder.

    Raises :class:`~bokeh.errors.DatasetNotFoundError` with the loader's explanation when the
    folder is missing or not in a known layout.
    """
    if dataset == "synth":
        return load_synth(root, split)
    if dataset == "ebb":
        return load_ebb(root, split)
    raise DatasetNotFoundError(
        f"Dataset kind {dataset!r} holds no bokeh pairs; use --dataset ebb or --dataset synth."
    )


def open_depth(root: str | os.PathLike, dataset: str, split: str = "train") -> Sequence[Any]:
    """Depth training samples: NYU (``DepthSample``) or synthetic pairs (``BokehPair`` with
    ``depth``). EBB! has no depth, which is an error."""
    if dataset == "nyu":
        return load_nyu(root, split)
    if dataset == "synth":
        pairs = open_pairs(root, "synth", split)
        if len(pairs) and pairs[0].depth is None:
            raise DatasetNotFoundError(
                f"The synthetic set at {str(root)!r} has no depth maps (depth/{{id}}.png)."
            )
        return pairs
    raise DatasetNotFoundError(
        f"DenseDepth trains on depth maps: use --dataset nyu (NYU Depth v2) or --dataset synth "
        f"(the synthetic set's disparity), not {dataset!r}."
    )


# --------------------------------------------------------------------------- helpers


def item_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """The random generator of one item in one epoch (independent of process and worker)."""
    return np.random.default_rng([int(seed), int(epoch), int(index), int(stream)])


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float32 (3, H, W) in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()
    return t.div_(127.5).sub_(1.0)


def _resize(arr: np.ndarray, size: tuple[int, int], *, depth: bool = False) -> np.ndarray:
    """Resize an HxWx3 uint8 image (bicubic) or an HxW float map (bilinear) to ``(w, h)``."""
    if (arr.shape[1], arr.shape[0]) == size:
        return arr
    if depth:
        out = Image.fromarray(arr.astype(np.float32), mode="F").resize(
            size, resample=Image.Resampling.BILINEAR
        )
        return np.asarray(out, dtype=np.float32)
    return np.asarray(Image.fromarray(arr).resize(size, resample=Image.Resampling.BICUBIC))


def _fit(arrays: list[tuple[np.ndarray, bool]], crop: int, scale: float) -> list[np.ndarray]:
    """Apply ``scale`` and, when needed, scale up so the short side is at least ``crop``."""
    h, w = arrays[0][0].shape[:2]
    factor = scale
    if crop and min(h, w) * factor < crop:
        factor = crop / min(h, w)
    if factor == 1.0:
        return [a for a, _ in arrays]
    size = (max(crop, round(w * factor)), max(crop, round(h * factor)))
    return [_resize(a, size, depth=d) for a, d in arrays]


def _crop_box(rng: np.random.Generator, h: int, w: int, crop: int) -> tuple[int, int, int, int]:
    if not crop:
        return 0, h, 0, w
    y0 = int(rng.integers(0, h - crop + 1))
    x0 = int(rng.integers(0, w - crop + 1))
    return y0, y0 + crop, x0, x0 + crop


def _augment(
    arrays: list[np.ndarray], rng: np.random.Generator, crop: int, flip: bool
) -> list[np.ndarray]:
    """One random crop and (p = 0.5) horizontal flip, shared by all ``arrays``."""
    h, w = arrays[0].shape[:2]
    y0, y1, x0, x1 = _crop_box(rng, h, w, crop)
    mirror = bool(flip and rng.random() < 0.5)
    out = []
    for a in arrays:
        a = a[y0:y1, x0:x1]
        if mirror:
            a = a[:, ::-1]
        out.append(np.ascontiguousarray(a))
    return out


class _EpochDataset(Dataset):
    """Random crops of scene pairs, re-drawn each epoch from (seed, epoch, index)."""

    def __init__(
        self,
        pairs: Sequence[Any],
        *,
        crop: int = 256,
        seed: int = 0,
        flip: bool = True,
        scale: float = 1.0,
    ) -> None:
        self.pairs = pairs
        if crop < 0:
            raise ValueError(f"crop must be >= 0 (0 keeps whole images), got {crop}.")
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}.")
        self.seed, self.crop, self.flip, self.scale = int(seed), int(crop), bool(flip), float(scale)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)


# --------------------------------------------------------------------------- datasets


class PairedCrops(_EpochDataset):
    """Aligned random crops of (original, bokeh) pairs; see the module docstring."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        pair = self.pairs[index]
        a, b = _fit([(pair.original, False), (pair.bokeh, False)], self.crop, self.scale)
        a, b = _augment([a, b], item_rng(self.seed, self.epoch, index), self.crop, self.flip)
        return {"original": to_tensor(a), "bokeh": to_tensor(b)}


class UnpairedCrops(_EpochDataset):
    """Originals and bokeh images drawn independently (CycleGAN); see the module docstring."""

    def partner(self, index: int) -> int:
        """Index of the scene whose bokeh image is served with original ``index`` this epoch."""
        perm = np.random.default_rng([self.seed, self.epoch, 7919]).permutation(len(self.pairs))
        return int(perm[index])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        j = self.partner(index)
        (a,) = _fit([(self.pairs[index].original, False)], self.crop, self.scale)
        (b,) = _fit([(self.pairs[j].bokeh, False)], self.crop, self.scale)
        (a,) = _augment([a], item_rng(self.seed, self.epoch, index, 0), self.crop, self.flip)
        (b,) = _augment([b], item_rng(self.seed, self.epoch, index, 1), self.crop, self.flip)
        return {"original": to_tensor(a), "bokeh": to_tensor(b)}


class DepthCrops(_EpochDataset):
    """(image, DenseDepth target) crops from NYU or the synthetic set; see the module docstring.

    ``config`` is the :class:`~bokeh.models.densedepth.DenseDepthConfig` whose target units
    (depth_scale, min/max depth) the targets follow.
    """

    def __init__(
        self,
        samples: Sequence[Any],
        *,
        config: Any = None,
        crop: int = 256,
        seed: int = 0,
        flip: bool = True,
        scale: float = 1.0,
    ) -> None:
        super().__init__(samples, crop=crop, seed=seed, flip=flip, scale=scale)

        self.config = config or DenseDepthConfig()

    @property
    def samples(self) -> Sequence[Any]:
        return self.pairs

    def target_from_disparity(self, disparity: np.ndarray) -> np.ndarray:
        """Normalised disparity (1 = near) -> target units (affine; see the module docstring)."""
        cfg = self.config
        lo, hi = cfg.depth_scale / cfg.max_depth_cm, cfg.depth_scale / cfg.min_depth_cm
        return (lo + np.clip(disparity, 0.0, 1.0) * (hi - lo)).astype(np.float32)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        s = self.samples[index]
        if hasattr(s, "rgb"):  # NYU DepthSample: depth in metres
            rgb = s.rgb
            target = depth_to_target(s.depth.astype(np.float32) * 100.0, self.config)
        else:  # synthetic BokehPair: sharp original + normalised disparity
            if s.depth is None:
                raise DatasetNotFoundError(f"Scene {s.key} has no depth map.")
            rgb = s.original
            target = self.target_from_disparity(s.depth)
        rgb, target = _fit([(rgb, False), (target.astype(np.float32), True)], self.crop, self.scale)
        rgb, target = _augment(
            [rgb, target], item_rng(self.seed, self.epoch, index), self.crop, self.flip
        )
        return {
            "image": to_tensor(rgb),
            "target": torch.from_numpy(target.astype(np.float32))[None],
        }


def build_dataset(
    kind: str,
    root: str | os.PathLike,
    dataset: str,
    *,
    split: str = "train",
    crop: int = 256,
    seed: int = 0,
    scale: float = 1.0,
    flip: bool = True,
    depth_config: Any = None,
) -> _EpochDataset:
    """The training dataset of a recipe's data ``kind`` ("paired", "unpaired" or "depth")."""
    if dataset not in DATASETS:
        raise DatasetNotFoundError(
            f"Unknown dataset kind {dataset!r}; available: {', '.join(DATASETS)}."
        )
    opts = {"crop": crop, "seed": seed, "scale": scale, "flip": flip}
    if kind == "paired":
        return PairedCrops(open_pairs(root, dataset, split), **opts)
    if kind == "unpaired":
        return UnpairedCrops(open_pairs(root, dataset, split), **opts)
    if kind == "depth":
        return DepthCrops(open_depth(root, dataset, split), config=depth_config, **opts)
    raise ValueError(f"data kind must be 'paired', 'unpaired' or 'depth', got {kind!r}.")


__all__ = [
    "DATASETS",
    "DepthCrops",
    "PairedCrops",
    "UnpairedCrops",
    "build_dataset",
    "item_rng",
    "open_depth",
    "open_pairs",
    "to_tensor",
]
