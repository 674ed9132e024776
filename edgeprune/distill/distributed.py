"""Data-parallel training under torchrun: process group from the environment, batch sharding, rank-0 writes.

`torchrun --nproc_per_node N` (or `python -m torch.distributed.run`) sets RANK / WORLD_SIZE / MASTER_ADDR;
`init_from_env()` joins that group (gloo: the training loop runs on the CPU). Without those variables
everything here is a no-op for one process, so the single-process path stays exactly as it was.

Sharding keeps the data stream of one process: every rank draws the same permutation and the same
augmentation from the same seeded generator, and takes its own slice of each global batch. With gradients
averaged by DDP, N ranks then compute what one process computes with the same global batch, except that
BatchNorm sees batch statistics of a 1/N slice (the source of the small accuracy differences between runs).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def is_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    if is_initialized():
        import torch.distributed as dist

        return dist.get_rank()
    return 0


def world_size() -> int:
    if is_initialized():
        import torch.distributed as dist

        return dist.get_world_size()
    return 1


def is_main() -> bool:
    """Only rank 0 writes files (build folder, teacher cache, checkpoints)."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env() -> bool:
    """Join the process group torchrun describes (gloo on CPU); True when running with more than one rank."""
    if not launched_by_torchrun():
        return False
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    return dist.get_world_size() > 1


def shutdown() -> None:
    if is_initialized():
        import torch.distributed as dist

        dist.destroy_process_group()


def barrier() -> None:
    if is_initialized():
        import torch.distributed as dist

        dist.barrier()


def local_slice(batch: int) -> slice:
    """This rank's contiguous part of a global batch of `batch` rows."""
    size, me = world_size(), rank()
    return slice(me * batch // size, (me + 1) * batch // size)


def broadcast_object(value: Any) -> Any:
    """Rank 0's `value` on every rank (pickled over the process group: internal data only, never user files)."""
    if not is_initialized() or world_size() == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sync_buffers(model: "torch.nn.Module") -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank: parameters are already equal under
    DDP, but each rank updates its buffers on its own slice of the batch."""
    if not is_initialized() or world_size() == 1:
        return
    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def wrap(model: "torch.nn.Module") -> "torch.nn.Module":
    """DDP around `model` when there are several ranks (gradients averaged at every step), else `model`."""
    if world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model)
