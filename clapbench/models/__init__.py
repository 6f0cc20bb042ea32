"""Model loading: every family returns a LoadedModel that follows the AudioTextModel contract."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from clapbench.errors import ModelError
from clapbench.models.hashing import weights_sha256
from clapbench.models.protocol import AudioTextModel, LoadedModel, check_embeddings

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

__all__ = ["AudioTextModel", "LoadedModel", "check_embeddings", "load_model", "resolve_device", "DTYPES"]


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise ModelError(f"--device {device}: not a device name; expected auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ModelError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); expected cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def load_model(spec: str, device: str = "auto", dtype: str = "float32", seed: int = 0, model_id: str | None = None) -> LoadedModel:
    """Load ``spec``: a HF ClapModel folder, or a plugin ``package.module:factory``."""
    from clapbench.models.hf_clap import HFClapModel, is_hf_clap_folder
    from clapbench.models.plugin import load_plugin, looks_like_plugin

    device = resolve_device(device)
    if dtype not in DTYPES:
        raise ModelError(f"--dtype {dtype}: expected one of {', '.join(DTYPES)}")
    path = Path(spec).expanduser()
    if path.is_dir():
        if not is_hf_clap_folder(path):
            raise ModelError(
                f"{path}: not a CLAP checkpoint folder; expected config.json with model_type 'clap', "
                "the weights (model.safetensors) and the processor files that save_pretrained writes"
            )
        model = HFClapModel(path, device=device, dtype=DTYPES[dtype], seed=seed)
        return LoadedModel(
            model=model,
            model_id=model_id or _slug(path.resolve().name),
            path=str(path.resolve()),
            kind="hf-clap",
            sha256=weights_sha256(path),
            device=device,
            dtype=dtype,
            preprocessing=model.describe(),
        )
    if path.exists():
        raise ModelError(f"{path}: a file, not a checkpoint folder; expected a HF ClapModel folder or a plugin package.module:factory")
    if looks_like_plugin(spec):
        model = load_plugin(spec, device=device, dtype=dtype, seed=seed)
        describe = getattr(model, "describe", None)
        preprocessing = dict(describe()) if callable(describe) else {}
        preprocessing.setdefault("sample_rate", int(model.sample_rate))
        return LoadedModel(
            model=model,
            model_id=model_id or _slug(spec.replace(":", ".")),
            path=spec,
            kind="plugin",
            sha256=getattr(model, "sha256", None),  # a plugin may name its weights; none is claimed for it
            device=device,
            dtype=dtype,
            preprocessing=preprocessing,
        )
    raise ModelError(
        f"--model {spec}: no such folder, and not a plugin spec; expected a HF ClapModel folder "
        "(config.json, model.safetensors, processor files) or package.module:factory"
    )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"
