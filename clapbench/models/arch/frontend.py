"""Log-mel front ends of the original CLAP code, computed with ``torch.stft``.

The originals compute the spectrogram two ways: torchlibrosa (MS-CLAP, and LAION-CLAP without fusion), a
Conv1d whose kernels are the Hann-windowed DFT matrix and whose mel matrix is a Slaney filter bank, both
stored in the checkpoint; and torchaudio's MelSpectrogram (LAION-CLAP's fusion features, computed in its
data loader) with an HTK filter bank and no normalisation. Both are the same STFT: periodic Hann window,
centred frames, reflect padding, power 2. clapbench computes it with ``torch.stft``; the stored kernels are
kept only so the checkpoint loads strictly, and are checked to be the DFT they stand for.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

AMIN = 1e-10  # power floor before the log, as torchlibrosa's and torchaudio's power_to_db use


def hann_dft_kernels(n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """torchlibrosa's STFT kernels: (real, imag), each (n_fft // 2 + 1, 1, n_fft), float32."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann (scipy's fftbins=True)
    angle = 2 * np.pi * ((k[:, None] * n[None, :]) % n_fft) / n_fft  # the modulo keeps the angles exact
    real = np.cos(angle) * window
    imag = -np.sin(angle) * window
    return torch.tensor(real, dtype=torch.float32)[:, None, :], torch.tensor(imag, dtype=torch.float32)[:, None, :]


def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """librosa.filters.mel's default (Slaney scale and area normalisation), as (n_fft // 2 + 1, n_mels)."""
    from transformers.audio_utils import mel_filter_bank

    bank = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=fmin, max_frequency=fmax,
        sampling_rate=sample_rate, norm="slaney", mel_scale="slaney",
    )
    return torch.tensor(bank, dtype=torch.float32)


def htk_mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """torchaudio.transforms.MelSpectrogram's default (HTK scale, no normalisation), as (n_fft // 2 + 1, n_mels)."""
    from transformers.audio_utils import mel_filter_bank

    bank = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=fmin, max_frequency=fmax,
        sampling_rate=sample_rate, norm=None, mel_scale="htk",
    )
    return torch.tensor(bank, dtype=torch.float32)


def power_spectrogram(wave: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(batch, samples) -> (batch, frames, n_fft // 2 + 1) power, frames = samples // hop + 1."""
    window = torch.hann_window(n_fft, periodic=True, dtype=wave.dtype, device=wave.device)
    spec = torch.stft(wave, n_fft, hop_length=hop, win_length=n_fft, window=window, center=True, pad_mode="reflect", return_complex=True)
    return (spec.real.square() + spec.imag.square()).transpose(1, 2)


def power_to_db(power: torch.Tensor) -> torch.Tensor:
    """10 log10(max(power, 1e-10)) with ref 1.0 and no top_db, as both originals call it."""
    return 10.0 * torch.log10(torch.clamp(power, min=AMIN))


def log_mel(wave: torch.Tensor, n_fft: int, hop: int, filters: torch.Tensor) -> torch.Tensor:
    """(batch, samples) -> (batch, frames, n_mels) log-mel in dB."""
    return power_to_db(power_spectrogram(wave, n_fft, hop) @ filters)


class _StoredTensor(nn.Module):
    """Holds one frozen tensor under the name ``weight`` (the originals keep their STFT kernels in a Conv1d)."""

    def __init__(self, tensor: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(tensor, requires_grad=False)


class Spectrogram(nn.Module):
    """torchlibrosa's Spectrogram by its state-dict names (``stft.conv_real.weight``, ``stft.conv_imag.weight``)."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        real, imag = hann_dft_kernels(n_fft)
        self.stft = nn.Module()
        self.stft.conv_real = _StoredTensor(real)
        self.stft.conv_imag = _StoredTensor(imag)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> (batch, 1, frames, n_fft // 2 + 1) power, computed in float32."""
        return power_spectrogram(wave.float(), self.n_fft, self.hop)[:, None]

    def kernel_mismatch(self) -> str | None:
        """None when the stored kernels are the Hann DFT that torch.stft computes; else what differs."""
        real, imag = hann_dft_kernels(self.n_fft)
        for name, stored, expected in (("conv_real", self.stft.conv_real.weight, real), ("conv_imag", self.stft.conv_imag.weight, imag)):
            err = float((stored.detach().float().cpu() - expected).abs().max())
            if err > 1e-4:
                return f"stft.{name}.weight differs from a Hann-windowed DFT of size {self.n_fft} by up to {err:.3g}"
        return None


class LogmelFilterBank(nn.Module):
    """torchlibrosa's LogmelFilterBank: a stored mel matrix ``melW`` (freq_bins, n_mels), then power_to_db."""

    def __init__(self, filters: torch.Tensor):
        super().__init__()
        self.melW = nn.Parameter(filters, requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return power_to_db(power @ self.melW.float())
