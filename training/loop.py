"""The training loop shared by every recipe: device, seeding, mixed precision, DDP, checkpoints.

:func:`train` runs a :class:`~training.recipes.Recipe` for ``--steps`` (or ``--epochs``) on one
process or, under ``torchrun``, on several with DistributedDataParallel:

- **Device**: ``auto`` picks CUDA when present (``cuda:LOCAL_RANK`` under torchrun), else CPU.
- **Seeding**: ``random``, ``numpy`` and ``torch`` are seeded with ``--seed`` before the networks
  are built (identical initial weights on every rank), then with ``seed + rank`` for the run
  (different dropout masks per rank; rank 0 matches a single-process run). Data augmentation
  depends only on ``(seed, epoch, item)`` (:mod:`training.data`).
- **Mixed precision**: on CUDA, autocast in bfloat16 where the GPU supports it, else float16 with
  a gradient scaler (:class:`Amp`); off on CPU or with ``--no-amp``.
- **DDP**: when ``WORLD_SIZE > 1`` (set by ``torchrun``) the process group is initialised (NCCL
  on GPUs, gloo on CPUs), each trained network is wrapped in ``DistributedDataParallel``
  (``broadcast_buffers=False``: BatchNorm statistics stay per process, as in the reference
  implementations), and a ``DistributedSampler`` gives each rank its share of every epoch.
  ``--batch-size`` is per process; the global batch is ``batch_size * world_size``. Only rank 0
  writes checkpoints, metrics and progress bars. Recipes evaluate a discriminator for the
  generator's loss through :func:`unwrap` (its parameters are frozen then, so it must not
  take part in gradient synchronisation).
- **Checkpoints** (``--out``): every ``--save-every`` epochs, every ``--save-every-steps``
  steps and at the end: for each network ``<checkpoint>.safetensors`` + ``<checkpoint>.json``
  (:func:`bokeh.weights.save_checkpoint`; config = the preset used, provenance = command, steps,
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
import random
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bokeh.errors import BokehError
from training import checkpoint as ckpt
from training.recipes import Recipe, StepConfig, get_recipe

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


# --------------------------------------------------------------------------- device / seeds


def select_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"``: CUDA (``cuda:local_rank``) when available, else CPU; ``"cpu"``; ``"cuda"``."""
    if preference not in ("auto", "cpu", "cuda") and not preference.startswith("cuda:"):
        raise BokehError(f"--device must be auto, cpu or cuda, got {preference!r}.")
    if preference == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if preference == "auto":
            return torch.device("cpu")
        raise BokehError(f"--device {preference} was requested but no CUDA GPU is available.")
    if preference.startswith("cuda:"):
        return torch.device(preference)
    return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Amp:
    """Mixed precision for one run: ``autocast()``, ``backward(loss)``, ``step(opt)``,
    ``update()`` (once per iteration, called by the loop) and ``input_grad`` (for gradient
    penalties). Disabled (plain float32) on the CPU."""

    def __init__(self, device: torch.device, enabled: bool = True) -> None:
        self.device = device
        self.enabled = bool(enabled and device.type == "cuda")
        self.dtype = torch.float32
        self.scaler: torch.amp.GradScaler | None = None
        if self.enabled:
            if torch.cuda.is_bf16_supported():
                self.dtype = torch.bfloat16
            else:
                self.dtype = torch.float16
                self.scaler = torch.amp.GradScaler("cuda")

    def autocast(self) -> AbstractContextManager:
        if not self.enabled:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()

    def update(self) -> None:
        if self.scaler is not None:
            self.scaler.update()

    def input_grad(self, output: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """d output / d inputs with ``create_graph=True``, scaled against fp16 underflow."""
        if self.scaler is None:
            (g,) = torch.autograd.grad(output, inputs, create_graph=True)
            return g
        (g,) = torch.autograd.grad(self.scaler.scale(output), inputs, create_graph=True)
        return g / self.scaler.get_scale()

    def state(self) -> dict[str, Any]:
        if self.scaler is None:
            return {}
        return {
            k: (v.item() if isinstance(v, torch.Tensor) else v)
            for k, v in self.scaler.state_dict().items()
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def lr_factor(step: int, total: int, decay: float) -> float:
    """Learning-rate multiplier for 0-based ``step`` of ``total``: 1 for the first
    ``1 - decay`` of the run, then linearly down towards 0 over the last ``decay`` (the
    pix2pix/CycleGAN reference schedule: constant for n epochs, linear decay over n more, is
    ``decay=0.5``). ``decay=0`` keeps it constant. Pure: a resumed run gets the same values."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"lr decay must be a fraction in [0, 1], got {decay}.")
    n_decay = int(round(total * decay))
    if n_decay <= 0 or total <= 0:
        return 1.0
    n_const = total - n_decay
    return 1.0 - max(0, step + 1 - n_const) / (n_decay + 1)


def apply_lr(optimizers: dict[str, Any], factor: float) -> None:
    """Set every param group's lr to its initial lr (kept in ``initial_lr``) times ``factor``."""
    for opt in optimizers.values():
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (or the module itself)."""
    from torch.nn.parallel import DistributedDataParallel

    return module.module if isinstance(module, DistributedDataParallel) else module


# --------------------------------------------------------------------------- distributed


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_preference: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE,
    LOCAL_RANK, MASTER_ADDR, MASTER_PORT); a single process when WORLD_SIZE is unset or 1."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=select_device(device_preference))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    device = select_device(device_preference, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:  # CPU processes share the cores instead of each using all of them
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, local_world)))
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world
        )
        owns = True
    return DistInfo(rank, world, local_rank, device, owns)


def _all_mean(values: dict[str, float], count: int, info: DistInfo) -> dict[str, float]:
    """Mean of per-rank sums over all ranks (keys sorted so every rank agrees)."""
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys] + [float(count)], dtype=torch.float64)
    if info.enabled:
        import torch.distributed as dist

        if info.device.type == "cuda":
            t = t.to(info.device)
        dist.all_reduce(t)
        t = t.cpu()
    n = max(t[-1].item(), 1.0)
    return {k: t[i].item() / n for i, k in enumerate(keys)}


# --------------------------------------------------------------------------- data


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


class _Batches:
    """Epoch-by-epoch batches of one rank, able to start part-way into an epoch."""

    def __init__(self, dataset: Any, opts: TrainOptions, info: DistInfo) -> None:
        from torch.utils.data import DistributedSampler

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
        from torch.utils.data import DataLoader

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
    from bokeh.config import data_dir

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
    hp["allow_download"] = bool(opts.download) and not _hf_offline()
    json.dumps(hp)  # must be storable in the checkpoint JSON
    return hp


def _hf_offline() -> bool:
    """HF_HUB_OFFLINE also stops the torchvision ImageNet downloads (one offline switch)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.is_offline_mode())


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
    from training.recipes import crop_rule

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
            import torch.distributed as dist

            dist.destroy_process_group()


def _build_dataset(recipe: Recipe, opts: TrainOptions, hp: dict, configs: dict) -> Any:
    if recipe.build_data is not None:
        return recipe.build_data(opts, hp)
    from training.data import build_dataset

    if opts.data is None:
        raise BokehError("--data DIR is required: the folder of the training set.")
    dataset = opts.dataset or recipe.datasets[0]
    if dataset not in recipe.datasets:
        raise BokehError(
            f"{recipe.name} trains on --dataset {' or '.join(recipe.datasets)}, not {dataset!r}."
        )
    crop = recipe.default_crop if opts.crop is None else opts.crop
    depth_cfg = next((c for c in configs.values() if type(c).__name__ == "DenseDepthConfig"), None)
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


def _train(opts: TrainOptions, recipe: Recipe, info: DistInfo) -> TrainResult:
    device = info.device
    out = Path(opts.out) if opts.out is not None else default_out(recipe.name)
    if not opts.resume and ckpt.has_train_state(out):
        raise BokehError(
            f"{str(out)!r} already holds a training run; pass --resume to continue it or "
            "choose another --out."
        )
    state_tensors, state_meta = (None, None)
    if opts.resume:
        state_tensors, state_meta = ckpt.load_train_state(out)
        _check_resume(state_meta, recipe, opts)

    hp = _hparams(recipe, opts)
    seed_everything(opts.seed)
    models, configs = recipe.build_models(opts.preset, hp)
    _check_crop(opts, recipe, models)
    for m in models.values():
        m.to(device).train()
    optimizers = recipe.build_optimizers(models, hp)
    dataset = _build_dataset(recipe, opts, hp, configs)
    batches = _Batches(dataset, opts, info)
    if batches.per_epoch < 1:
        raise BokehError(
            f"The training set has {len(dataset)} item(s): too few for one batch of "
            f"{opts.batch_size} per process on {info.world_size} process(es)."
        )
    amp = Amp(device, opts.amp)
    extras = recipe.make_extras(models, hp, device)
    seed_everything(opts.seed + info.rank)

    step, seconds_before, history = 0, 0.0, []
    if state_tensors is not None:
        extra_state = ckpt.restore(
            state_tensors,
            state_meta,
            models=models,
            optimizers=optimizers,
            restore_rng=info.is_main,
        )
        for name, tensors in extra_state.items():
            if name in extras and hasattr(extras[name], "load_train_state"):
                extras[name].load_train_state({k: v.to(device) for k, v in tensors.items()})
        amp.load_state(state_meta.get("amp", {}))
        step = int(state_meta["step"])
        seconds_before = float(state_meta.get("seconds", 0.0))
        history = [h for h in _read_history(out) if h.get("step", 0) <= step]
        if not info.is_main:  # other ranks: a fresh but reproducible stream
            seed_everything(opts.seed + 7919 * info.rank + step)
        del state_tensors

    per_epoch = batches.per_epoch
    if opts.steps is not None:
        total = int(opts.steps)
    elif opts.epochs is not None:
        total = int(opts.epochs) * per_epoch
    else:
        total = int(recipe.default_epochs) * per_epoch

    wrapped: dict[str, nn.Module] = {}
    for key, m in models.items():
        if info.enabled and any(p.requires_grad for p in m.parameters()):
            wrapped[key] = _ddp(m, device)
        else:
            wrapped[key] = m

    lr_decay = float(hp.get("lr_decay", 0.0))
    try:
        lr_factor(0, total, lr_decay)  # a bad value fails before any work
    except ValueError as exc:
        raise BokehError(f"Hyper-parameter {exc}") from None
    cfg = StepConfig(hp=hp, device=device, amp=amp, extras=extras, step=step)
    run = _RunInfo(opts, recipe, info, out, hp, configs, len(dataset), per_epoch, total)
    saved: dict[str, Path] = {}
    start = time.perf_counter()

    def elapsed() -> float:
        return seconds_before + time.perf_counter() - start

    def save() -> None:
        nonlocal saved
        if info.is_main:
            saved = _save_all(run, models, optimizers, extras, amp, step, elapsed(), history)

    from tqdm.auto import tqdm

    bar = tqdm(
        total=total,
        initial=min(step, total),
        disable=not (info.is_main and opts.progress),
        desc=f"{recipe.name} ({opts.preset})",
        unit="step",
        dynamic_ncols=True,
    )
    sums: dict[str, float] = {}
    count = 0
    epoch = step // per_epoch
    skip = step % per_epoch
    try:
        while step < total:
            for batch in batches.epoch(epoch, skip):
                cfg.step = step
                if lr_decay:
                    apply_lr(optimizers, lr_factor(step, total, lr_decay))
                losses = recipe.train_step(_to_device(batch, device), wrapped, optimizers, cfg)
                amp.update()
                step += 1
                count += 1
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                bar.update(1)
                if step % opts.log_every == 0 or step == total:
                    means = _all_mean(sums, count, info)
                    for k, v in means.items():
                        if not math.isfinite(v):
                            raise BokehError(
                                f"Training diverged at step {step}: {k} is {v}. Lower --lr or "
                                "check the data."
                            )
                    history.append(
                        {
                            "step": step,
                            "epoch": round(step / per_epoch, 4),
                            "seconds": round(elapsed(), 2),
                            **{k: round(v, 6) for k, v in means.items()},
                        }
                    )
                    bar.set_postfix({k: f"{v:.3g}" for k, v in means.items()}, refresh=False)
                    sums, count = {}, 0
                    if info.is_main:
                        _write_metrics(run, history, step, elapsed())
                if opts.save_every_steps and step % opts.save_every_steps == 0 and step < total:
                    save()
                if step >= total:
                    break
            else:  # the epoch ran to its end
                epoch += 1
                skip = 0
                if opts.save_every and epoch % opts.save_every == 0 and step < total:
                    save()
                continue
            break
    except KeyboardInterrupt:
        if not info.enabled and step > 0:  # one process: keep what was done, for --resume
            bar.close()
            save()
            logger.warning(
                "Interrupted at step %d; saved to %s (continue with --resume).", step, out
            )
        raise
    finally:
        bar.close()
    save()
    hub_url = None
    if opts.push_to_hub and info.is_main:
        hub_url = ckpt.push_to_hub(
            out, opts.push_to_hub, message=f"{recipe.name} ({opts.preset}), {step} steps"
        )
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()
    return TrainResult(
        out=out,
        step=step,
        epoch=step / per_epoch,
        seconds=elapsed(),
        history=history,
        models=models,
        checkpoints=saved,
        rank=info.rank,
        world_size=info.world_size,
        hub_url=hub_url,
    )


def _ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel without buffer syncing in forward (BatchNorm statistics stay
    per process; a GAN step runs a network several times before its backward)."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    kwargs: dict[str, Any] = {"device_ids": [device.index] if device.type == "cuda" else None}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
        kwargs["forward_sync_buffers"] = False  # newer torch: replaces broadcast_buffers
    else:
        kwargs["broadcast_buffers"] = False
    return DistributedDataParallel(module, **kwargs)


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
    from bokeh.weights import save_checkpoint

    prov = _provenance(run, step, seconds)
    paths = {}
    for slot in run.recipe.slots:
        paths[slot.key] = save_checkpoint(
            models[slot.key],
            run.out / slot.checkpoint,
            model_name=slot.network,
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


__all__ = [
    "Amp",
    "DistInfo",
    "TrainOptions",
    "TrainResult",
    "config_dict",
    "default_out",
    "init_distributed",
    "seed_everything",
    "select_device",
    "set_requires_grad",
    "train",
    "unwrap",
]
