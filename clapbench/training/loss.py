"""Symmetric contrastive (InfoNCE) loss over the global batch, with the model's learnable temperatures.

Each rank holds a shard of the batch. The embeddings of every rank are gathered with an autograd-aware
all_gather (its backward sends each rank the gradient for its own shard), and each rank scores its own
rows against the whole batch (OpenCLIP's local loss). The mean of the ranks' losses is the loss of the
whole batch on one process, and DistributedDataParallel's gradient average is its exact gradient.

The temperatures are the ClapModel's ``logit_scale_a`` (audio rows against all captions) and
``logit_scale_t`` (caption rows against all clips), as in LAION-CLAP.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(world * n, D): every rank's ``x``, rank order; gradients flow back to each rank's own shard."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def contrastive_loss(
    audio: torch.Tensor,
    text: torch.Tensor,
    scale_a: torch.Tensor,
    scale_t: torch.Tensor,
) -> torch.Tensor:
    """This rank's share of the symmetric InfoNCE loss; ``audio`` and ``text`` are its (n, D) L2-normalised
    embeddings, row i of each from the same example; ``scale_*`` are exp(logit_scale_*)."""
    # half-precision embeddings (autocast) are scored in float32; float32 and float64 stay as they are
    audio, text, scale_a, scale_t = (_at_least_float32(x) for x in (audio, text, scale_a, scale_t))
    all_audio, all_text = gather_with_grad(audio), gather_with_grad(text)
    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    targets = torch.arange(audio.shape[0], device=audio.device) + rank * audio.shape[0]
    logits_audio = scale_a * audio @ all_text.T
    logits_text = scale_t * text @ all_audio.T
    return (F.cross_entropy(logits_audio, targets) + F.cross_entropy(logits_text, targets)) / 2
