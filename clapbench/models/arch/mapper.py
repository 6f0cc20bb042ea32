"""clapcap's mapping network: a transformer that turns an audio embedding into a GPT-2 prefix.

Parameter names and computation as ``TransformerMapper`` in microsoft/CLAP ``msclap/models/mapper.py``:
``linear`` maps the embedding to ``clip_length`` vectors, a learned ``prefix_const`` of ``prefix_length``
vectors is appended, ``transformer.layers.N`` (pre-norm self-attention, 8 heads, query/key/value without
bias, MLP ratio 2, ReLU) run over both, and the outputs at the ``prefix_const`` positions are the prefix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HEADS = 8  # TransformerMapper passes 8 heads to its Transformer
MLP_RATIO = 2.0  # the Transformer's default, which TransformerMapper keeps


class MultiHeadAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.num_heads = heads
        self.scale = (dim // heads) ** -0.5
        self.to_queries = nn.Linear(dim, dim, bias=False)
        self.to_keys_values = nn.Linear(dim, 2 * dim, bias=False)
        self.project = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        h = self.num_heads
        queries = self.to_queries(x).reshape(b, n, h, c // h)
        keys_values = self.to_keys_values(x).reshape(b, n, 2, h, c // h)
        keys, values = keys_values[:, :, 0], keys_values[:, :, 1]
        # The original's einsum layout (b, n, m, h) and softmax over m, kept for identical rounding.
        attention = (torch.einsum("bnhd,bmhd->bnmh", queries, keys) * self.scale).softmax(dim=2)
        return self.project(torch.einsum("bnmh,bmhd->bnhd", attention, values).reshape(b, n, c))


class MlpTransformer(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


class TransformerLayer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MlpTransformer(dim, int(dim * MLP_RATIO))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, dim: int, heads: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(TransformerLayer(dim, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class TransformerMapper(nn.Module):
    def __init__(self, dim_clip: int, dim_embedding: int, prefix_length: int, clip_length: int, num_layers: int):
        super().__init__()
        self.clip_length = clip_length
        self.transformer = Transformer(dim_embedding, HEADS, num_layers)
        self.linear = nn.Linear(dim_clip, clip_length * dim_embedding)
        self.prefix_const = nn.Parameter(torch.zeros(prefix_length, dim_embedding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x).view(x.shape[0], self.clip_length, -1)
        prefix = self.prefix_const.unsqueeze(0).expand(x.shape[0], *self.prefix_const.shape)
        return self.transformer(torch.cat((x, prefix), dim=1))[:, self.clip_length :]

    @staticmethod
    def sizes(state: dict[str, torch.Tensor], prefix: str) -> dict[str, int] | None:
        """(dim_clip, dim_embedding, prefix_length, clip_length, num_layers) read from the weights under ``prefix``."""
        const, linear = state.get(prefix + "prefix_const"), state.get(prefix + "linear.weight")
        if const is None or linear is None or const.ndim != 2 or linear.ndim != 2:
            return None
        dim = int(const.shape[1])
        layers = {k[len(prefix + "transformer.layers.") :].split(".")[0] for k in state if k.startswith(prefix + "transformer.layers.")}
        return dict(
            dim_clip=int(linear.shape[1]), dim_embedding=dim, prefix_length=int(const.shape[0]),
            clip_length=int(linear.shape[0]) // dim, num_layers=len([i for i in layers if i.isdigit()]),
        )
