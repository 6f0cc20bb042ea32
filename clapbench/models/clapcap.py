"""MS-CLAP's audio captioner (clapcap_weights_2023.pth) loaded with clapbench's own modules.

Module tree and names as msclap's ``ClapCaptionModel`` (microsoft/CLAP ``msclap/models/mapper.py``):
``clap`` is the 2023 audio encoder (``clap.base.htsat`` HTS-AT + ``clap.projection``, the same modules as
the msclap-2023 loader), ``clap_project`` the transformer mapper, ``gpt`` a GPT-2 language model
(``GPT2LMHeadModel``) built from a config sized from the weights. Captions as ``CLAPWrapper.generate_caption``:
the projected audio embedding, L2-normalised (``normalize_prefix: True`` in config_clapcap.yml), mapped to a
40-vector prefix, decoded by beam search (``beam_search``), and ``str.capitalize()``-d.
There is no text encoder: a clapcap model captions and embeds audio, it does not embed text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clapbench.errors import ModelError
from clapbench.models.arch.htsat import HTSAT, HTSATConfig
from clapbench.models.arch.mapper import TransformerMapper
from clapbench.models.arch.text import legacy_text_buffers, text_config
from clapbench.models.beam_search import BeamOptions, generate_beam
from clapbench.models.checkpoint import build_strict
from clapbench.models.msclap import HOP, VERSIONS, Projection, _HTSATWrapper, _Tower, clip_policy, place_audio_model
from clapbench.models.presets import Protocol
from clapbench.models.tokenizer_files import check_vocabulary, find_tokenizer_folder, load_tokenizer

# config_clapcap.yml: prefix_length 40, prefix_length_clip 40, 8 mapper layers, d_proj 1024 (the mapper reads
# the size of its input and output from the weights); normalize_prefix is not in the weights.
NORMALIZE_PREFIX = True


class ClapCapNet(nn.Module):
    def __init__(self, audio: nn.Module, audio_dim: int, d_proj: int, mapper: dict[str, int], gpt_cfg):
        super().__init__()
        from transformers import GPT2LMHeadModel

        self.clap = _Tower(audio, Projection(audio_dim, d_proj))
        self.gpt = GPT2LMHeadModel(gpt_cfg)  # before clap_project: the original's state-dict order
        self.gpt.tie_weights()  # lm_head is wte, as from_pretrained leaves it (skipped when built without init)
        self.clap_project = TransformerMapper(**mapper)
        self.prefix_length = mapper["prefix_length"]

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "ClapCapNet":
        v = VERSIONS["2023"]
        cfg = HTSATConfig.from_state_dict(state, "clap.base.htsat.")
        audio = _HTSATWrapper(HTSAT(cfg, v.mel_rate, HOP, v.fmin, v.fmax))
        proj = state.get("clap.projection.linear1.weight")
        d_proj = int(proj.shape[0]) if proj is not None and proj.ndim == 2 else 1024
        gpt_cfg = text_config("gpt2", state, "gpt.transformer.")
        mapper = TransformerMapper.sizes(state, "clap_project.") or dict(
            dim_clip=d_proj, dim_embedding=gpt_cfg.n_embd, prefix_length=40, clip_length=40, num_layers=8
        )
        return cls(audio, cfg.num_features, d_proj, mapper, gpt_cfg)

    @property
    def audio_net(self) -> HTSAT:
        return self.clap.base.htsat

    def embed_waves(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, samples) at 44.1 kHz -> (B, d_proj) projected audio embeddings (not normalised)."""
        return self.clap.projection(self.audio_net(waves))

    def prefix(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, prefix_length, n_embd): the GPT-2 input the captions are decoded from."""
        emb = self.embed_waves(waves)
        if NORMALIZE_PREFIX:
            emb = emb / emb.norm(2, -1).reshape(-1, 1)  # as the original writes it (no epsilon)
        return self.clap_project(emb).view(-1, self.prefix_length, self.gpt.transformer.wte.weight.shape[1])


class ClapCapModel:
    """clapbench's model contract over a clapcap checkpoint: ``caption(waves)`` and ``embed_audio``; no text tower."""

    family = "clapcap"

    def __init__(self, state: dict[str, torch.Tensor], source: str, protocol: Protocol, tokenizer: str | Path | None = None,
                 device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0, decoding: BeamOptions | None = None):
        ignored = legacy_text_buffers("gpt2", "gpt.transformer.", list(state))
        state = {k: v for k, v in state.items() if k not in ignored}
        net = build_strict(lambda: ClapCapNet.from_state_dict(state), state, source, "clapcap (HTS-AT + mapper + GPT-2)")
        mismatch = net.audio_net.spectrogram_extractor.kernel_mismatch()
        if mismatch:
            raise ModelError(f"{source}: the audio encoder's spectrogram_extractor.{mismatch}; clapbench's torch.stft front end would not reproduce it")
        self.tokenizer_folder = find_tokenizer_folder("gpt2", tokenizer)
        self.tokenizer = load_tokenizer("gpt2", self.tokenizer_folder)
        check_vocabulary(self.tokenizer, net.gpt.config.vocab_size, "gpt2", self.tokenizer_folder, source)
        self.decoding = decoding or BeamOptions()
        check_decoding(self.decoding)
        self.stop_token_index = int(self.tokenizer.encode(self.decoding.stop_token)[0])
        place_audio_model(self, net, protocol, device, dtype, seed)
        self.variant = "2023"
        self.architecture = net.audio_net.cfg.variant()
        self.ignored_keys = ignored
        self.seed = int(seed)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def describe(self) -> dict[str, Any]:
        p, mapper = self.protocol, self.net.clap_project
        return {
            "family": self.family,
            "variant": self.variant,
            "audio_encoder": self.architecture,
            **clip_policy(p, self.seed),
            "mel": {"n_fft": self.net.audio_net.cfg.n_fft, "hop": HOP, "mel_bins": self.net.audio_net.cfg.mel_bins},
            "prompt": None,
            "captioner": {
                "decoder": f"GPT-2 ({self.net.gpt.config.n_layer} layers, {self.net.gpt.config.n_embd} wide, vocabulary {self.net.gpt.config.vocab_size})",
                "tokenizer": str(self.tokenizer_folder),
                "mapper": f"transformer, prefix length {self.net.prefix_length}, clip length {mapper.clip_length}, {len(mapper.transformer.layers)} layers",
                "normalize_prefix": NORMALIZE_PREFIX,
                "decoding": {**self.decoding.describe(), "stop_token_id": self.stop_token_index,
                             "method": "msclap CLAPWrapper._generate_beam: full recompute per step, mean log-probability ranking"},
                "postprocessing": "tokenizer.decode of the best beam up to its length (stop token included), then str.capitalize()",
            },
            "embedding": "audio projection output, L2-normalised; no text encoder",
            "ignored_checkpoint_keys": self.ignored_keys,
        }

    @torch.inference_mode()
    def embed_audio_features(self, waves: list[np.ndarray]) -> np.ndarray:
        batch = torch.from_numpy(np.stack(waves)).to(self.device)
        return F.normalize(self.net.embed_waves(batch).float(), dim=-1).cpu().numpy()

    def embed_audio(self, waves: list[np.ndarray]) -> np.ndarray:
        return self.embed_audio_features([self.audio_preprocessor(w) for w in waves])

    @torch.inference_mode()
    def caption_ids(self, windows: list[np.ndarray]) -> list[list[int]]:
        """The best beam's token ids per clip, from ``audio_preprocessor`` windows."""
        prefix = self.net.prefix(torch.from_numpy(np.stack(windows)).to(self.device))
        return [generate_beam(self.net.gpt, prefix[i : i + 1], self.stop_token_index, self.decoding)[0] for i in range(len(windows))]

    def caption_features(self, windows: list[np.ndarray]) -> list[str]:
        """Captions from ``audio_preprocessor`` windows (what the parallel clip loader hands over)."""
        return [self.tokenizer.decode(ids).capitalize() for ids in self.caption_ids(windows)]

    def caption(self, waves: list[np.ndarray]) -> list[str]:
        """The contract's optional captioning: mono waves at ``sample_rate``, any length -> one caption each."""
        return self.caption_features([self.audio_preprocessor(w) for w in waves])


def check_decoding(options: BeamOptions) -> None:
    if options.beam_size < 1:
        raise ModelError(f"--beam-size {options.beam_size}: expected at least 1")
    if options.entry_length < 1:
        raise ModelError(f"--entry-length {options.entry_length}: expected at least 1 token")
    if not options.stop_token:
        raise ModelError("--stop-token: expected a non-empty string")
