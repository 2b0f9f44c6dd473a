"""What a training step runs on: device, seeds, mixed precision, learning-rate schedule and
DistributedDataParallel. Recipes and the loop both use it; it imports neither."""

from __future__ import annotations

import inspect
import os
import random
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from bokeh.errors import BokehError

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


def all_mean(values: dict[str, float], count: int, info: DistInfo) -> dict[str, float]:
    """Mean of per-rank sums over all ranks (keys sorted so every rank agrees)."""
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys] + [float(count)], dtype=torch.float64)
    if info.enabled:
        if info.device.type == "cuda":
            t = t.to(info.device)
        dist.all_reduce(t)
        t = t.cpu()
    n = max(t[-1].item(), 1.0)
    return {k: t[i].item() / n for i, k in enumerate(keys)}


# --------------------------------------------------------------------------- data


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel without buffer syncing in forward (BatchNorm statistics stay
    per process; a GAN step runs a network several times before its backward)."""
    kwargs: dict[str, Any] = {"device_ids": [device.index] if device.type == "cuda" else None}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
        kwargs["forward_sync_buffers"] = False  # newer torch: replaces broadcast_buffers
    else:
        kwargs["broadcast_buffers"] = False
    return DistributedDataParallel(module, **kwargs)
