"""ClapFeatureExtractor's log-mel features computed in torch, on whole batches, on the model's device.

The extractor (transformers ``ClapFeatureExtractor._get_input_mel``) does two things: it fits each clip to the
model's window (a seeded random crop for ``rand_trunc``; repeat, repeatpad or pad for short clips; for ``fusion``,
three random chunk offsets of a long clip's whole spectrogram), then computes a log-mel spectrogram with a Python
loop over frames in float64. The fitting stays per clip in the decoding workers (``WavePreparer``: the same
numpy draws from the same seeded generator as ``HFClapPreprocessor``, so the same crops); the spectrogram is
computed here for the batch at once (``TorchLogMel``), following the extractor's arithmetic step by step: the
periodic Hann window and the filter banks taken from the extractor itself, reflect padding, float64 FFT, its
values rounded to complex64 as the extractor stores them, power, mel projection with the 1e-10 floor, dB in
float64, float32 out; fusion's shrunk whole view by the same bilinear interpolation on float32. The result
matches the extractor to within float32 rounding of the dB values (tests/test_frontend.py bounds it at 1e-4 dB).
"""

from __future__ import annotations

import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

MEL_FLOOR = 1e-10  # transformers' spectrogram: mel_floor and power_to_db's min_value (reference 1.0)
FRAMES_PER_BLOCK = 1 << 12  # frames (of all clips of a batch together) transformed at once: bounds the FFT's memory


@contextmanager
def seeded_numpy(seed: int):
    """Seed numpy's global RNG for one call and restore it after.

    ClapFeatureExtractor draws its crops (rand_trunc) and fusion chunks from the unseeded global RNG;
    seeding per clip makes every run give identical features.
    """
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def clip_seed(wave: np.ndarray, seed: int) -> int:
    """A clip's crop seed: the run's seed and the clip's own samples, so a crop never depends on batch order."""
    return zlib.crc32(np.ascontiguousarray(wave, dtype=np.float32).tobytes(), int(seed) & 0xFFFFFFFF)


@dataclass(frozen=True)
class PreparedClip:
    """A clip fitted to the model's window, waiting for its spectrogram.

    ``wave``: the window's samples (cropped, repeated or padded), or for fusion's long clips the whole clip;
    ``chunks``: fusion's three chunk offsets in frames (front, middle, back) for a long clip, else None;
    ``whole``: fusion's corner case, a clip longer than the window by less than a hop (the whole spectrogram, 4x).
    """

    wave: np.ndarray
    longer: bool
    chunks: tuple[int, int, int] | None = None
    whole: bool = False


def n_frames(n_samples: int, n_fft: int, hop: int) -> int:
    """Frames of the extractor's centred spectrogram (reflect padding of n_fft // 2 on each side)."""
    return int(1 + (n_samples + 2 * (n_fft // 2) - n_fft) // hop)


class WavePreparer:
    """Waveform at the model's rate -> PreparedClip, by the extractor's own rules (runs in worker processes)."""

    def __init__(self, feature_extractor: Any, seed: int = 0):
        fe = feature_extractor
        self.max_length = int(fe.nb_max_samples)
        self.truncation = fe.truncation
        self.padding = fe.padding
        self.hop = int(fe.hop_length)
        self.n_fft = int(fe.fft_window_size)
        self.seed = int(seed)

    def __call__(self, wave: np.ndarray) -> PreparedClip:
        wave = np.ascontiguousarray(wave, dtype=np.float32)
        n = self.max_length
        if len(wave) > n:
            with seeded_numpy(clip_seed(wave, self.seed)):
                if self.truncation == "rand_trunc":
                    start = np.random.randint(0, len(wave) - n + 1)
                    return PreparedClip(wave[start : start + n], True)
                if self.truncation != "fusion":
                    raise NotImplementedError(f"truncation {self.truncation} is not implemented by ClapFeatureExtractor either")
                chunk, total = n // self.hop + 1, n_frames(len(wave), self.n_fft, self.hop)
                if chunk == total:
                    return PreparedClip(wave, False, whole=True)
                ranges = np.array_split(list(range(0, total - chunk + 1)), 3)
                ranges = [r if len(r) else [0] for r in ranges]
                starts = tuple(int(np.random.choice(r)) for r in ranges)  # front, middle, back: the extractor's order
                return PreparedClip(wave, True, starts)
        if len(wave) < n:
            if self.padding == "repeat":
                wave = np.tile(wave, int(n / len(wave)) + 1)[:n]
            elif self.padding == "repeatpad":
                wave = np.tile(wave, int(n / len(wave)))
            wave = np.pad(wave, (0, n - len(wave)))
        return PreparedClip(wave, False)


class TorchLogMel:
    """The extractor's log-mel spectrogram of whole batches, in torch on ``device``."""

    def __init__(self, feature_extractor: Any, device: torch.device | str = "cpu"):
        from transformers.audio_utils import window_function

        fe = feature_extractor
        self.device = torch.device(device)
        self.n_fft, self.hop, self.mel_bins = int(fe.fft_window_size), int(fe.hop_length), int(fe.feature_size)
        self.chunk_frames = int(fe.nb_max_samples) // self.hop + 1
        self.fusion = fe.truncation == "fusion"
        # The very arrays the extractor uses: its periodic Hann window, and the HTK (fusion) or Slaney filter bank.
        self.window = torch.as_tensor(window_function(self.n_fft, "hann"), dtype=torch.float64, device=self.device)
        filters = fe.mel_filters if self.fusion else fe.mel_filters_slaney
        self.filters = torch.as_tensor(np.asarray(filters, dtype=np.float64), device=self.device)

    def log_mel(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, L) samples -> (B, frames, mel_bins) float32 dB."""
        x = waves.to(self.device, torch.float64)
        pad = self.n_fft // 2
        x = F.pad(x[:, None, :], (pad, pad), mode="reflect")[:, 0]
        frames = x.unfold(-1, self.n_fft, self.hop)  # a view: (B, T, n_fft)
        total = frames.shape[1]
        step = max(1, FRAMES_PER_BLOCK // max(1, x.shape[0]))
        out = []
        for t0 in range(0, total, step):
            spec = torch.fft.rfft(frames[:, t0 : t0 + step] * self.window, dim=-1)
            # The extractor stores each frame's FFT as complex64, then takes |.|^2 in float64: the squares of the
            # float32 parts are exact in float64, so re^2 + im^2 differs from its |.|^2 by a float64 rounding at most.
            # (Squared in place, then summed: one pass fewer than squaring each part on its own, the same bits.)
            parts = torch.view_as_real(spec.to(torch.complex64)).to(torch.float64).square_()
            power = parts[..., 0] + parts[..., 1]
            mel = torch.clamp_min(power @ self.filters, MEL_FLOOR)
            out.append((10.0 * torch.log10(mel)).to(torch.float32))
        return torch.cat(out, dim=1)

    def features(self, clips: list[PreparedClip]) -> torch.Tensor:
        """(B, 1 or 4, frames, mel_bins) float32: the extractor's input_features for the batch."""
        rows: list[torch.Tensor | None] = [None] * len(clips)
        windowed = [i for i, c in enumerate(clips) if c.chunks is None and not c.whole]  # all of the window's length
        if windowed:
            waves = torch.from_numpy(np.stack([clips[i].wave for i in windowed]))
            mels = self.log_mel(waves)
            for k, i in enumerate(windowed):
                rows[i] = mels[k][None].expand(4, -1, -1) if self.fusion else mels[k][None]
        for i, clip in enumerate(clips):
            if rows[i] is not None:
                continue
            mel = self.log_mel(torch.from_numpy(clip.wave)[None])[0]
            if clip.whole:
                rows[i] = mel[None].expand(4, -1, -1)
            else:
                c = self.chunk_frames
                shrunk = F.interpolate(mel[None, None], size=[c, self.mel_bins], mode="bilinear", align_corners=False)[0, 0]
                rows[i] = torch.stack([shrunk, *(mel[s : s + c] for s in clip.chunks)])
        return torch.stack(rows)
