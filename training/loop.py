"""The training loop shared by every recipe: device, seeding, mixed precision, DDP, checkpoints.

:func:`train` runs a :class:`~training.recipe.Recipe` for ``--steps`` (or ``--epochs``) on one
process or, under ``torchrun``, on several with DistributedDataParallel:

- **Device**: ``auto`` picks CUDA when present (``cuda:LOCAL_RANK`` under torchrun), else CPU.
- **Seeding**: ``random``, ``numpy`` and ``torch`` are seeded with ``--seed`` before the networks
  are built (identical initial weights on every rank), then with ``seed + rank`` for the run
  (different dropout masks per rank; rank 0 matches a single-process run). Data augmentation
  depends only on ``(seed, epoch, item)`` (:mod:`training.data`).
- **Mixed precision**: on CUDA, autocast in bfloat16 where the GPU supports it, else float16 with
  a gradient scaler (:class:`training.runtime.Amp`); off on CPU or with ``--no-amp``.
- **DDP**: when ``WORLD_SIZE > 1`` (set by ``torchrun``) the process group is initialised (NCCL
  on GPUs, gloo on CPUs), each trained network is wrapped in ``DistributedDataParallel``
  (``broadcast_buffers=False``: BatchNorm statistics stay per process, as in the reference
  implementations), and a ``DistributedSampler`` gives each rank its share of every epoch.
  ``--batch-size`` is per process; the global batch is ``batch_size * world_size``. Only rank 0
  writes checkpoints, metrics and progress bars. Recipes evaluate a discriminator for the
  generator's loss through :func:`training.runtime.unwrap` (its parameters are frozen then, so it must not
  take part in gradient synchronisation).
- **Checkpoints** (``--out``): every ``--save-every`` epochs, every ``--save-every-steps``
  steps and at the end: for each network ``<checkpoint>.safetensors`` + ``<checkpoint>.json``
  (:func:`bokeh.weights.checkpoint.save_checkpoint`; config = the preset used, provenance = command, steps,
  data, seed, time), ``train_state.safetensors`` + ``train_state.json`` for ``--resume``
  (:mod:`training.checkpoint`, no pickle) and ``metrics.json`` (mean losses every
  ``--log-every`` steps).
- **Resume**: ``--resume`` reloads networks, optimizers, step counters, RNG states and recipe
  state (image pools) and continues to the requested ``--steps`` / ``--epochs`` total,
  skipping the batches of the interrupted epoch that were already used; a single-process run
  resumed this way repeats the uninterrupted run exactly on the CPU.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shlex
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from bokeh.config import data_dir
from bokeh.errors import BokehError
from bokeh.weights.checkpoint import save_checkpoint
from bokeh.weights.hub import offline as hub_offline
from training import checkpoint as ckpt
from training.data import build_dataset
from training.recipe import Recipe, StepConfig, crop_rule
from training.recipes import get_recipe
from training.runtime import (
    Amp,
    DistInfo,
    all_mean,
    apply_lr,
    init_distributed,
    lr_factor,
    seed_everything,
    to_device,
    wrap_ddp,
)

logger = logging.getLogger("training")


# --------------------------------------------------------------------------- options


@dataclass
class TrainOptions:
    """Settings of one training run (the command line's flags)."""

    method: str
    data: str | os.PathLike | None = None
    dataset: str | None = None  # default: the recipe's first dataset kind
    split: str = "train"
    preset: str = "full"
    epochs: int | None = None
    steps: int | None = None
    batch_size: int = 1
    crop: int | None = None  # default: the recipe's
    scale: float = 1.0
    lr: float | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    perceptual: str = "vgg19"
    seed: int = 0
    out: str | os.PathLike | None = None
    resume: bool = False
    save_every: int = 1  # epochs; 0 turns it off
    save_every_steps: int = 0  # 0 turns it off
    log_every: int = 10
    device: str = "auto"
    amp: bool = True
    workers: int = 0
    progress: bool = True
    push_to_hub: str | None = None
    command: str | None = None  # recorded in the provenance (default: sys.argv)
    download: bool = True  # may fetch torchvision ImageNet weights (VGG19 / DenseNet) if missing


@dataclass
class TrainResult:
    """What :func:`train` returns (on every rank; files are written by rank 0)."""

    out: Path
    step: int
    epoch: float
    seconds: float
    history: list[dict[str, Any]]
    models: dict[str, nn.Module]
    checkpoints: dict[str, Path]
    rank: int = 0
    world_size: int = 1
    hub_url: str | None = None


class _Batches:
    """Epoch-by-epoch batches of one rank, able to start part-way into an epoch."""

    def __init__(self, dataset: Any, opts: TrainOptions, info: DistInfo) -> None:
        self.dataset = dataset
        self.batch_size = opts.batch_size
        self.seed = opts.seed
        self.workers = opts.workers
        self.pin = info.device.type == "cuda"
        self.sampler = DistributedSampler(
            dataset,
            num_replicas=info.world_size,
            rank=info.rank,
            shuffle=True,
            seed=opts.seed,
            drop_last=False,
        )
        self.per_epoch = len(self.sampler) // self.batch_size

    def epoch(self, epoch: int, skip_batches: int = 0) -> Iterator[Any]:
        self.sampler.set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        indices = list(self.sampler)[skip_batches * self.batch_size :]
        # A private generator: creating the loader must not draw from the global torch RNG
        # (dropout, image pools), or a resumed run would diverge from the uninterrupted one.
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=indices,
            drop_last=True,
            num_workers=self.workers,
            pin_memory=self.pin,
            generator=gen,
        )
        yield from loader


# --------------------------------------------------------------------------- helpers


def default_out(method: str) -> Path:
    return data_dir() / "runs" / method


def _command(opts: TrainOptions) -> str:
    if opts.command:
        return opts.command
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


def config_dict(config: Any) -> dict[str, Any]:
    """A model config (dataclass or dict) as a plain JSON-compatible dict."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return json.loads(json.dumps(dataclasses.asdict(config)))
    return dict(config)


def _hparams(recipe: Recipe, opts: TrainOptions) -> dict[str, Any]:
    hp = dict(recipe.default_hparams())
    unknown = sorted(set(opts.hparams) - set(hp))
    if unknown:
        raise BokehError(
            f"Unknown hyper-parameter(s) {', '.join(unknown)} for {recipe.name}; available: "
            f"{', '.join(sorted(hp))}."
        )
    hp.update(opts.hparams)
    if opts.lr is not None:
        if not opts.lr > 0:
            raise BokehError(f"--lr must be positive, got {opts.lr}.")
        hp["lr"] = float(opts.lr)
    if "perceptual" in hp:
        if opts.perceptual not in ("vgg19", "none"):
            raise BokehError(f"--perceptual must be vgg19 or none, got {opts.perceptual!r}.")
        hp["perceptual"] = opts.perceptual
    hp["allow_download"] = bool(opts.download) and not hub_offline()
    json.dumps(hp)  # must be storable in the checkpoint JSON
    return hp


def _check_options(opts: TrainOptions, recipe: Recipe) -> None:
    if opts.batch_size < 1:
        raise BokehError(f"--batch-size must be at least 1, got {opts.batch_size}.")
    if opts.steps is not None and opts.steps < 0:
        raise BokehError(f"--steps must be >= 0, got {opts.steps}.")
    if opts.epochs is not None and opts.epochs < 0:
        raise BokehError(f"--epochs must be >= 0, got {opts.epochs}.")
    if opts.log_every < 1:
        raise BokehError(f"--log-every must be at least 1, got {opts.log_every}.")
    if opts.save_every < 0 or opts.save_every_steps < 0:
        raise BokehError("--save-every and --save-every-steps must be >= 0.")
    if opts.preset not in ("full", "demo"):
        raise BokehError(f"--preset must be full or demo, got {opts.preset!r}.")
    crop = recipe.default_crop if opts.crop is None else opts.crop
    if crop < 0:
        raise BokehError(f"--crop must be >= 0 (0 keeps whole images), got {crop}.")


def _check_crop(opts: TrainOptions, recipe: Recipe, models: dict[str, nn.Module]) -> None:
    crop = recipe.default_crop if opts.crop is None else opts.crop
    multiple, minimum = crop_rule(recipe, models)
    if crop and (crop % multiple or crop < minimum):
        raise BokehError(
            f"--crop {crop} does not suit the {recipe.name} {opts.preset} networks: it must be a "
            f"multiple of {multiple} and at least {minimum}."
        )


# --------------------------------------------------------------------------- the loop


def train(opts: TrainOptions, *, recipe: Recipe | None = None) -> TrainResult:
    """Run a training job (see the module docstring); returns a :class:`TrainResult`.

    Raises :class:`~bokeh.errors.BokehError` subclasses (DatasetNotFoundError, ...) with a
    sentence for a person on bad settings or data.
    """
    recipe = recipe or get_recipe(opts.method)
    _check_options(opts, recipe)
    info = init_distributed(opts.device)
    try:
        return _train(opts, recipe, info)
    finally:
        if info.owns_group:
            dist.destroy_process_group()


def _build_dataset(recipe: Recipe, opts: TrainOptions, hp: dict, configs: dict) -> Any:
    if recipe.build_data is not None:
        return recipe.build_data(opts, hp)

    if opts.data is None:
        raise BokehError("--data DIR is required: the folder of the training set.")
    dataset = opts.dataset or recipe.datasets[0]
    if dataset not in recipe.datasets:
        raise BokehError(
            f"{recipe.name} trains on --dataset {' or '.join(recipe.datasets)}, not {dataset!r}."
        )
    crop = recipe.default_crop if opts.crop is None else opts.crop
    # a depth recipe's inference network sets the target's depth range
    depth_cfg = configs[recipe.inference_slot.key] if recipe.data_kind == "depth" else None
    return build_dataset(
        recipe.data_kind,
        opts.data,
        dataset,
        split=opts.split,
        crop=crop,
        seed=opts.seed,
        scale=opts.scale,
        depth_config=depth_cfg,
    )


def _total_steps(opts: TrainOptions, recipe: Recipe, per_epoch: int) -> int:
    if opts.steps is not None:
        return int(opts.steps)
    epochs = opts.epochs if opts.epochs is not None else recipe.default_epochs
    return int(epochs) * per_epoch


class _Session:
    """One training run in this process: built in :meth:`__init__` (seeded exactly as a
    resumed run expects), then :meth:`run` trains to the requested total."""

    def __init__(self, opts: TrainOptions, recipe: Recipe, info: DistInfo) -> None:
        self.opts, self.recipe, self.info, self.device = opts, recipe, info, info.device
        self.out = Path(opts.out) if opts.out is not None else default_out(recipe.name)
        if not opts.resume and ckpt.has_train_state(self.out):
            raise BokehError(
                f"{str(self.out)!r} already holds a training run; pass --resume to continue it "
                "or choose another --out."
            )
        state = ckpt.load_train_state(self.out) if opts.resume else None
        if state is not None:
            _check_resume(state[1], recipe, opts)
        self.hp = hp = _hparams(recipe, opts)
        seed_everything(opts.seed)
        self.models, configs = recipe.build_models(opts.preset, hp)
        _check_crop(opts, recipe, self.models)
        for m in self.models.values():
            m.to(self.device).train()
        self.optimizers = recipe.build_optimizers(self.models, hp)
        dataset = _build_dataset(recipe, opts, hp, configs)
        self.batches = _Batches(dataset, opts, info)
        if self.batches.per_epoch < 1:
            raise BokehError(
                f"The training set has {len(dataset)} item(s): too few for one batch of "
                f"{opts.batch_size} per process on {info.world_size} process(es)."
            )
        self.amp = Amp(self.device, opts.amp)
        self.extras = recipe.make_extras(self.models, hp, self.device)
        seed_everything(opts.seed + info.rank)
        self.step, self.seconds_before, self.history = 0, 0.0, []
        if state is not None:
            self._restore(*state)
        self.per_epoch = self.batches.per_epoch
        self.total = _total_steps(opts, recipe, self.per_epoch)
        self.wrapped = {
            key: wrap_ddp(m, self.device)
            if info.enabled and any(p.requires_grad for p in m.parameters()) else m
            for key, m in self.models.items()
        }  # fmt: skip
        self.lr_decay = float(hp.get("lr_decay", 0.0))
        try:
            lr_factor(0, self.total, self.lr_decay)  # a bad value fails before any work
        except ValueError as exc:
            raise BokehError(f"Hyper-parameter {exc}") from None
        self.cfg = StepConfig(hp=hp, device=self.device, amp=self.amp, extras=self.extras,
                              step=self.step)  # fmt: skip
        self.run_info = _RunInfo(opts, recipe, info, self.out, hp, configs, len(dataset),
                                 self.per_epoch, self.total)  # fmt: skip
        self.saved: dict[str, Path] = {}
        self.start = time.perf_counter()

    def _restore(self, tensors: dict, meta: dict) -> None:
        extra_state = ckpt.restore(tensors, meta, models=self.models, optimizers=self.optimizers,
                                   restore_rng=self.info.is_main)  # fmt: skip
        for name, state in extra_state.items():
            if name in self.extras and hasattr(self.extras[name], "load_train_state"):
                self.extras[name].load_train_state({k: v.to(self.device) for k, v in state.items()})
        self.amp.load_state(meta.get("amp", {}))
        self.step = int(meta["step"])
        self.seconds_before = float(meta.get("seconds", 0.0))
        self.history = [h for h in _read_history(self.out) if h.get("step", 0) <= self.step]
        if not self.info.is_main:  # other ranks: a fresh but reproducible stream
            seed_everything(self.opts.seed + 7919 * self.info.rank + self.step)

    def elapsed(self) -> float:
        return self.seconds_before + time.perf_counter() - self.start

    def save(self) -> None:
        if self.info.is_main:
            self.saved = _save_all(self.run_info, self.models, self.optimizers, self.extras,
                                   self.amp, self.step, self.elapsed(), self.history)  # fmt: skip

    def _log(self, sums: dict[str, float], count: int, bar) -> None:
        """Mean losses since the last log, on every rank; stop on a divergence."""
        means = all_mean(sums, count, self.info)
        for k, v in means.items():
            if not math.isfinite(v):
                raise BokehError(
                    f"Training diverged at step {self.step}: {k} is {v}. Lower --lr or check "
                    "the data."
                )
        self.history.append({
            "step": self.step, "epoch": round(self.step / self.per_epoch, 4),
            "seconds": round(self.elapsed(), 2), **{k: round(v, 6) for k, v in means.items()},
        })  # fmt: skip
        bar.set_postfix({k: f"{v:.3g}" for k, v in means.items()}, refresh=False)
        if self.info.is_main:
            _write_metrics(self.run_info, self.history, self.step, self.elapsed())

    def _one_step(self, batch) -> dict[str, float]:
        self.cfg.step = self.step
        if self.lr_decay:
            apply_lr(self.optimizers, lr_factor(self.step, self.total, self.lr_decay))
        losses = self.recipe.train_step(to_device(batch, self.device), self.wrapped,
                                        self.optimizers, self.cfg)  # fmt: skip
        self.amp.update()
        self.step += 1
        return losses

    def _epochs(self, bar) -> None:
        opts, sums, count = self.opts, {}, 0
        epoch, skip = divmod(self.step, self.per_epoch)
        while self.step < self.total:
            for batch in self.batches.epoch(epoch, skip):
                for k, v in self._one_step(batch).items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                count += 1
                bar.update(1)
                if self.step % opts.log_every == 0 or self.step == self.total:
                    self._log(sums, count, bar)
                    sums, count = {}, 0
                if opts.save_every_steps and self.step % opts.save_every_steps == 0 and (
                        self.step < self.total):  # fmt: skip
                    self.save()
                if self.step >= self.total:
                    return
            epoch, skip = epoch + 1, 0  # the epoch ran to its end
            if opts.save_every and epoch % opts.save_every == 0 and self.step < self.total:
                self.save()

    def run(self) -> TrainResult:
        opts, info = self.opts, self.info
        bar = tqdm(
            total=self.total,
            initial=min(self.step, self.total),
            disable=not (info.is_main and opts.progress),
            desc=f"{self.recipe.name} ({opts.preset})",
            unit="step",
            dynamic_ncols=True,
        )
        try:
            self._epochs(bar)
        except KeyboardInterrupt:
            if not info.enabled and self.step > 0:  # one process: keep what was done
                bar.close()
                self.save()
                logger.warning("Interrupted at step %d; saved to %s (continue with --resume).",
                               self.step, self.out)  # fmt: skip
            raise
        finally:
            bar.close()
        self.save()
        hub_url = None
        if opts.push_to_hub and info.is_main:
            hub_url = ckpt.push_to_hub(self.out, opts.push_to_hub,
                                       message=f"{self.recipe.name} ({opts.preset}), "
                                       f"{self.step} steps")  # fmt: skip
        if info.enabled:
            dist.barrier()
        return TrainResult(
            out=self.out, step=self.step, epoch=self.step / self.per_epoch,
            seconds=self.elapsed(), history=self.history, models=self.models,
            checkpoints=self.saved, rank=info.rank, world_size=info.world_size, hub_url=hub_url,
        )  # fmt: skip


def _train(opts: TrainOptions, recipe: Recipe, info: DistInfo) -> TrainResult:
    return _Session(opts, recipe, info).run()


@dataclass
class _RunInfo:
    opts: TrainOptions
    recipe: Recipe
    info: DistInfo
    out: Path
    hp: dict[str, Any]
    configs: dict[str, Any]
    items: int
    per_epoch: int
    total: int


def _check_resume(meta: dict[str, Any], recipe: Recipe, opts: TrainOptions) -> None:
    run = meta.get("run", {})
    for key, want in (("method", recipe.name), ("preset", opts.preset)):
        if run.get(key) != want:
            raise BokehError(
                f"Cannot resume: the saved run has {key} {run.get(key)!r}, this one {want!r}."
            )
    for key in ("seed", "batch_size", "crop", "world_size"):
        if key in run and run[key] != getattr(opts, key, run[key]):
            logger.warning(
                "Resuming with %s %r (the saved run used %r).", key, getattr(opts, key), run[key]
            )


def _read_history(out: Path) -> list[dict[str, Any]]:
    try:
        return list(json.loads((out / ckpt.METRICS_JSON).read_text(encoding="utf-8"))["history"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _provenance(run: _RunInfo, step: int, seconds: float) -> dict[str, Any]:
    opts = run.opts
    return {
        "method": run.recipe.name,
        "preset": opts.preset,
        "command": _command(opts),
        "steps": step,
        "epochs": round(step / run.per_epoch, 4),
        "finished": step >= run.total,
        "data": {
            "root": None if opts.data is None else str(Path(opts.data).resolve()),
            "dataset": opts.dataset or run.recipe.datasets[0],
            "split": opts.split,
            "items": run.items,
            "crop": run.recipe.default_crop if opts.crop is None else opts.crop,
            "scale": opts.scale,
        },
        "seed": opts.seed,
        "batch_size": opts.batch_size,
        "world_size": run.info.world_size,
        "device": str(run.info.device),
        "train_seconds": round(seconds, 2),
        "hparams": run.hp,
    }


def _write_metrics(run: _RunInfo, history: list[dict], step: int, seconds: float) -> None:
    doc = {
        "method": run.recipe.name,
        "preset": run.opts.preset,
        "step": step,
        "total_steps": run.total,
        "steps_per_epoch": run.per_epoch,
        "log_every": run.opts.log_every,
        "seconds": round(seconds, 2),
        "history": history,
    }
    ckpt.atomic_write_text(run.out / ckpt.METRICS_JSON, json.dumps(doc, indent=1) + "\n")


def _save_all(
    run: _RunInfo,
    models: dict[str, nn.Module],
    optimizers: dict[str, Any],
    extras: dict[str, Any],
    amp: Amp,
    step: int,
    seconds: float,
    history: list[dict],
) -> dict[str, Path]:
    prov = _provenance(run, step, seconds)
    paths = {}
    for slot in run.recipe.slots:
        paths[slot.key] = save_checkpoint(
            models[slot.key],
            run.out / slot.checkpoint,
            model_name=slot.network.name,
            config=config_dict(run.configs[slot.key]),
            provenance={**prov, "network": slot.key},
        )
    extra_state = {name: x.train_state() for name, x in extras.items() if hasattr(x, "train_state")}
    opts = run.opts
    meta = {
        "step": step,
        "seconds": round(seconds, 3),
        "amp": amp.state(),
        "run": {
            "method": run.recipe.name,
            "preset": opts.preset,
            "seed": opts.seed,
            "batch_size": opts.batch_size,
            "crop": opts.crop,
            "world_size": run.info.world_size,
            "configs": {k: config_dict(c) for k, c in run.configs.items()},
        },
    }
    ckpt.save_train_state(
        run.out, models=models, optimizers=optimizers, extras=extra_state, meta=meta
    )
    _write_metrics(run, history, step, seconds)
    return paths


__all__ = ["TrainOptions", "TrainResult", "config_dict", "default_out", "train"]
