"""Meta's Perception Encoder Audio family (PE-A, PE-A-Frame, PE-AV's audio-text part), as transformers saves it.

The model takes the raw 48 kHz waveform: PeAudioFeatureExtractor only reflect-pads a clip to a multiple of
its ``hop_length`` (one codec frame, 40 ms) and never truncates; the encoder's rotary positions take any
length, so a long clip is embedded whole, in one pass, as the model's own code does. Clip embeddings are the
class token through the audio head, text embeddings the first token of ModernBERT's last hidden state through
the text head (what ``PeAudioModel.forward`` computes); neither is normalised by the model, clapbench compares
by cosine. PE-A-Frame's frame embeddings are its per-frame hidden states through the same audio head.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clapbench.errors import ModelError, first_line
from clapbench.models.hf_clap import text_embedding_rows
from clapbench.models.hf_folder import check_tokenizer, load_pretrained

# config.json "architectures" -> variant; a pe_audio_video folder is PE-AV (only its audio-text part is used).
VARIANTS = {"PeAudioModel": "pe-a", "PeAudioFrameLevelModel": "pe-a-frame", "PeAudioVideoModel": "pe-av"}
MODEL_TYPES = ("pe_audio", "pe_audio_video")


def pe_audio_variant(path: Path) -> str | None:
    """'pe-a', 'pe-a-frame' or 'pe-av' for a folder whose config.json is a PE Audio model; None otherwise."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or config.get("model_type") not in MODEL_TYPES:
        return None
    if config["model_type"] == "pe_audio_video":
        return "pe-av"
    architectures = config.get("architectures") or ["PeAudioModel"]
    return VARIANTS.get(architectures[0], "pe-a")


class PeAudioPreprocessor:
    """Waveform at the model's rate -> the feature extractor's input_values for that one clip (reflect-padded).

    Picklable (it holds only the feature extractor), so loader worker processes run it.
    """

    def __init__(self, feature_extractor: Any):
        self.fe = feature_extractor

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        out = self.fe(np.asarray(wave, dtype=np.float32), sampling_rate=self.fe.sampling_rate)
        return np.asarray(out["input_values"][0], dtype=np.float32).reshape(-1)

    def describe(self) -> dict[str, Any]:
        fe = self.fe
        return {
            "sample_rate": int(fe.sampling_rate),
            "clip_seconds": None,
            "hop_length": int(fe.hop_length),
            "padding": f"reflect-padded to a multiple of hop_length ({fe.hop_length} samples), as PeAudioFeatureExtractor does",
            "truncation": "none: a clip of any length is embedded whole in one pass (the feature extractor does not cut; rotary positions)",
            "batching": "clips of equal padded length batched together, so batch padding never enters an embedding",
        }


class PeAudioAdapter:
    """clapbench's model contract over a PE Audio folder; PE-A-Frame also gets ``embed_audio_frames``."""

    def __init__(self, folder: str | Path, variant: str, device: str = "cpu", dtype: torch.dtype = torch.float32):
        folder = Path(folder)
        processor = _load_processor(folder)
        model = _load_audio_text_model(folder, variant, dtype)
        check_tokenizer(processor.tokenizer, folder, text_embedding_rows(model))
        self.model = model.to(device).eval()
        self.variant = variant
        self.tokenizer = processor.tokenizer
        self.audio_preprocessor = PeAudioPreprocessor(processor.feature_extractor)
        self.sample_rate = int(processor.feature_extractor.sampling_rate)
        self.device = torch.device(device)
        self.dtype = dtype
        hop = int(self.model.config.audio_config.dac_config.hop_length)
        if hop != int(processor.feature_extractor.hop_length):
            raise ModelError(f"{folder}: the feature extractor's hop_length {processor.feature_extractor.hop_length} is not the codec's {hop} samples per frame")
        self.frame_rate = self.sample_rate / hop
        if variant == "pe-a-frame":
            self.embed_audio_frames = self._embed_audio_frames

    def describe(self) -> dict[str, Any]:
        out = self.audio_preprocessor.describe()
        out.update(
            max_position_frames=int(self.model.config.audio_config.max_position_embeddings),
            frame_rate=self.frame_rate,
            clip_embedding="class token through the audio head (PeAudioModel.get_audio_embeds)",
            text_embedding="first token of the text model's last hidden state through the text head (PeAudioModel.forward)",
            normalisation="none in the model; clapbench compares by cosine",
        )
        if self.variant == "pe-a-frame":
            out["frame_embedding"] = "per-frame hidden states through the audio head (PeAudioFrameLevelModel.get_audio_embeds)"
        if self.variant == "pe-av":
            out["audio_text_part"] = "PeAudioVideoModel.audio_model (its PeAudioModel); the video towers are not loaded"
        return out

    def parameter_count(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    @torch.inference_mode()
    def _encode(self, features: list[np.ndarray]) -> list[tuple[int, Any]]:
        """Encoder outputs per group of equal-length clips: [(row indices, output)]."""
        groups: dict[int, list[int]] = {}
        for i, f in enumerate(features):
            groups.setdefault(len(f), []).append(i)
        out = []
        for rows in groups.values():
            values = torch.from_numpy(np.stack([features[i] for i in rows])).to(self.device, self.dtype)[:, None, :]
            mask = torch.ones(values.shape[0], values.shape[-1], dtype=torch.long, device=self.device)  # what the processor passes
            out.append((rows, self.model.audio_encoder(input_values=values, padding_mask=mask, return_dict=True)))
        return out

    @torch.inference_mode()
    def embed_audio_features(self, features: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(features), self.model.audio_head.proj.out_features), dtype=np.float32)
        for rows, enc in self._encode(features):
            out[rows] = self.model.audio_head(enc.pooler_output).float().cpu().numpy()
        return out

    def embed_audio(self, waves: list[np.ndarray]) -> np.ndarray:
        return self.embed_audio_features([self.audio_preprocessor(w) for w in waves])

    @torch.inference_mode()
    def _embed_audio_frames(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """(T_i, D) per clip; frame t covers [t, t + 1) / frame_rate seconds."""
        features = [self.audio_preprocessor(w) for w in waves]
        out: list[np.ndarray | None] = [None] * len(features)
        for rows, enc in self._encode(features):
            frames = self.model.audio_head(enc.last_hidden_state).float().cpu().numpy()
            for k, i in enumerate(rows):
                out[i] = frames[k]
        return out

    @torch.inference_mode()
    def embed_text(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        text = self.model.text_model(
            input_ids=batch["input_ids"].to(self.device), attention_mask=batch["attention_mask"].to(self.device),
            output_hidden_states=True, return_dict=True,
        )
        return self.model.text_audio_head(text.hidden_states[-1][:, 0]).float().cpu().numpy()


def _load_processor(folder: Path):
    from transformers import PeAudioProcessor

    try:
        return PeAudioProcessor.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise ModelError(
            f"{folder}: cannot load the PeAudioProcessor ({first_line(exc)}); expected the tokenizer files "
            "(tokenizer.json, tokenizer_config.json) and the feature extractor settings "
            "(preprocessor_config.json or processor_config.json) that save_pretrained writes"
        ) from None


def _load_audio_text_model(folder: Path, variant: str, dtype: torch.dtype):
    from transformers import PeAudioFrameLevelModel, PeAudioModel

    if variant == "pe-av":
        return _pe_av_audio_model(folder, dtype)
    return load_pretrained(PeAudioFrameLevelModel if variant == "pe-a-frame" else PeAudioModel, folder, dtype=dtype)


def _pe_av_audio_model(folder: Path, dtype: torch.dtype):
    """PE-AV's PeAudioModel (audio_model.*, with the shared text_model.*) built from its config, without the video towers."""
    from safetensors.torch import load_file
    from transformers import PeAudioModel, PeAudioVideoConfig

    try:
        config = PeAudioVideoConfig.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise ModelError(f"{folder}: cannot read the PeAudioVideoConfig in config.json ({first_line(exc)})") from None
    index = folder / "model.safetensors.index.json"
    try:
        names = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else ["model.safetensors"]
        saved: dict[str, torch.Tensor] = {}
        for name in names:
            saved.update(load_file(str(folder / name)))
    except Exception as exc:
        raise ModelError(f"{folder}: cannot read the weights ({first_line(exc)}); expected model.safetensors (or its index and shards)") from None
    model = PeAudioModel(config.audio_config)
    state = {}
    for key in model.state_dict():
        # the text tower is tied: saved once, as text_model.* (or under audio_model. when untied)
        for source in (f"audio_model.{key}", key if key.startswith("text_model.") else None):
            if source in saved:
                state[key] = saved[source]
                break
    missing = [k for k in model.state_dict() if k not in state]
    if missing:
        raise ModelError(f"{folder}: the weights lack {len(missing)} tensor(s) of PE-AV's audio-text part (first: audio_model.{missing[0]})")
    model.load_state_dict(state, strict=True)
    return model.to(dtype)
