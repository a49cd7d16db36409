"""Data-parallel training over several processes (``torch.distributed``, DistributedDataParallel).

Run a training under ``torchrun``::

    torchrun --nproc_per_node 2 -m aiva.cli train --family flow --data ev.parquet --out run/
    torchrun --nproc_per_node 4 -m aiva.cli transfer --base numu-C12-inclusive-flow --data ev.parquet --out run/

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_from_env` (called by the CLI) then joins the process group with backend ``gloo`` on
CPU and ``nccl`` when CUDA is present (each process on GPU ``LOCAL_RANK``). Without those
variables, or with ``WORLD_SIZE = 1``, nothing changes: one process as before.

What is distributed (Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel
Training", VLDB 13 (2020) 3005, arXiv:2006.15704, Sec. 3):

* every rank holds the same model (DDP broadcasts rank 0's parameters when it wraps them) and the
  same optimiser; the training's RNG seeds are the run's, so every rank draws the same epoch
  permutation of the events;
* ``batch_size`` is the **global** batch: step s takes the same B indices on every rank and rank r
  keeps the r-th contiguous B/W of them (:meth:`DistContext.shard`), so the ranks together see
  exactly the one-process batch, each event once;
* backward averages the gradients over the ranks (the DDP all-reduce divides the sum by W). With
  equal shards the mean of the W shard-mean gradients is the gradient of the global batch mean,
  so the optimiser takes the one-process step up to the order of float summation;
* the logged loss of a step is the mean over ranks of the shard losses (the global batch mean);
* validation, checkpoint selection, checkpoints, the model card, the history and the log are
  written by rank 0 only; the others wait at the next collective. A stop by a time budget is
  rank 0's decision, broadcast, so every rank leaves the loop after the same epoch;
* resume: every rank reads rank 0's checkpoint (model, optimiser, RNG states are identical on all
  ranks, so one copy is enough).

The card's ``train_config`` records ``world_size`` (and the backend). Only the families trained
by a direct loss (``flow``, ``cfm``) run distributed; a GAN is refused.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from aiva.errors import AivaInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """This process's place in a data-parallel run."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that validates and writes."""
        return self.rank == 0

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous part of the global batch ``idx`` (len(idx) must divide by W)."""
        n = len(idx)
        if n % self.world_size:
            raise AivaInputError(f"batch of {n} events cannot be split evenly over {self.world_size} processes")
        k = n // self.world_size
        return idx[self.rank * k:(self.rank + 1) * k]

    def mean(self, values: tuple[float, ...]) -> tuple[float, ...]:
        """Mean over ranks of a few floats (float64 all-reduce)."""
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device())
        dist.all_reduce(t)
        return tuple(float(v) for v in (t / self.world_size).cpu())

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank."""
        return bool(self.from_main(1.0 if flag else 0.0))

    def from_main(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (float64 broadcast)."""
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64, device=self.device())
        dist.broadcast(t, src=0)
        return float(t.item())

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def device(self) -> torch.device:
        """The device collectives run on: CPU for gloo, this rank's GPU for nccl."""
        return torch.device(f"cuda:{self.local_rank}") if self.backend == "nccl" else torch.device("cpu")

    def record(self) -> dict[str, Any]:
        """What the card's ``train_config`` records about the run's processes."""
        return {"world_size": self.world_size, "backend": self.backend}


_CONTEXT: DistContext | None = None


def current() -> DistContext | None:
    """The active data-parallel context, or None in a one-process run."""
    return _CONTEXT


def is_main() -> bool:
    """True in a one-process run and on rank 0."""
    return _CONTEXT is None or _CONTEXT.is_main


def world_size() -> int:
    return 1 if _CONTEXT is None else _CONTEXT.world_size


def default_backend() -> str:
    """``nccl`` when CUDA is present (and nccl built in), else ``gloo``."""
    import torch.distributed as dist

    if torch.cuda.is_available() and dist.is_nccl_available():
        return "nccl"
    return "gloo"


def init(rank: int, world: int, *, backend: str | None = None, init_method: str | None = None,
         local_rank: int | None = None) -> DistContext | None:
    """Join a process group as ``rank`` of ``world`` (``init_method`` e.g. ``tcp://127.0.0.1:PORT``;
    default ``env://``, the ``MASTER_ADDR``/``MASTER_PORT`` of torchrun). ``world = 1`` is a
    one-process run: nothing is initialised and None returned. Ranks other than 0 log warnings only."""
    global _CONTEXT
    import torch.distributed as dist

    if world <= 1:
        return None
    if not dist.is_available():
        raise AivaInputError("this torch was built without torch.distributed: cannot train on several processes")
    if not 0 <= rank < world:
        raise AivaInputError(f"rank {rank} is outside 0..{world - 1}")
    backend = backend or default_backend()
    lr = rank if local_rank is None else local_rank
    if backend == "nccl":
        torch.cuda.set_device(lr)
    if not dist.is_initialized():
        dist.init_process_group(backend, init_method=init_method or "env://", rank=rank, world_size=world)
    _CONTEXT = DistContext(rank=rank, world_size=world, local_rank=lr, backend=backend)
    if rank != 0:
        logging.getLogger("aiva").setLevel(logging.WARNING)
    log.info(f"data-parallel training: {world} processes, backend {backend}")
    return _CONTEXT


def init_from_env() -> DistContext | None:
    """:func:`init` from torchrun's variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); None when
    they are absent or the world has one process."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return None
    try:
        world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise AivaInputError("RANK / WORLD_SIZE / LOCAL_RANK must be integers (as torchrun sets them)") from None
    return init(rank, world, local_rank=local)


def shutdown(barrier: bool = True) -> None:
    """Leave the process group (after a barrier, so that rank 0 has written everything; none after
    an error, when the other ranks may never reach it)."""
    global _CONTEXT
    import torch.distributed as dist

    if _CONTEXT is not None and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()
    _CONTEXT = None


def device_for(device: torch.device) -> torch.device:
    """The device of this rank: with CUDA, GPU ``LOCAL_RANK`` instead of the default one."""
    if _CONTEXT is not None and device.type == "cuda":
        return torch.device(f"cuda:{_CONTEXT.local_rank}")
    return device


class _Loss(nn.Module):
    """``model.loss(x, e)`` as a module's forward, so that DDP sees the forward pass it wraps."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        loss = getattr(self.model, "loss")  # every direct-loss family has one (flow, cfm)
        return loss(x, e)


def loss_function(model: nn.Module):
    """``model.loss`` in a one-process run; in a data-parallel one the same loss through a
    :class:`torch.nn.parallel.DistributedDataParallel` wrapper, built at the first call (after a
    resume has loaded the weights), whose backward averages the gradients over the ranks."""
    if _CONTEXT is None:
        return model.loss
    ctx = _CONTEXT
    holder: dict[str, nn.Module] = {}

    def loss(x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        if "ddp" not in holder:
            from torch.nn.parallel import DistributedDataParallel

            ids = [ctx.local_rank] if ctx.backend == "nccl" else None
            holder["ddp"] = DistributedDataParallel(_Loss(model), device_ids=ids)
        return holder["ddp"](x, e)

    return loss


def refuse(family: str) -> None:
    """Refuse a family that has no data-parallel training."""
    if _CONTEXT is not None and family not in ("flow", "cfm"):
        raise AivaInputError(f"--family {family}: data-parallel training (torchrun) is implemented for flow and cfm "
                             "only; run a GAN in one process")
