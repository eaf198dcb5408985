"""Data-parallel training under torchrun, after torchvision's references/classification/utils.py
(`init_distributed_mode`, `is_main_process`, `save_on_master`, reduced metrics).

    torchrun --nproc_per_node 2 -m core train notmnist ...      # two processes here (gloo on CPU, nccl on CUDA)
    python -m core train notmnist ...                           # the same code in one process

`--batch-size` is per process, as in torchvision: the global batch is batch size x world size. Every rank draws
the same permutation of the training set each epoch (the same seed) and takes its own slice of every global batch
(what DistributedSampler with set_epoch does, on the batched uint8 pipeline); a partial last global batch is
dropped so every rank takes the same number of steps. Augmentation draws from a per-rank generator. Only rank 0
writes checkpoints, progress and meta.json, which records the world size and the global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistInfo()


def init_distributed_mode() -> DistInfo:
    """Join the process group torchrun set up (RANK, WORLD_SIZE, LOCAL_RANK in the environment); one process
    without them. gloo on CPU, nccl on CUDA (each process on its LOCAL_RANK's GPU)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return SINGLE
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    if world == 1:
        return SINGLE
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", world_size=world, rank=rank)
    return DistInfo(rank, world, local, backend)


def close(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def steps_per_epoch(n: int, batch_size: int, info: DistInfo) -> int:
    """One process: every image, the last batch partial. Several: whole global batches only, so every rank takes
    the same number of steps (a rank with nothing to do would leave the others waiting)."""
    if not info.enabled:
        return (n + batch_size - 1) // batch_size
    return n // (batch_size * info.world_size)


def shard(order: torch.Tensor, step: int, batch_size: int, info: DistInfo) -> torch.Tensor:
    """This rank's slice of global batch `step` of the epoch's order."""
    start = step * batch_size * info.world_size + info.rank * batch_size
    return order[start : start + batch_size]


def reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """The sums over all ranks (the values themselves in one process)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def wrap(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """DistributedDataParallel around the model when there are several processes (gradients averaged)."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [info.local_rank] if info.backend == "nccl" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
