"""Toy models the tests share: real features of synthesized sounds through the model contract.

``SpectrumModel`` (log band energies; counts what it embeds) is a plugin (``--model toy_models:spectrum_model``)
and, wrapped by ``loaded_model``, a loaded model for the library's functions. The spectral plugins that hear the
demo classes are in ``plugins_spectral.py``; CLI runners and task-file copies are in ``conftest.py``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from clapbench.models.contract import LoadedModel

SR = 16000


class SpectrumModel:
    """A plugin model whose audio embeddings are log band energies of the clip's spectrum (+ impulsiveness).

    Real features a linear probe can separate on the synthesized classes; it counts the clips it
    embeds so tests can see what was computed and what came from the cache.
    """

    sample_rate = SR
    embedded_clips = 0  # over all instances, for models the CLI builds

    def __init__(self, sha256: str | None = "5ec7" * 16, clip_seconds: float = 1.0, fail_after_batches: int | None = None):
        self.sha256 = sha256
        self.clip_seconds = clip_seconds
        self.fail_after_batches = fail_after_batches
        self.batches = 0
        self.clips = 0
        self.texts = 0

    def describe(self) -> dict:
        return {"sample_rate": SR, "clip_seconds": self.clip_seconds, "features": "48 log band energies + 4 frame-energy percentiles"}

    def embed_audio(self, waves: list[np.ndarray]) -> np.ndarray:
        if self.fail_after_batches is not None and self.batches >= self.fail_after_batches:
            raise RuntimeError("simulated crash in the middle of a run")
        self.batches += 1
        self.clips += len(waves)
        SpectrumModel.embedded_clips += len(waves)
        return np.stack([clip_features(w, int(self.clip_seconds * SR)) for w in waves])

    def embed_text(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little") for t in texts]
        return np.stack([np.random.default_rng(s).standard_normal(52) for s in seeds]).astype(np.float32)


def clip_features(wave: np.ndarray, n: int) -> np.ndarray:
    """48 log band energies of the spectrum, and 4 percentiles of 5 ms frame log-energies (impulsiveness)."""
    clip = np.zeros(n, dtype=np.float64)
    clip[: min(n, len(wave))] = wave[:n]
    power = np.abs(np.fft.rfft(clip * np.hanning(n))) ** 2
    freqs = np.fft.rfftfreq(n, 1 / SR)
    edges = np.geomspace(40, SR / 2, 49)
    bands = np.log([power[(freqs >= lo) & (freqs < hi)].mean() + 1e-10 for lo, hi in zip(edges[:-1], edges[1:])])
    frames = np.log((clip[: n // 80 * 80].reshape(-1, 80) ** 2).mean(axis=1) + 1e-10)
    return np.concatenate([bands, np.percentile(frames, [10, 50, 90, 100]) - frames.mean()]).astype(np.float32)


def spectrum_model(**kwargs) -> SpectrumModel:
    """Plugin factory: ``--model toy_models:spectrum_model``."""
    return SpectrumModel()


def loaded_model(model: SpectrumModel) -> LoadedModel:
    return LoadedModel(model=model, model_id="spectrum", path="toy_models:spectrum_model", kind="plugin",
                       sha256=model.sha256, device="cpu", dtype="float32", preprocessing=model.describe())


