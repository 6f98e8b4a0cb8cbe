"""Data-parallel training: the :class:`~neuroai.training.Trainer` under
``torch.distributed``.

Launch one process per device with ``torchrun``; each builds the same model
(same seed), a loader whose :func:`sampler` gives it its share of every
batch, and a Trainer. The Trainer sees the process group, wraps the model in
``DistributedDataParallel`` (gradients averaged across processes in the
backward pass), averages the logged loss and metrics over all processes,
shows progress and writes checkpoints and logs on rank 0 only::

    # torchrun --nproc_per_node 2 train.py
    from neuroai.training import Trainer, distributed
    ctx = distributed.init()                       # gloo on CPU, NCCL on CUDA
    loader = DataLoader(data, batch_size=global_batch // ctx.world_size,
                        sampler=distributed.sampler(data, seed=0))
    Trainer(model, loss, optimizer, device=ctx.device, seed=0).fit(loader, epochs=10)
    distributed.shutdown()

With a mean-reduced loss and a data set that splits evenly, k processes
with per-process batch B/k take the same steps as one process with batch B
over the same sampler order (``sampler`` without a process group is that
single process). Layers that mix samples within a batch (batch norm) see
only the local batch unless converted with
``torch.nn.SyncBatchNorm.convert_sync_batchnorm``. Optimizers that need a
closure (L-BFGS, line searches) make per-process decisions from local losses
and are refused.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from .. import validation as _v


@dataclass(frozen=True)
class Context:
    """This process's place in the group: ``rank`` in [0, ``world_size``),
    ``local_rank`` on its machine, and the ``device`` it should train on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device


def active() -> bool:
    """Whether a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """Whether this process writes files and shows progress (rank 0)."""
    return rank() == 0


def init(backend: str | None = None) -> Context:
    """Join the process group ``torchrun`` describes in the environment
    (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
    ``MASTER_PORT``). backend: ``"gloo"`` or ``"nccl"`` (default: NCCL when
    CUDA is available, else gloo). On CUDA, process ``local_rank`` uses GPU
    ``local_rank``. Without those variables (a plain ``python`` run) nothing
    is initialized and the context is rank 0 of 1."""
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if "WORLD_SIZE" not in os.environ:
        return Context(0, 1, 0, device)
    backend = _v.choice("distributed.init", "backend", backend or ("nccl" if cuda else "gloo"), ("gloo", "nccl"))
    if backend == "nccl" and not cuda:
        raise ValueError("distributed.init: backend 'nccl' needs CUDA, which is not available (use 'gloo')")
    if cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return Context(dist.get_rank(), dist.get_world_size(), local, device)


def shutdown() -> None:
    """Wait for every process, then leave the process group (nothing to do
    without one): a process that left early would cut its peers' pending
    connections."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def sampler(dataset, *, shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> DistributedSampler:
    """This process's share of ``dataset``: each epoch a permutation drawn
    from ``seed`` and the epoch number (the Trainer calls ``set_epoch``),
    dealt out in turn, rank r taking elements r, r + k, r + 2k, ... of it, so
    batch i of every process together are the elements of batch i of the
    permutation. Without a process group, the whole permutation. Unless
    ``drop_last``, a data set that does not split evenly is padded with its
    first elements."""
    seed = _v.seed("distributed.sampler", seed)
    return DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=shuffle, seed=seed,
                              drop_last=drop_last)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over all processes, in place (unchanged without a
    process group)."""
    if active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


__all__ = ["Context", "active", "rank", "world_size", "is_main", "init", "shutdown", "sampler", "all_reduce_sum"]
