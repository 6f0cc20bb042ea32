"""A plugin model that really hears the demo classes: log band energies of the spectrum.

Text embeddings are the audio embedding of a synthesized example of the class named in the prompt,
so zero-shot classification works through the real code path. ``spectral_model(confuse=k)`` swaps
the prompts of the first k class pairs: a model made worse on purpose.
"""

from __future__ import annotations

import numpy as np

from clapbench.audio.synth import DEMO_CLASSES, synth_sound

RATE = 8000


def band_features(wave: np.ndarray, n_bands: int = 24) -> np.ndarray:
    spec = np.abs(np.fft.rfft(wave, n=4096)) ** 2
    edges = np.unique(np.geomspace(1, len(spec) - 1, n_bands + 1).astype(int))
    bands = np.array([spec[a:b].sum() for a, b in zip(edges[:-1], edges[1:])])
    feats = np.log(bands + 1e-6)
    return feats - feats.mean()


class SpectralModel:
    sample_rate = RATE

    def __init__(self, confuse: int = 0):
        names = list(DEMO_CLASSES)
        for i in range(confuse):  # swap pairs of classes' prototypes
            a, b = 2 * i, 2 * i + 1
            names[a], names[b] = names[b], names[a]
        rng = np.random.default_rng(123)
        self.prototypes = {c: band_features(synth_sound(n, 1.0, RATE, rng)) for c, n in zip(DEMO_CLASSES, names)}
        self.sha256 = f"spectral-confuse-{confuse}"

    def embed_audio(self, waves):
        return np.stack([band_features(w) for w in waves]).astype(np.float32)

    def embed_text(self, texts):
        out = []
        for text in texts:
            hits = [c for c in DEMO_CLASSES if c.replace("_", " ") in text]
            out.append(self.prototypes[hits[0]] if hits else np.zeros(len(next(iter(self.prototypes.values())))))
        return np.stack(out).astype(np.float32)


def spectral_model(confuse: int = 0) -> SpectralModel:
    return SpectralModel(confuse)


def spectral_model_worse() -> SpectralModel:
    return SpectralModel(confuse=2)


class NoisySpectralModel(SpectralModel):
    """The spectral plugin with seeded noise on every audio embedding (the same clip, the same noise):
    a model whose audio features are worse, for the linear probe."""

    def embed_audio(self, waves):
        import zlib

        clean = super().embed_audio(waves)
        noise = [np.random.default_rng(zlib.crc32(np.asarray(w, dtype=np.float32).tobytes())).normal(0, 4.0, clean.shape[1]) for w in waves]
        return (clean + np.stack(noise)).astype(np.float32)


def spectral_model_noisy() -> NoisySpectralModel:
    model = NoisySpectralModel()
    model.sha256 = "spectral-noisy"
    return model
