"""CNN14 (PANNs), the audio encoder of MS-CLAP 2022, by the original's parameter names.

Six conv blocks (two 3x3 conv + batch norm + ReLU, then 2x2 average pooling) over the log-mel, a mean
over frequency, max + mean over time, then ``fc1`` + ReLU: the 2048-d clip embedding. ``fc_audioset``
(the AudioSet classifier) is kept only so the checkpoint loads strictly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from clapbench.models.arch.frontend import LogmelFilterBank, Spectrogram, slaney_mel_filters

CNN14_WIDTHS = (64, 128, 256, 512, 1024, 2048)


@dataclass
class Cnn14Config:
    widths: tuple[int, ...] = CNN14_WIDTHS
    embedding: int = 2048
    num_classes: int = 527
    mel_bins: int = 64
    n_fft: int = 1024

    def variant(self) -> str:
        return "cnn14" if tuple(self.widths) == CNN14_WIDTHS and self.embedding == 2048 else f"cnn14(widths {'-'.join(map(str, self.widths))})"

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], prefix: str) -> "Cnn14Config":
        cfg = cls()
        widths = []
        while (w := state.get(f"{prefix}conv_block{len(widths) + 1}.conv1.weight")) is not None and w.ndim == 4:
            widths.append(int(w.shape[0]))
        if len(widths) == len(CNN14_WIDTHS):
            cfg.widths = tuple(widths)
        fc1 = state.get(prefix + "fc1.weight")
        if fc1 is not None and fc1.ndim == 2:
            cfg.embedding = int(fc1.shape[0])
        head = state.get(prefix + "fc_audioset.weight")
        if head is not None and head.ndim == 2:
            cfg.num_classes = int(head.shape[0])
        bn0 = state.get(prefix + "bn0.weight")
        if bn0 is not None:
            cfg.mel_bins = int(bn0.shape[0])
        kernels = state.get(prefix + "spectrogram_extractor.stft.conv_real.weight")
        if kernels is not None and kernels.ndim == 3:
            cfg.n_fft = int(kernels.shape[2])
        return cfg


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool) if pool > 1 else x


class Cnn14(nn.Module):
    def __init__(self, cfg: Cnn14Config, sample_rate: int, hop: int, fmin: float, fmax: float):
        super().__init__()
        self.cfg = cfg
        self.spectrogram_extractor = Spectrogram(cfg.n_fft, hop)
        self.logmel_extractor = LogmelFilterBank(slaney_mel_filters(sample_rate, cfg.n_fft, cfg.mel_bins, fmin, fmax))
        self.bn0 = nn.BatchNorm2d(cfg.mel_bins)
        cin = 1
        for i, width in enumerate(cfg.widths, start=1):
            setattr(self, f"conv_block{i}", ConvBlock(cin, width))
            cin = width
        self.fc1 = nn.Linear(cin, cfg.embedding)
        self.fc_audioset = nn.Linear(cfg.embedding, cfg.num_classes)

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> (batch, 1, frames, mel_bins), the original's logmel_extractor output."""
        return self.logmel_extractor(self.spectrogram_extractor(wave))

    def embed_mel(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.bn0(mel.to(self.bn0.weight.dtype).transpose(1, 3)).transpose(1, 3)
        n = len(self.cfg.widths)
        for i in range(1, n + 1):
            x = getattr(self, f"conv_block{i}")(x, pool=2 if i < n else 1)
        x = x.mean(dim=3)
        x = x.max(dim=2).values + x.mean(dim=2)
        return F.relu(self.fc1(x))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.embed_mel(self.log_mel(wave))
