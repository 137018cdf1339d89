"""torch.distributed under torchrun: who am I, and the two collectives the store needs.

``torchrun --nproc-per-node N $(which mire-eval) run ...`` starts N processes with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and a rendezvous in the environment (multi-node through
torchrun's own rendezvous options). :func:`init` joins the group once: NCCL when the run's
device is CUDA (each rank then owns ``cuda:LOCAL_RANK``, so ``--device cuda`` means "my GPU"),
gloo otherwise. A plain ``mire-eval run`` is a world of one and touches nothing.
"""

from __future__ import annotations

import atexit
import os
import sys
from dataclasses import dataclass

# torch is imported where a collective needs it: a world of one (every run not started by
# torchrun, e.g. a reused bm25 result) never loads it.


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict:
        """What meta.json records under ``"distributed"``."""
        return {"world_size": self.world_size, "backend": self.backend}


def world() -> World:
    """The current process group (a world of one when none is initialised)."""
    if "torch.distributed" not in sys.modules:  # no group can exist without it
        return World()
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), dist.get_backend())


def init(device: str = "cpu") -> World:
    """Join torchrun's process group if the environment asks for one (idempotent)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return world()
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        return world()
    if not dist.is_initialized():
        cuda = str(device).startswith("cuda")
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        atexit.register(_shutdown)
    return world()


def _shutdown() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def _device(w: World) -> torch.device:
    import torch

    return torch.device("cuda", torch.cuda.current_device()) if w.backend == "nccl" else torch.device("cpu")


def barrier() -> None:
    if world().world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def sum_ints(values: list[int]) -> list[int]:
    """Element-wise sum of small integer counters over all ranks."""
    w = world()
    if w.world_size == 1:
        return list(values)
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.int64, device=_device(w))
    dist.all_reduce(t)
    return t.cpu().tolist()


def all_gather_topk(vals: torch.Tensor, rows: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each rank's [nq, <=k] top-k (scores fp32, corpus rows int64) -> every rank's, [W, nq, k].

    Ranks holding fewer than ``k`` passages pad with (-inf, row 0), which never win a merge
    while the corpus has at least ``k`` passages.
    """
    import torch
    import torch.distributed as dist

    w = world()
    pad = k - vals.shape[1]
    if pad > 0:
        vals = torch.cat([vals, torch.full((vals.shape[0], pad), float("-inf"))], 1)
        rows = torch.cat([rows, torch.zeros((rows.shape[0], pad), dtype=torch.int64)], 1)
    if w.world_size == 1:
        return vals[None], rows[None]
    dev = _device(w)
    vals, rows = vals.float().contiguous().to(dev), rows.contiguous().to(dev)
    all_vals = [torch.empty_like(vals) for _ in range(w.world_size)]
    all_rows = [torch.empty_like(rows) for _ in range(w.world_size)]
    dist.all_gather(all_vals, vals)
    dist.all_gather(all_rows, rows)
    return torch.stack(all_vals).cpu(), torch.stack(all_rows).cpu()
