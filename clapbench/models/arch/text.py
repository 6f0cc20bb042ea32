"""Text towers: transformers' BERT, RoBERTa and GPT-2 built from config, sized from the checkpoint.

The originals call ``from_pretrained('bert-base-uncased' | 'roberta-base' | 'gpt2')`` and then overwrite
the weights with the checkpoint's. clapbench builds the same classes from the hub configs of those
models (written out below, no download) with the sizes read from the checkpoint's tensors.
"""

from __future__ import annotations

from typing import Any

import torch

# The hub configs the originals load (bert-base-uncased, roberta-base, gpt2); sizes are then read from the weights.
BASE_CONFIGS: dict[str, dict[str, Any]] = {
    "bert": dict(
        vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
    ),
    "roberta": dict(
        vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        hidden_act="gelu", max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    ),
    "gpt2": dict(
        vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, activation_function="gelu_new",
        layer_norm_epsilon=1e-5, bos_token_id=50256, eos_token_id=50256,
    ),
}

HUB_NAMES = {"bert": "bert-base-uncased", "roberta": "roberta-base", "gpt2": "gpt2"}


def _heads(hidden: int) -> int:
    # Not readable from the weights; the published models all use 64-wide heads.
    return max(1, hidden // 64)


def _count(state: dict[str, torch.Tensor], prefix: str) -> int | None:
    ids = {k[len(prefix) :].split(".")[0] for k in state if k.startswith(prefix)}
    nums = [int(i) for i in ids if i.isdigit()]
    return max(nums) + 1 if nums else None


def text_config(kind: str, state: dict[str, torch.Tensor], prefix: str):
    """A transformers config for ``kind`` with the sizes of the tensors under ``prefix``."""
    from transformers import BertConfig, GPT2Config, RobertaConfig

    values = dict(BASE_CONFIGS[kind])
    if kind in ("bert", "roberta"):
        words = state.get(prefix + "embeddings.word_embeddings.weight")
        if words is not None and words.ndim == 2:
            values.update(vocab_size=int(words.shape[0]), hidden_size=int(words.shape[1]), num_attention_heads=_heads(int(words.shape[1])))
        pos = state.get(prefix + "embeddings.position_embeddings.weight")
        if pos is not None and pos.ndim == 2:
            values["max_position_embeddings"] = int(pos.shape[0])
        types = state.get(prefix + "embeddings.token_type_embeddings.weight")
        if types is not None and types.ndim == 2:
            values["type_vocab_size"] = int(types.shape[0])
        layers = _count(state, prefix + "encoder.layer.")
        if layers:
            values["num_hidden_layers"] = layers
        inter = state.get(prefix + "encoder.layer.0.intermediate.dense.weight")
        if inter is not None and inter.ndim == 2:
            values["intermediate_size"] = int(inter.shape[0])
        return (BertConfig if kind == "bert" else RobertaConfig)(**values)
    words = state.get(prefix + "wte.weight")
    if words is not None and words.ndim == 2:
        values.update(vocab_size=int(words.shape[0]), n_embd=int(words.shape[1]), n_head=_heads(int(words.shape[1])))
        values["bos_token_id"] = values["eos_token_id"] = int(words.shape[0]) - 1  # <|endoftext|> is the last token
    pos = state.get(prefix + "wpe.weight")
    if pos is not None and pos.ndim == 2:
        values["n_positions"] = int(pos.shape[0])
    layers = _count(state, prefix + "h.")
    if layers:
        values["n_layer"] = layers
    inter = state.get(prefix + "h.0.mlp.c_fc.weight")
    if inter is not None and inter.ndim == 2:
        values["n_inner"] = int(inter.shape[1]) if int(inter.shape[1]) != 4 * values["n_embd"] else None
    return GPT2Config(**values)


def build_text_model(kind: str, config) -> torch.nn.Module:
    from transformers import BertModel, GPT2Model, RobertaModel

    if kind == "bert":
        return BertModel(config, add_pooling_layer=True)
    if kind == "roberta":
        return RobertaModel(config, add_pooling_layer=True)
    return GPT2Model(config)


def legacy_text_buffers(kind: str, prefix: str, keys) -> list[str]:
    """Keys older transformers saved as persistent buffers and current ones rebuild: not weights.

    BERT/RoBERTa ``embeddings.position_ids`` (an arange) and GPT-2's per-layer causal mask
    ``attn.bias`` / ``attn.masked_bias``; the originals load with them (MS-CLAP with strict=False,
    LAION-CLAP deleting position_ids first).
    """
    if kind in ("bert", "roberta"):
        wanted = {prefix + "embeddings.position_ids", prefix + "embeddings.token_type_ids"}
        return [k for k in keys if k in wanted]
    return [k for k in keys if k.startswith(prefix + "h.") and (k.endswith(".attn.bias") or k.endswith(".attn.masked_bias"))]
