"""MS-CLAP checkpoints (CLAP_weights_2022.pth, CLAP_weights_2023.pth) loaded with clapbench's own modules.

Module tree and names as msclap's ``CLAP``: ``audio_encoder.base`` (2022: CNN14; 2023: a wrapper whose
``htsat`` is HTS-AT) + ``audio_encoder.projection``, ``caption_encoder.base`` (2022: BERT-base-uncased,
[CLS] output; 2023: GPT-2, the hidden state at the appended ``<|endoftext|>``) + ``caption_encoder.projection``,
and ``logit_scale``. Projection: Linear, GELU, Linear, dropout, residual, LayerNorm.

Quirks kept from the original (msclap 1.3.3, ``CLAPWrapper`` and ``models/``):
- the 2023 HTS-AT builds its front end from HTSAT's own config.py (32 kHz, 50-14000 Hz mel bank), not from
  config_2023.yml (44.1 kHz, 50-8000 Hz), while the audio is fed at 44.1 kHz; the checkpoint stores the
  bank it was trained with (``logmel_extractor.melW``) and clapbench uses the stored one;
- GPT-2 text: pad token '!' and the pooled position is ``(input_ids != 0).sum() - 1`` (token 0 is '!'),
  so a '!' inside a prompt moves the pooled position;
- no truncation of long prompts (the original pads to 77/100 tokens and lets longer ones through).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clapbench.audio.decode import LENGTH_RULES
from clapbench.errors import ModelError
from clapbench.models.arch.cnn14 import Cnn14, Cnn14Config
from clapbench.models.arch.frontend import slaney_mel_filters
from clapbench.models.arch.htsat import HTSAT, HTSATConfig
from clapbench.models.arch.text import build_text_model, legacy_text_buffers, text_config
from clapbench.models.checkpoint import build_strict
from clapbench.models.presets import Protocol, clip_rng, repeat_cut
from clapbench.models.tokenizer_files import check_vocabulary, find_tokenizer_folder, load_tokenizer


@dataclass(frozen=True)
class Version:
    name: str
    audio: str  # "cnn14" or "htsat"
    text: str  # "bert" or "gpt2"
    text_len: int
    # The front end the original builds (sample rate and band of its mel filter bank); hop 320, n_fft 1024.
    mel_rate: int
    fmin: float
    fmax: float


VERSIONS = {
    "2022": Version("2022", "cnn14", "bert", 100, 44100, 50, 14000),
    "2023": Version("2023", "htsat", "gpt2", 77, 32000, 50, 14000),  # HTSAT config.py, see the module docstring
}
HOP = 320


class Projection(nn.Module):
    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear1 = nn.Linear(d_in, d_out, bias=False)
        self.linear2 = nn.Linear(d_out, d_out, bias=False)
        self.layer_norm = nn.LayerNorm(d_out)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.linear1(x)
        return self.layer_norm(e1 + self.drop(self.linear2(F.gelu(e1))))


class _HTSATWrapper(nn.Module):
    """msclap's HTSATWrapper: the HTS-AT sits one level down, as ``base.htsat``."""

    def __init__(self, htsat: HTSAT):
        super().__init__()
        self.htsat = htsat

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.htsat(wave)


class _Tower(nn.Module):
    def __init__(self, base: nn.Module, projection: Projection):
        super().__init__()
        self.base = base
        self.projection = projection


def _dims(state: dict[str, torch.Tensor], key: str, default: tuple[int, int]) -> tuple[int, int]:
    w = state.get(key)
    return (int(w.shape[1]), int(w.shape[0])) if w is not None and w.ndim == 2 else default


class MSClapNet(nn.Module):
    def __init__(self, version: Version, audio: nn.Module, audio_dim: int, text_cfg, d_proj: int):
        super().__init__()
        self.version = version
        self.audio_encoder = _Tower(audio, Projection(audio_dim, d_proj))
        text_dim = text_cfg.hidden_size if version.text == "bert" else text_cfg.n_embd
        self.caption_encoder = _Tower(build_text_model(version.text, text_cfg), Projection(text_dim, d_proj))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @classmethod
    def from_state_dict(cls, version: Version, state: dict[str, torch.Tensor]) -> "MSClapNet":
        if version.audio == "cnn14":
            cfg = Cnn14Config.from_state_dict(state, "audio_encoder.base.")
            audio, audio_dim = Cnn14(cfg, version.mel_rate, HOP, version.fmin, version.fmax), cfg.embedding
        else:
            cfg = HTSATConfig.from_state_dict(state, "audio_encoder.base.htsat.")
            audio, audio_dim = _HTSATWrapper(HTSAT(cfg, version.mel_rate, HOP, version.fmin, version.fmax)), cfg.num_features
        d_proj = _dims(state, "audio_encoder.projection.linear1.weight", (audio_dim, 1024))[1]
        return cls(version, audio, audio_dim, text_config(version.text, state, "caption_encoder.base."), d_proj)

    @property
    def audio_net(self) -> nn.Module:
        base = self.audio_encoder.base
        return base.htsat if isinstance(base, _HTSATWrapper) else base

    def embed_waves(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, samples) at 44.1 kHz -> (B, d_proj) projected audio embeddings (not normalised)."""
        return self.audio_encoder.projection(self.audio_net(waves))

    def embed_tokens(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.caption_encoder.base(**batch)[0]
        if self.version.text == "gpt2":
            # The original's pooling: last position whose id is not 0 ('!' is both GPT-2's token 0 and the pad).
            last = torch.ne(batch["input_ids"], 0).sum(-1) - 1
            pooled = out[torch.arange(out.shape[0], device=out.device), last]
        else:
            pooled = out[:, 0, :]
        return self.caption_encoder.projection(pooled)


class MSClapPreprocessor:
    """Waveform at 44.1 kHz -> exactly the protocol's window (repeat-cut, or a seeded random crop). Picklable."""

    def __init__(self, protocol: Protocol, seed: int = 0):
        self.protocol, self.seed = protocol, int(seed)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        wave = np.asarray(wave, dtype=np.float32)
        return repeat_cut(wave, self.protocol.clip_samples, clip_rng(wave, self.seed))


def clip_policy(p: Protocol, seed: int) -> dict[str, Any]:
    """What the result records of msclap's clip handling (shared by the CLAP and clapcap checkpoints)."""
    return {
        "protocol": p.name,
        "protocol_source": p.source,
        "sample_rate": p.sample_rate,
        "clip_seconds": p.clip_seconds,
        "clip_samples": p.clip_samples,
        "short_clips": "repeated whole and cut to exactly the window (no zeros)",
        "long_clips": "a random window start in [0, len - window), seeded per clip",
        "crop_seed": seed,
        "crop_rng": "numpy default_rng seeded by (seed, crc32 of the clip's samples)",
        "channels": "averaged to mono by clapbench; msclap's own loader concatenates the channels end to end (reshape(-1)), a quirk not reproduced",
        "resampling": "soxr HQ (msclap resamples with torchaudio's sinc Resample, another filter; no difference for 44.1 kHz files)",
        "resampled_length": p.resampled_length,
        "resampled_length_rule": LENGTH_RULES[p.resampled_length],
    }


def place_audio_model(model, net, protocol: Protocol, device: str, dtype: torch.dtype, seed: int) -> None:
    """What MS-CLAP's checkpoints (CLAP and clapcap) share once built: the net on its device (the mel front end
    kept in float32), and the clip policy of the protocol, resampled length included."""
    net.eval().to(device=device, dtype=dtype)
    net.audio_net.spectrogram_extractor.float()
    net.audio_net.logmel_extractor.float()
    model.net, model.device, model.dtype = net, torch.device(device), dtype
    model.protocol = protocol
    model.audio_preprocessor = MSClapPreprocessor(protocol, seed)
    model.sample_rate = protocol.sample_rate
    model.resampled_length = protocol.resampled_length


class MSClapModel:
    """clapbench's model contract over an MS-CLAP checkpoint."""

    family = "msclap-2023"  # this instance's version: msclap-2022 or msclap-2023

    def __init__(self, state: dict[str, torch.Tensor], version: str, source: str, protocol: Protocol,
                 tokenizer: str | Path | None = None, device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0):
        self.version = VERSIONS[version]
        ignored = legacy_text_buffers(self.version.text, "caption_encoder.base.", list(state))
        state = {k: v for k, v in state.items() if k not in ignored}
        architecture = f"MS-CLAP {version} ({self.version.audio} + {self.version.text})"
        net = build_strict(lambda: MSClapNet.from_state_dict(self.version, state), state, source, architecture)
        mismatch = net.audio_net.spectrogram_extractor.kernel_mismatch()
        if mismatch:
            raise ModelError(f"{source}: the audio encoder's spectrogram_extractor.{mismatch}; clapbench's torch.stft front end would not reproduce it")
        self.tokenizer_folder = find_tokenizer_folder(self.version.text, tokenizer)
        self.tokenizer = load_tokenizer(self.version.text, self.tokenizer_folder)
        if self.version.text == "gpt2":
            self.tokenizer.add_special_tokens({"pad_token": "!"})  # already in GPT-2's vocabulary (token 0)
        check_vocabulary(self.tokenizer, net.caption_encoder.base.config.vocab_size, self.version.text, self.tokenizer_folder, source)
        place_audio_model(self, net, protocol, device, dtype, seed)
        self.family = f"msclap-{version}"
        self.variant = version
        self.architecture = net.audio_net.cfg.variant()
        self.ignored_keys = ignored
        self.seed = int(seed)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.net.parameters() if p.requires_grad)

    def describe(self) -> dict[str, Any]:
        p, v = self.protocol, self.version
        return {
            "family": self.family,
            "variant": self.variant,
            "audio_encoder": self.architecture,
            **clip_policy(p, self.seed),
            "mel": {
                "n_fft": self.net.audio_net.cfg.n_fft, "hop": HOP, "mel_bins": self.net.audio_net.cfg.mel_bins,
                "filter_bank": "the checkpoint's logmel_extractor.melW: " + self._filter_bank_origin(),
                "stft": "torch.stft, periodic Hann, centred, reflect padding; power_to_db amin 1e-10, ref 1, no top_db",
            },
            "prompt": p.prompt,
            "prompt_source": p.prompt_source,
            "text": {
                "tokenizer": str(self.tokenizer_folder),
                "max_tokens": v.text_len,
                "pooling": "GPT-2 hidden state at the appended ' <|endoftext|>' (last non-'!' token)" if v.text == "gpt2" else "BERT [CLS] hidden state",
            },
            "embedding": "projection output, L2-normalised (msclap normalises in compute_similarity)",
            "ignored_checkpoint_keys": self.ignored_keys,
        }

    def _filter_bank_origin(self) -> str:
        stored = self.net.audio_net.logmel_extractor.melW.detach().cpu().float()
        n_fft, bins = self.net.audio_net.cfg.n_fft, self.net.audio_net.cfg.mel_bins
        for rate, fmin, fmax in ((32000, 50, 14000), (44100, 50, 14000), (44100, 50, 8000)):
            if torch.allclose(stored, slaney_mel_filters(rate, n_fft, bins, fmin, fmax), atol=1e-6):
                return f"Slaney bank for {rate} Hz, {fmin}-{fmax} Hz"
        return "not a stock Slaney bank (used as stored)"

    @torch.inference_mode()
    def embed_audio_features(self, waves: list[np.ndarray]) -> np.ndarray:
        batch = torch.from_numpy(np.stack(waves)).to(self.device)
        return F.normalize(self.net.embed_waves(batch).float(), dim=-1).cpu().numpy()

    def embed_audio(self, waves: list[np.ndarray]) -> np.ndarray:
        return self.embed_audio_features([self.audio_preprocessor(w) for w in waves])

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """As CLAPWrapper.preprocess_text: GPT-2 gets ' <|endoftext|>' appended; padded to the version's length."""
        if self.version.text == "gpt2":
            texts = [t + " <|endoftext|>" for t in texts]
        longest = max(len(ids) for ids in self.tokenizer(list(texts))["input_ids"])
        batch = self.tokenizer(list(texts), padding="max_length", max_length=max(self.version.text_len, longest), return_tensors="pt")
        keys = ("input_ids", "attention_mask") if self.version.text == "gpt2" else ("input_ids", "token_type_ids", "attention_mask")
        return {k: batch[k].to(self.device) for k in keys}

    @torch.inference_mode()
    def embed_text(self, texts: list[str]) -> np.ndarray:
        return F.normalize(self.net.embed_tokens(self.tokenize(texts)).float(), dim=-1).cpu().numpy()
