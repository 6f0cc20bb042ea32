"""`clapbench check-model`: load a model, embed a few seconds of generated audio and a few prompts, caption the
audio when the model captions, report."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from clapbench.models.contract import LoadedModel, audio_forward

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
    from clapbench.audio.synth import synth_sound

    model = loaded.model
    rng = np.random.default_rng(seed)
    waves = [synth_sound(kind, seconds, loaded.sample_rate, rng) for kind in SOUNDS]
    started = time.perf_counter()
    prepare, embed = audio_forward(model)  # the path every evaluation takes; unchecked: this report says what is wrong
    audio = np.asarray(embed([prepare(w) for w in waves] if prepare is not None else waves), dtype=np.float32)
    has_text = callable(getattr(model, "embed_text", None))  # a captioner such as clapcap has no text tower
    text = np.asarray(model.embed_text(list(PROMPTS)), dtype=np.float32) if has_text else np.zeros((len(PROMPTS), audio.shape[-1]), dtype=np.float32)
    problems = []
    captions = None
    if callable(getattr(model, "caption", None)):
        captions = model.caption(waves)
        if not isinstance(captions, list) or len(captions) != len(waves) or not all(isinstance(c, str) for c in captions):
            problems.append(f"caption() returned {type(captions).__name__} {captions!r:.80}; expected a list of {len(waves)} strings")
            captions = None
    elapsed = time.perf_counter() - started
    finite = bool(np.isfinite(audio).all() and np.isfinite(text).all())
    norms = np.concatenate([np.linalg.norm(audio, axis=1), *([np.linalg.norm(text, axis=1)] if has_text else [])]) if finite else np.array([np.nan])
    if audio.shape[0] != len(waves) or text.shape[0] != len(PROMPTS):
        problems.append(f"got {audio.shape[0]} audio and {text.shape[0]} text embeddings for {len(waves)} clips and {len(PROMPTS)} prompts")
    if audio.ndim != 2 or text.ndim != 2 or audio.shape[-1] != text.shape[-1]:
        problems.append(f"audio embeddings {audio.shape} and text embeddings {text.shape} do not share a space")
    if not finite:
        problems.append("embeddings hold NaN or infinite values")
    optional = check_optional_methods(model, waves, loaded.sample_rate, audio, text, problems)
    similarity = (audio @ text.T).round(4).tolist() if not problems and has_text else None
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
        "prompts": list(PROMPTS) if has_text else [],
        "text_encoder": has_text,
        "similarity": similarity,
        "captions": captions,
        "elapsed_seconds": round(elapsed, 3),
        "optional": optional,
        "problems": problems,
        "warnings": list(getattr(model, "warnings", [])),
    }


def check_optional_methods(model: Any, waves: list[np.ndarray], sample_rate: int, audio: np.ndarray, text: np.ndarray, problems: list[str]) -> dict[str, str]:
    """Check what a model offers beyond the required contract; each finding is 'absent', 'ok' or why not (also in ``problems``)."""
    from clapbench.errors import ModelError
    from clapbench.models.contract import check_frames, has_frames

    out: dict[str, str] = {}
    prepare, embed_features = getattr(model, "audio_preprocessor", None), getattr(model, "embed_audio_features", None)
    if (prepare is None) != (embed_features is None):
        out["fast_path"] = "audio_preprocessor and embed_audio_features come together; only one is defined"
    elif prepare is None:
        out["fast_path"] = "absent"
    else:
        # the fast path must give what embed_audio gives, or results would depend on which one ran
        direct = np.asarray(model.embed_audio(waves), dtype=np.float32)
        fast = audio if audio.shape == direct.shape else None
        gap = float(np.abs(fast - direct).max() / max(np.abs(direct).max(), 1e-12)) if fast is not None else np.inf
        out["fast_path"] = "ok" if gap <= 1e-4 else f"embed_audio_features(audio_preprocessor(w)) differs from embed_audio(w) by {gap:.3g} of its scale"
    if not has_frames(model):
        out["frames"] = "absent" if getattr(model, "embed_audio_frames", None) is None else "embed_audio_frames without frame_rate"
    else:
        try:
            frames = check_frames(model.embed_audio_frames(waves), len(waves))
            rate = float(model.frame_rate)
            expected = [len(w) / sample_rate * rate for w in waves]
            if frames[0].shape[1] != text.shape[1]:
                out["frames"] = f"frame embeddings have {frames[0].shape[1]} dimensions, text embeddings {text.shape[1]}"
            elif any(abs(len(f) - e) > 1 + 0.05 * e for f, e in zip(frames, expected)):
                out["frames"] = f"{[len(f) for f in frames]} frames for clips that hold {[round(e, 1) for e in expected]} frames at {rate:g}/s"
            else:
                out["frames"] = f"ok ({rate:g} frames/s, {[len(f) for f in frames]} frames)"
        except ModelError as exc:
            out["frames"] = str(exc)
    out["describe"] = "ok" if callable(getattr(model, "describe", None)) else "absent"
    problems.extend(f"{k}: {v}" for k, v in out.items() if v not in ("ok", "absent") and not v.startswith("ok "))
    return out
