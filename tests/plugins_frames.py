"""Test plugins with frame embeddings that follow the spectrum, over the pure-tone sources of plugins_temporal.

``frame_hearing_model``: frame t (100 ms) is the multi-hot of the tones heard in it; a prompt is the one-hot of
the class it names. So the frame probes' answers are known by construction: a frame scores 1/sqrt(k) for each of
the k tones sounding in it and 0 otherwise, and a silent frame scores 0 for every class (a tie, counted wrong).
``frame_reversed_model`` returns the same frames in reverse time order: it hears what, never when.
"""

from __future__ import annotations

import numpy as np
from plugins_temporal import NAMES, SAMPLE_RATE, _named, _one_hot, tones_heard

FRAME_RATE = 10


class FrameHearing:
    sample_rate = SAMPLE_RATE
    frame_rate = FRAME_RATE

    def __init__(self, reverse: bool = False):
        self.reverse = reverse

    def embed_audio_frames(self, waves):
        hop = SAMPLE_RATE // FRAME_RATE
        out = []
        for w in waves:
            frames = np.stack([tones_heard(w[t : t + hop], SAMPLE_RATE) for t in range(0, len(w), hop)])
            out.append(frames[::-1].copy() if self.reverse else frames)
        return out

    def embed_audio(self, waves):
        return np.stack([tones_heard(w, SAMPLE_RATE) for w in waves])

    def embed_text(self, texts):
        return np.stack([_one_hot(_named(t.lower())) for t in texts])


def frame_hearing_model():
    return FrameHearing()


def frame_reversed_model():
    return FrameHearing(reverse=True)


__all__ = ["NAMES", "frame_hearing_model", "frame_reversed_model"]
