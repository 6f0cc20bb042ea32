"""Test plugin models for the temporal probes, over sources whose classes are pure tones (TONES).

``order_hearing_model`` hears what sounds in each half of a clip and reads order words in prompts:
its embedding is [classes heard in the first half | classes heard in the second half] (multi-hot),
and a prompt maps to the same blocks ("x before y" -> [x | y], "the first sound is x" -> [x | 0],
"the second sound is x" -> [0 | x], anything else -> every class named, in both halves).
``order_deaf_model`` hears the same sounds but not when: both halves of its embedding are the whole clip's.
"""

from __future__ import annotations

import re

import numpy as np

# class name -> pitch (Hz); octave-and-more apart so an FFT tells them apart after any resampling
TONES = {"hum": 220.0, "beep": 660.0, "whistle": 1980.0, "chirp": 5940.0}
NAMES = list(TONES)
SAMPLE_RATE = 16000
SHARE = 0.15  # a class is heard when its band holds this share of the half's energy


def tones_heard(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Multi-hot over NAMES: which tones hold a real share of the energy of x."""
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    total = spectrum.sum()
    out = np.zeros(len(NAMES), dtype=np.float32)
    if total <= 1e-12:
        return out
    freqs = np.fft.rfftfreq(len(x), 1 / sample_rate)
    for k, pitch in enumerate(TONES.values()):
        band = (freqs > pitch * 0.9) & (freqs < pitch * 1.1)
        out[k] = float(spectrum[band].sum() / total >= SHARE)
    return out


def _named(text: str) -> list[int]:
    """Indices of the class names in text, in the order they appear."""
    found = [(m.start(), k) for k, name in enumerate(NAMES) for m in re.finditer(rf"\b{name}\b", text)]
    return [k for _, k in sorted(found)]


def _one_hot(indices) -> np.ndarray:
    v = np.zeros(len(NAMES), dtype=np.float32)
    v[list(indices)] = 1
    return v


def text_blocks(text: str) -> np.ndarray:
    named = _named(text.lower())
    zero = np.zeros(len(NAMES), dtype=np.float32)
    if " before " in text and len(named) == 2:
        return np.concatenate([_one_hot([named[0]]), _one_hot([named[1]])])
    if "first sound" in text and named:
        return np.concatenate([_one_hot(named), zero])
    if "second sound" in text and named:
        return np.concatenate([zero, _one_hot(named)])
    return np.concatenate([_one_hot(named), _one_hot(named)])


class OrderHearing:
    sample_rate = SAMPLE_RATE

    def __init__(self, hears_order: bool = True):
        self.hears_order = hears_order

    def embed_audio(self, waves):
        rows = []
        for w in waves:
            half = len(w) // 2
            if self.hears_order:
                rows.append(np.concatenate([tones_heard(w[:half], self.sample_rate), tones_heard(w[half:], self.sample_rate)]))
            else:
                whole = tones_heard(w, self.sample_rate)
                rows.append(np.concatenate([whole, whole]))
        return np.stack(rows)

    def embed_text(self, texts):
        return np.stack([text_blocks(t) for t in texts])


def order_hearing_model():
    return OrderHearing(hears_order=True)


def order_deaf_model():
    return OrderHearing(hears_order=False)
