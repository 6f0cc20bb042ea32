"""LAION-CLAP checkpoints (630k-*.pt, *-fusion-best.pt, music_*.pt) loaded with clapbench's own modules.

Module tree and names as laion_clap's ``CLAP``: ``audio_branch`` (HTS-AT, optionally with feature
fusion), ``text_branch`` (RoBERTa), ``audio_projection`` / ``text_projection`` (Linear, ReLU, Linear),
``audio_transform`` / ``text_transform`` (training-only MLPs, kept for strict loading), ``logit_scale_a/t``.

Preprocessing as ``CLAP_Module.get_audio_embedding_from_filelist`` and ``training/data.py``:
mono 48 kHz at the length ``librosa.load`` gives (preset ``laion``; ``laion-48k``: the length of a file
already at 48 kHz), an int16 round trip, 10 s windows; short clips 'repeatpad'; long clips a random 10 s crop
('rand_trunc') or, for fusion checkpoints, four mel "channels": the whole clip's mel shrunk to 10 s and
three random 10 s chunks from the front, middle and back thirds. Fusion mels use torchaudio's HTK filter
bank (computed in the data loader); non-fusion mels the checkpoint's own Slaney bank (inside the model).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clapbench.audio.decode import LENGTH_RULES
from clapbench.errors import ModelError
from clapbench.models.arch.frontend import htk_mel_filters, log_mel, slaney_mel_filters
from clapbench.models.arch.htsat import HTSAT, HTSATConfig
from clapbench.models.arch.text import build_text_model, legacy_text_buffers, text_config
from clapbench.models.checkpoint import build_strict
from clapbench.models.presets import Protocol, clip_rng, int16_round_trip, random_crop, repeatpad
from clapbench.models.tokenizer_files import check_vocabulary, find_tokenizer_folder, load_tokenizer

# laion_clap's model_configs/HTSAT-*.json audio_cfg
SAMPLE_RATE, N_FFT, HOP, MEL_BINS, FMIN, FMAX = 48000, 1024, 480, 64, 50, 14000
MAX_TOKENS = 77


class MLPLayers(nn.Module):
    """laion_clap's MLPLayers([w, w, w]): keys sequential.0 and sequential.3."""

    def __init__(self, width: int):
        super().__init__()
        self.sequential = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Dropout(0.1), nn.Linear(width, width))


def _projection(d_in: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_out), nn.ReLU(), nn.Linear(d_out, d_out))


class LaionClapNet(nn.Module):
    def __init__(self, audio_cfg: HTSATConfig, text_cfg, joint_dim: int = 512):
        super().__init__()
        self.audio_branch = HTSAT(audio_cfg, SAMPLE_RATE, HOP, FMIN, FMAX)
        self.text_branch = build_text_model("roberta", text_cfg)
        self.text_transform = MLPLayers(joint_dim)
        self.text_projection = _projection(text_cfg.hidden_size, joint_dim)
        self.audio_transform = MLPLayers(joint_dim)
        self.audio_projection = _projection(audio_cfg.num_features, joint_dim)
        self.logit_scale_a = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.logit_scale_t = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "LaionClapNet":
        proj = state.get("audio_projection.0.weight")
        joint = int(proj.shape[0]) if proj is not None and proj.ndim == 2 else 512
        return cls(HTSATConfig.from_state_dict(state, "audio_branch."), text_config("roberta", state, "text_branch."), joint)

    def embed_waves(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, 480000) waveforms -> (B, joint) projected audio embeddings (not normalised)."""
        return self.audio_projection(self.audio_branch(waves))

    def embed_fusion(self, mels: torch.Tensor, longer: torch.Tensor) -> torch.Tensor:
        """(B, 4, frames, 64) fusion mels and (B,) is-longer flags -> (B, joint)."""
        return self.audio_projection(self.audio_branch.embed_mel(mels, longer))

    def embed_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.text_branch(input_ids=input_ids, attention_mask=attention_mask)
        return self.text_projection(out.pooler_output)


class LaionPreprocessor:
    """Waveform at 48 kHz -> what the audio branch takes (picklable: runs in loader worker processes).

    Non-fusion: the 480000-sample window. Fusion: (4 x 1001 x 64 log-mel, is_longer).
    """

    def __init__(self, protocol: Protocol, fusion: bool, seed: int = 0):
        self.protocol, self.fusion, self.seed = protocol, fusion, int(seed)
        self.filters = htk_mel_filters(SAMPLE_RATE, N_FFT, MEL_BINS, FMIN, FMAX) if fusion else None

    def __call__(self, wave: np.ndarray):
        wave = np.asarray(wave, dtype=np.float32)
        if self.protocol.int16_round_trip:
            wave = int16_round_trip(wave)
        n = self.protocol.clip_samples
        rng = clip_rng(wave, self.seed)
        if not self.fusion:
            return random_crop(wave, n, rng) if len(wave) > n else repeatpad(wave, n)
        if len(wave) <= n:
            return self.stack_fusion(self.mel(repeatpad(wave, n)), None), False
        mel = self.mel(wave)
        chunk = n // HOP + 1
        if mel.shape[0] == chunk:  # longer than 10 s by less than a hop: the whole clip, as the original does
            return self.stack_fusion(mel, None), False
        ranges = np.array_split(np.arange(mel.shape[0] - chunk + 1), 3)
        starts = [int(rng.choice(r)) if len(r) else 0 for r in ranges]
        return self.stack_fusion(mel, starts), True

    def mel(self, wave: np.ndarray) -> torch.Tensor:
        """torchaudio MelSpectrogram (HTK bank, no norm) + AmplitudeToDB(top_db=None): (frames, 64)."""
        return log_mel(torch.from_numpy(np.ascontiguousarray(wave))[None], N_FFT, HOP, self.filters)[0]

    def stack_fusion(self, mel: torch.Tensor, starts: list[int] | None) -> np.ndarray:
        """(4, chunk, 64): [whole clip shrunk, front, middle, back]; four copies of a short clip's mel."""
        chunk = self.protocol.clip_samples // HOP + 1
        if starts is None:
            return torch.stack([mel] * 4).numpy()
        # Bilinear resize without antialiasing: torchvision's Resize on tensors at the paper's time
        # (antialias became the default in torchvision 0.17) and transformers' port.
        shrunk = F.interpolate(mel[None, None], size=(chunk, mel.shape[1]), mode="bilinear", align_corners=False)[0, 0]
        return torch.stack([shrunk] + [mel[s : s + chunk] for s in starts]).numpy()


class LaionClapModel:
    """clapbench's model contract over a LAION-CLAP checkpoint."""

    family = "laion-clap"

    def __init__(self, state: dict[str, torch.Tensor], source: str, protocol: Protocol, tokenizer: str | Path | None = None,
                 device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0):
        _check_text_branch(state, source)
        ignored = legacy_text_buffers("roberta", "text_branch.", list(state))
        state = {k: v for k, v in state.items() if k not in ignored}
        net = build_strict(lambda: LaionClapNet.from_state_dict(state), state, source, "LAION-CLAP")
        mismatch = net.audio_branch.spectrogram_extractor.kernel_mismatch()
        if mismatch:
            raise ModelError(f"{source}: audio_branch.spectrogram_extractor.{mismatch}; clapbench's torch.stft front end would not reproduce it")
        self.tokenizer_folder = find_tokenizer_folder("roberta", tokenizer)
        self.tokenizer = load_tokenizer("roberta", self.tokenizer_folder)
        check_vocabulary(self.tokenizer, net.text_branch.config.vocab_size, "roberta", self.tokenizer_folder, source)
        net.eval().to(device=device, dtype=dtype)
        net.audio_branch.spectrogram_extractor.float()
        net.audio_branch.logmel_extractor.float()
        self.net, self.device, self.dtype = net, torch.device(device), dtype
        cfg = net.audio_branch.cfg
        self.fusion = cfg.fusion
        self.variant = cfg.variant() + ("-fusion" if cfg.fusion else "")
        self.protocol = protocol
        self.audio_preprocessor = LaionPreprocessor(protocol, cfg.fusion, seed)
        self.sample_rate = protocol.sample_rate
        self.resampled_length = protocol.resampled_length
        self.ignored_keys = ignored
        self.seed = int(seed)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.net.parameters() if p.requires_grad)

    def describe(self) -> dict[str, Any]:
        p = self.protocol
        melw = self.net.audio_branch.logmel_extractor.melW.detach().cpu()
        stock = slaney_mel_filters(SAMPLE_RATE, N_FFT, MEL_BINS, FMIN, FMAX)
        return {
            "family": self.family,
            "variant": self.variant,
            "protocol": p.name,
            "protocol_source": p.source,
            "sample_rate": p.sample_rate,
            "clip_seconds": p.clip_seconds,
            "clip_samples": p.clip_samples,
            "int16_round_trip": p.int16_round_trip,
            "short_clips": "repeatpad: whole copies of the clip, then zeros to 10 s",
            "long_clips": (
                "fusion: mel of the whole clip shrunk to 10 s (bilinear, no antialias) + three random 10 s chunks "
                "(front/middle/back thirds); is_longer per clip" if self.fusion else "rand_trunc: a random 10 s crop"
            ),
            "crop_seed": self.seed,
            "crop_rng": "numpy default_rng seeded by (seed, crc32 of the clip's samples)",
            "channels": "averaged to mono by clapbench (as librosa.load)",
            "resampling": "soxr HQ (librosa.load's default res_type soxr_hq)",
            "resampled_length": p.resampled_length,
            "resampled_length_rule": LENGTH_RULES[p.resampled_length],
            "mel": {
                "n_fft": N_FFT, "hop": HOP, "mel_bins": MEL_BINS, "fmin": FMIN, "fmax": FMAX,
                "filter_bank": (
                    "HTK, no normalisation (torchaudio MelSpectrogram in laion_clap's data loader)" if self.fusion else
                    "the checkpoint's audio_branch.logmel_extractor.melW"
                    + (" (= librosa Slaney bank, 48 kHz, 50-14000 Hz)" if torch.allclose(melw, stock, atol=1e-6) else " (differs from the stock Slaney bank)")
                ),
                "stft": "torch.stft, periodic Hann, centred, reflect padding; power_to_db amin 1e-10, ref 1, no top_db",
            },
            "prompt": p.prompt,
            "prompt_source": p.prompt_source,
            "text": {"tokenizer": str(self.tokenizer_folder), "max_tokens": MAX_TOKENS, "padding": "max_length", "pooling": "RoBERTa pooler_output -> text_projection"},
            "embedding": "audio_projection / text_projection output, L2-normalised",
            "ignored_checkpoint_keys": self.ignored_keys,
        }

    @torch.inference_mode()
    def embed_audio_features(self, features: list) -> np.ndarray:
        if self.fusion:
            mels = torch.from_numpy(np.stack([m for m, _ in features])).to(self.device)
            longer = torch.tensor([bool(lg) for _, lg in features], device=self.device)
            out = self.net.embed_fusion(mels, longer)
        else:
            waves = torch.from_numpy(np.stack(features)).to(self.device)
            out = self.net.embed_waves(waves)
        return F.normalize(out.float(), dim=-1).cpu().numpy()

    def embed_audio(self, waves: list[np.ndarray]) -> np.ndarray:
        return self.embed_audio_features([self.audio_preprocessor(w) for w in waves])

    @torch.inference_mode()
    def embed_text(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        out = self.net.embed_tokens(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device))
        return F.normalize(out.float(), dim=-1).cpu().numpy()


def _check_text_branch(state: dict[str, torch.Tensor], source: str) -> None:
    """The released LAION-CLAP checkpoints use RoBERTa; its other text branches are training options."""
    if any(k.startswith("text_branch.resblocks.") or k.startswith("text_branch.shared.") for k in state):
        kind = "CLIP-transformer" if any(k.startswith("text_branch.resblocks.") for k in state) else "BART"
        raise ModelError(f"{source}: a LAION-CLAP checkpoint with a {kind} text branch; clapbench supports the released RoBERTa ones")
    types = state.get("text_branch.embeddings.token_type_embeddings.weight")
    if types is not None and types.ndim == 2 and types.shape[0] != 1:
        raise ModelError(
            f"{source}: a LAION-CLAP checkpoint with a BERT text branch (token_type_embeddings has {types.shape[0]} rows, "
            "RoBERTa has 1); clapbench supports the released RoBERTa ones"
        )
