"""Which CLAP family a checkpoint file belongs to, told from its keys; and loading it with that family's code."""

from __future__ import annotations

from pathlib import Path

import torch

from clapbench.errors import ModelError
from clapbench.models.checkpoint import read_state_dict
from clapbench.models.presets import FAMILY_CHOICES, canonical_family, resolve_protocol

__all__ = ["FAMILY_CHOICES", "detect_family", "load_checkpoint_model", "unknown_layout"]

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")


def detect_family(state: dict[str, torch.Tensor]) -> str | None:
    """'msclap-2022', 'msclap-2023', 'clapcap', 'laion-clap', or None for a layout clapbench does not know."""
    keys = list(state)
    if all(any(k.startswith(p) for k in keys) for p in ("clap.", "clap_project.", "gpt.")):
        return "clapcap"  # MS-CLAP's captioner: audio encoder, mapper, GPT-2 decoder
    if any(k.startswith("audio_encoder.") for k in keys) and any(k.startswith("caption_encoder.") for k in keys):
        gpt2 = "caption_encoder.base.wte.weight" in state
        htsat = any(k.startswith("audio_encoder.base.htsat.") for k in keys)
        return "msclap-2023" if (gpt2 or htsat) else "msclap-2022"
    if any(k.startswith("audio_branch.") for k in keys) and any(k.startswith("text_branch.") for k in keys):
        return "laion-clap"
    return None


def unknown_layout(path: Path, state: dict[str, torch.Tensor]) -> str:
    keys = list(state)
    if any(k.startswith(("audio_model.", "text_model.")) for k in keys):
        return (
            f"{path}: a transformers ClapModel state dict; pass the folder save_pretrained writes "
            "(config.json, model.safetensors and the processor files) instead"
        )
    sample = ", ".join(keys[:4]) or "none"
    return (
        f"{path}: not a CLAP checkpoint layout clapbench knows (first keys: {sample}); expected MS-CLAP "
        "(audio_encoder.*, caption_encoder.*, logit_scale), MS-CLAP's captioner clapcap (clap.*, clap_project.*, gpt.*) "
        "or LAION-CLAP (audio_branch.*, text_branch.*, logit_scale_a/t); --family msclap-2022|msclap-2023|clapcap|laion-clap "
        "forces one and names the first key that does not fit"
    )


def load_checkpoint_model(path: Path, family: str | None = None, protocol: str = "native", tokenizer: str | None = None,
                          device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0, decoding=None):
    """A model adapter (MSClapModel, ClapCapModel or LaionClapModel) for a checkpoint file.

    ``decoding`` (a BeamOptions) applies to captioners; None keeps the original's settings."""
    family = canonical_family(family)
    if family == "hf-clap":
        raise ModelError(f"--family hf-clap: {path} is a file; a transformers ClapModel is a folder (config.json, model.safetensors, processor files)")
    state = read_state_dict(path)
    family = family or detect_family(state)
    if family is None:
        raise ModelError(unknown_layout(path, state))
    preset = resolve_protocol(protocol, family)
    source = str(path)
    if family == "clapcap":
        from clapbench.models.clapcap import ClapCapModel

        return ClapCapModel(state, source, preset, tokenizer=tokenizer, device=device, dtype=dtype, seed=seed, decoding=decoding)
    if decoding is not None:
        raise ModelError(f"{path}: --beam-size, --entry-length, --temperature and --stop-token apply to captioners (clapcap); this is a {family} checkpoint")
    if family.startswith("msclap-"):
        from clapbench.models.msclap import MSClapModel

        return MSClapModel(state, family.split("-")[1], source, preset, tokenizer=tokenizer, device=device, dtype=dtype, seed=seed)
    from clapbench.models.laion_clap import LaionClapModel

    return LaionClapModel(state, source, preset, tokenizer=tokenizer, device=device, dtype=dtype, seed=seed)
