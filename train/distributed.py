"""Torch DDP for multi-GPU / multi-node training, launched with `torchrun`.

    torchrun --nproc_per_node 2 -m camerapose train --config train/configs/default.toml

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; `setup()` reads them,
joins the process group (nccl on CUDA, gloo on CPU) and picks this rank's device. Without
torchrun it is a single process and nothing is initialised. Each rank draws its own shard of
every epoch's permutation (same seed everywhere, so the shards partition the data); DDP
averages gradients; only rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if name == "cuda":
        return torch.device(f"cuda:{local_rank}")
    return torch.device(name)


def setup(device: str = "auto") -> DistInfo:
    """Join the torchrun process group if there is one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=resolve_device(device))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local, dev)


def wrap(module: nn.Module, info: DistInfo) -> nn.Module:
    """DDP-wrap a module (no-op single-process). Unused parameters are allowed: step 1 trains
    only RefineNet, step 2 freezes it."""
    if not info.enabled or not any(p.requires_grad for p in module.parameters()):
        return module
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def shard(indices: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's equal share of a permutation (the tail that does not divide evenly is dropped,
    so every rank runs the same number of iterations and collectives never deadlock)."""
    if not info.enabled:
        return indices
    per = len(indices) // info.world_size
    return indices[info.rank * per : (info.rank + 1) * per]


def all_mean(value: float, info: DistInfo) -> float:
    """Mean of a scalar over ranks (for logging)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
