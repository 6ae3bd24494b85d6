"""Data parallelism under `torchrun`: the process group, this process's rank, reductions and gathers.

A process belongs to a group only when torchrun started it with `WORLD_SIZE > 1`; otherwise every
helper here is the single-process identity (rank 0 of 1, no `torch.distributed` call), so code that
uses them behaves exactly as before when run without torchrun. Backend: NCCL on CUDA, gloo on CPU.
Photos are split across ranks by `mine(n)`: rank r takes photos r, r + world, r + 2 world, ...
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist

TIMEOUT = timedelta(minutes=30)  # a collective that waits longer than this fails instead of hanging


class DistributedError(RuntimeError):
    """A distributed run that cannot work as configured (more ranks than photos, a bad environment)."""


def env_world() -> int:
    """`WORLD_SIZE` as torchrun sets it (1 without torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise DistributedError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a whole number") from None


def env_rank() -> int:
    """`RANK` as torchrun sets it (0 without torchrun); valid also after the group is destroyed."""
    return int(os.environ.get("RANK", "0") or 0)


def active() -> bool:
    """Whether this process is one of several in an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes records, checkpoints and logs."""
    return rank() == 0


def local_device(device: str) -> str:
    """`cuda` becomes `cuda:<LOCAL_RANK>` under torchrun (one GPU per process); other devices unchanged."""
    if env_world() > 1 and device == "cuda":
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


@contextlib.contextmanager
def process_group(device: str) -> Iterator[str]:
    """Join torchrun's group for the block (no-op without torchrun); yields this process's device.

    Initialises from the environment (`MASTER_ADDR`, `RANK`, `WORLD_SIZE`, ...), NCCL for CUDA
    devices and gloo otherwise, and destroys the group at the end, also on error.
    """
    if env_world() <= 1 or (dist.is_available() and dist.is_initialized()):
        yield device
        return
    device = local_device(device)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=TIMEOUT)
    try:
        yield device
    finally:
        dist.destroy_process_group()


def mine(n: int) -> range:
    """The indices of `n` items that this rank handles: `rank, rank + world, ...`."""
    return range(rank(), n, world())


def sum_all(values: list[float]) -> list[float]:
    """Element-wise sum of `values` over ranks (float64); the values themselves in one process."""
    if not active():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return t.cpu().tolist()


def broadcast(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (pickled); `obj` itself in one process."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank; `[obj]` in one process."""
    if not active():
        return [obj]
    out: list[Any] = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def unshard(parts: list[Any], n: int) -> list[Any]:
    """Undo `mine`: `parts[r]` holds items r, r + world, ... of `n`; returns them in their original order."""
    out: list[Any] = [None] * n
    for r, part in enumerate(parts):
        for j, item in zip(range(r, n, len(parts)), part):
            out[j] = item
    return out


def map_rows(fn: Callable[[list[int]], np.ndarray], n: int) -> np.ndarray:
    """Sharded inference: `fn(indices)` gives one row per index (an `(len(indices), ...)` array).

    In one process this is `fn(list(range(n)))`. Under torchrun rank r computes the rows of
    indices r, r + world, ... and every rank gets the whole `(n, ...)` array in index order
    (gathered with `all_gather_object`). Ranks left without an index contribute nothing.
    """
    if not active():
        return np.asarray(fn(list(range(n))))
    part = np.asarray(fn(list(mine(n))))
    parts = gather(part)
    filled = [p for p in parts if len(p)]
    if not filled:
        return part
    out = np.empty((n, *filled[0].shape[1:]), dtype=filled[0].dtype)
    for r, rows in enumerate(parts):
        if len(rows):
            out[r::len(parts)] = rows
    return out


def barrier() -> None:
    if active():
        dist.barrier()
