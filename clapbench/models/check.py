"""`clapbench check-model`: load a model, embed a few seconds of generated audio and a few prompts, report."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from clapbench.models.protocol import LoadedModel

SOUNDS = ("low_tone", "white_noise", "rising_chirp")
PROMPTS = ("This is a sound of a dog barking.", "this is the sound of rain", "a low tone")


def parameter_count(model: Any) -> int | None:
    count = getattr(model, "parameter_count", None)
    if callable(count):
        return int(count())
    torch_model = getattr(model, "model", None)  # the HF adapter holds its ClapModel here
    if torch_model is not None and hasattr(torch_model, "parameters"):
        return int(sum(p.numel() for p in torch_model.parameters()))
    return None


def check_model(loaded: LoadedModel, seconds: float = 3.0, seed: int = 0) -> dict[str, Any]:
    """Embed generated clips (through the model's own preprocessing) and prompts; report what came out."""
    from clapbench.demo.synth import synth_sound

    model = loaded.model
    rng = np.random.default_rng(seed)
    waves = [synth_sound(kind, seconds, loaded.sample_rate, rng) for kind in SOUNDS]
    started = time.perf_counter()
    prepare = getattr(model, "audio_preprocessor", None)
    embed_features = getattr(model, "embed_audio_features", None)
    if prepare is not None and embed_features is not None:
        audio = np.asarray(embed_features([prepare(w) for w in waves]), dtype=np.float32)
    else:
        audio = np.asarray(model.embed_audio(waves), dtype=np.float32)
    text = np.asarray(model.embed_text(list(PROMPTS)), dtype=np.float32)
    elapsed = time.perf_counter() - started
    finite = bool(np.isfinite(audio).all() and np.isfinite(text).all())
    norms = np.concatenate([np.linalg.norm(audio, axis=1), np.linalg.norm(text, axis=1)]) if finite else np.array([np.nan])
    problems = []
    if audio.shape[0] != len(waves) or text.shape[0] != len(PROMPTS):
        problems.append(f"got {audio.shape[0]} audio and {text.shape[0]} text embeddings for {len(waves)} clips and {len(PROMPTS)} prompts")
    if audio.ndim != 2 or text.ndim != 2 or audio.shape[-1] != text.shape[-1]:
        problems.append(f"audio embeddings {audio.shape} and text embeddings {text.shape} do not share a space")
    if not finite:
        problems.append("embeddings hold NaN or infinite values")
    similarity = (audio @ text.T).round(4).tolist() if not problems else None
    return {
        "model": loaded.model_id,
        "path": loaded.path,
        "family": loaded.family,
        "variant": loaded.variant,
        "parameters": parameter_count(model),
        "embedding_dim": int(audio.shape[-1]) if audio.ndim == 2 else None,
        "sample_rate": loaded.sample_rate,
        "protocol": loaded.preprocessing.get("protocol"),
        "clip_seconds": loaded.preprocessing.get("clip_seconds"),
        "prompt": loaded.preprocessing.get("prompt"),
        "finite": finite,
        "normalised": bool(finite and np.abs(norms - 1).max() < 1e-3),
        "max_norm_error": float(np.abs(norms - 1).max()) if finite else None,
        "audio_clips": [f"{k} ({seconds:g} s)" for k in SOUNDS],
        "prompts": list(PROMPTS),
        "similarity": similarity,
        "elapsed_seconds": round(elapsed, 3),
        "problems": problems,
        "warnings": list(getattr(model, "warnings", [])),
    }
