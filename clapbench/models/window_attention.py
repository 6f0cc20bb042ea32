"""HTSAT's shifted-window self-attention through torch's fused ``scaled_dot_product_attention``.

transformers' ``ClapAudioSelfAttention`` computes softmax(QK^T / sqrt(d) + relative-position bias + shift mask) V
eagerly: for every layer it writes the window-by-window score tensor, adds the bias and the mask to it in two
more passes, softmaxes it and multiplies again, and on the CPU its batched 64x64 matmuls run far below the
machine's GEMM speed. The fused kernel computes the same expression without those passes (1.5x the clips/s of
a full-size HTSAT forward on 2 CPU cores, benchmarks/README.md). The result differs from the eager one only in
float rounding (about 1e-7 on unit-norm embeddings; tests/test_window_attention.py bounds it against the
eager module), so it is recorded in the preprocessing, and the embedding cache keys on it.

The replacement is per module instance, never on the class: a reference ClapModel built in the same process
keeps transformers' own attention. Training (dropout on the probabilities) and ``output_attentions`` go to
the module's own forward.
"""

from __future__ import annotations

import inspect
import types
from typing import Any

import torch
import torch.nn.functional as F

ATTENTIONS = {
    "sdpa": "sdpa: HTSAT's window attention through torch's fused scaled_dot_product_attention, the same bias and shift "
            "mask (clapbench.models.window_attention)",
    "eager": "eager: transformers' ClapAudioSelfAttention as written",
}
ATTENTION_CHOICES = ("auto", "sdpa", "eager")
_FORWARD_PARAMETERS = ["self", "hidden_states", "attention_mask", "output_attentions"]
_MODULE_PARTS = ("query", "key", "value", "relative_position_bias_table", "relative_position_index",
                 "num_attention_heads", "attention_head_size", "window_size")


def window_attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The ClapAudioSelfAttention modules of ``model`` (a ClapModel or its audio tower)."""
    return [m for m in model.modules() if type(m).__name__ == "ClapAudioSelfAttention"]


def fusable(module: torch.nn.Module) -> bool:
    """Whether ``module`` is the ClapAudioSelfAttention this fused forward was written against: its parts and
    its forward's signature. Another transformers version's may not be, and then keeps its own forward."""
    if not all(hasattr(module, part) for part in _MODULE_PARTS):
        return False
    return list(inspect.signature(type(module).forward).parameters) == _FORWARD_PARAMETERS


def fuse_window_attention(model: torch.nn.Module) -> bool:
    """Route every window attention of ``model`` through the fused kernel. Returns False, changing nothing,
    when a module is not the one this was written against (see ``fusable``) or there is none."""
    modules = window_attention_modules(model)
    if not modules or not all(fusable(m) for m in modules):
        return False
    for module in modules:
        module.forward = types.MethodType(_fused_forward, module)
    return True


def _fused_forward(self: Any, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                   output_attentions: bool | None = False) -> tuple[torch.Tensor, ...]:
    if output_attentions or self.training:
        return type(self).forward(self, hidden_states, attention_mask, output_attentions)
    windows, tokens, _ = hidden_states.shape  # windows of every clip of the batch, clip-major
    heads, width = self.num_attention_heads, self.attention_head_size

    def split(projection: torch.nn.Linear) -> torch.Tensor:
        return projection(hidden_states).view(windows, tokens, heads, width).transpose(1, 2)

    bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
    bias = bias.view(tokens, tokens, heads).permute(2, 0, 1).unsqueeze(0)  # 1, heads, tokens, tokens
    if attention_mask is not None:  # the shift mask, one per window position: repeat it for every clip
        per_clip = attention_mask.shape[0]
        bias = (bias + attention_mask.unsqueeze(1)).unsqueeze(0)
        bias = bias.expand(windows // per_clip, per_clip, heads, tokens, tokens).reshape(windows, heads, tokens, tokens)
    context = F.scaled_dot_product_attention(split(self.query), split(self.key), split(self.value), attn_mask=bias.to(hidden_states.dtype))
    return (context.transpose(1, 2).reshape(windows, tokens, heads * width),)
