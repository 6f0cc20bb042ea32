"""Sharded evaluation under torchrun: every rank runs the same plan in lockstep, embeds its share of the clip
batches on its own device, and receives the others' embeddings, so every rank holds all of them and computes the
same scores; only rank 0 prints and writes.

    torchrun --nproc_per_node 2 -m clapbench run --model M --tasks esc50 --output results/

Batches are the ones a single process makes (fixed by dataset order and --batch-size), dealt to the ranks in
turn; each clip is embedded in the same company as in one process, so on one device type the scores are
bit-identical to a single-process run. Batches found in the embedding cache count only when every rank found
them (the ranks agree on what to compute); each rank caches the batches it computed (atomic renames, so ranks
never see each other's partial entries). A clip a rank cannot read is reported by all ranks in one message.
Gathering goes through torch.distributed with the gloo backend on the CPU, whatever device the model is on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Shard:
    rank: int
    world: int
    local_rank: int

    @property
    def writer(self) -> bool:
        return self.rank == 0


_SHARD: Shard | None = None


def shard_from_env(env=os.environ) -> Shard | None:
    """The shard torchrun's variables describe (RANK, WORLD_SIZE, LOCAL_RANK); None in a single process."""
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return None
    return Shard(rank, world, local) if world > 1 else None


def active() -> Shard | None:
    """This process's shard, with the process group joined on first use; None when not under torchrun."""
    global _SHARD
    if _SHARD is None:
        shard = shard_from_env()
        if shard is None:
            return None
        import torch.distributed as dist

        if not dist.is_initialized():
            # gloo on the CPU: what is exchanged is numpy embeddings and small lists, whatever the model's device.
            dist.init_process_group("gloo", timeout=timedelta(minutes=int(os.environ.get("CLAPBENCH_DIST_TIMEOUT_MIN", "60"))))
        _SHARD = shard
    return _SHARD


def all_gather(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order."""
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def device_for(device: str, shard: Shard | None) -> str:
    """Each rank on its own GPU: 'auto' and 'cuda' become cuda:LOCAL_RANK when CUDA is there."""
    if shard is None or device not in ("auto", "cuda"):
        return device
    import torch

    if torch.cuda.is_available():
        return f"cuda:{shard.local_rank % torch.cuda.device_count()}"
    return "cpu" if device == "auto" else device
