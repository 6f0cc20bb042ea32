"""Plugin captioners for the captioning tests: ``tone`` names a clip's loudest frequency as the references of
tests/test_captioning.py word it (a good captioner), ``vague`` says the same thing of every clip (a worse one)."""

from __future__ import annotations

import numpy as np

RATE = 16000


class ToneCaptioner:
    sample_rate = RATE

    def __init__(self, precise: bool):
        self.precise = precise
        self.sha256 = "tone-captioner-v1" if precise else "vague-captioner-v1"

    def embed_audio(self, waves):  # the contract's required audio embedding; no embed_text (a captioner only)
        return np.ones((len(waves), 2), dtype=np.float32) / np.sqrt(2)

    def caption(self, waves):
        out = []
        for w in waves:
            freq = int(round(np.argmax(np.abs(np.fft.rfft(w))) * RATE / len(w), -1))
            out.append(f"A pure tone at {freq} Hz." if self.precise else "Some sound is heard.")
        return out


def tone(**_):
    return ToneCaptioner(precise=True)


def vague(**_):
    return ToneCaptioner(precise=False)
