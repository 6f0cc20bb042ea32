"""A HuggingFace ``ClapModel`` + ``ClapProcessor`` folder, as ``save_pretrained`` writes it, loaded offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clapbench.audio.decode import LENGTH_RULES
from clapbench.errors import ModelError, first_line
from clapbench.models.clap_frontend import PreparedClip, TorchLogMel, WavePreparer, clip_seed, seeded_numpy
from clapbench.models.hf_folder import check_tokenizer, load_pretrained
from clapbench.models.window_attention import ATTENTION_CHOICES, ATTENTIONS, fuse_window_attention


def is_hf_clap_folder(path: Path) -> bool:
    config = path / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text()).get("model_type") == "clap"
    except (OSError, ValueError):
        return False


class HFClapPreprocessor:
    """Waveform at 48 kHz -> (mel features, is_longer) with the checkpoint's saved clip policy.

    Runs in loader worker processes, so it holds only the (picklable) feature extractor.
    Two deliberate departures from calling the extractor on a batch, both for reproducibility:
    each clip's random crop is seeded by (seed, the clip's samples), so it is the same in every run
    whatever the batch order; and ``is_longer`` is the clip's own, where the extractor in fusion mode
    marks a random clip of a batch with no long clip as long.
    """

    def __init__(self, feature_extractor: Any, seed: int = 0):
        self.fe = feature_extractor
        self.seed = int(seed)

    def __call__(self, wave: np.ndarray) -> tuple[np.ndarray, bool]:
        fe = self.fe
        with seeded_numpy(clip_seed(wave, self.seed)):
            mel, longer = fe._get_input_mel(np.asarray(wave, dtype=np.float64), fe.nb_max_samples, fe.truncation, fe.padding)
        return np.asarray(mel, dtype=np.float32), bool(longer)

    def describe(self) -> dict[str, Any]:
        fe = self.fe
        return {
            "sample_rate": int(fe.sampling_rate),
            "clip_seconds": float(fe.max_length_s),
            "padding": fe.padding,
            "truncation": fe.truncation,
            "mel_bins": int(fe.feature_size),
            "hop_length": int(fe.hop_length),
            "window": int(fe.fft_window_size),
            "fmin": float(fe.frequency_min),
            "fmax": float(fe.frequency_max),
            "crop_seed": self.seed,
        }


FRONT_ENDS = {
    "torch": "torch: the feature extractor's log-mel computed in float64 on the model's device, batched (clapbench.models.clap_frontend)",
    "transformers": "transformers: ClapFeatureExtractor per clip, in the decoding workers",
}
FRONT_END_CHOICES = ("auto", "torch", "transformers")


def resolve_front_end(front_end: str, device: torch.device) -> str:
    """``auto``: the torch front end on CUDA; on the CPU too, where it measured faster end to end
    (benchmarks/README.md, forward_ratio.py)."""
    if front_end not in FRONT_END_CHOICES:
        raise ModelError(f"--front-end {front_end}: expected one of {', '.join(FRONT_END_CHOICES)}")
    if front_end != "auto":
        return front_end
    return "torch"


def check_attention(attention: str) -> str:
    if attention not in ATTENTION_CHOICES:
        raise ModelError(f"--attention {attention}: expected one of {', '.join(ATTENTION_CHOICES)}")
    return attention


# LAION-CLAP's text tower is RoBERTa (layer_norm_eps 1e-5); transformers' conversion of LAION checkpoints keeps
# ClapTextConfig's default 1e-12, which moves text embeddings by ~2e-4 (LAION-AI/CLAP#126, transformers#26362).
ROBERTA_LAYER_NORM_EPS = 1e-5


def config_warnings(config: Any) -> list[str]:
    """Known departures of a ClapModel config from the LAION-CLAP original it was converted from."""
    eps = getattr(config.text_config, "layer_norm_eps", None)
    if eps is None or eps == ROBERTA_LAYER_NORM_EPS:
        return []
    return [
        f"text_config.layer_norm_eps is {eps:g}, RoBERTa (LAION-CLAP's text tower) uses {ROBERTA_LAYER_NORM_EPS:g}: "
        "transformers' conversion of LAION checkpoints leaves it at 1e-12, so text embeddings differ from the original "
        "code's (by ~2e-4); set it to 1e-5 in config.json to match LAION-CLAP"
    ]


class HFClapModel:
    """clapbench's model contract over transformers' ClapModel."""

    def __init__(self, folder: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0, front_end: str = "auto",
                 attention: str = "auto"):
        from transformers import ClapModel, ClapProcessor

        folder = Path(folder)
        try:
            processor = ClapProcessor.from_pretrained(folder, local_files_only=True)
        except Exception as exc:
            raise ModelError(
                f"{folder}: cannot load the ClapProcessor ({first_line(exc)}); expected the tokenizer files "
                "(tokenizer.json or vocab.json + merges.txt) and the feature extractor settings "
                "(preprocessor_config.json or processor_config.json) that save_pretrained writes"
            ) from None
        model = load_pretrained(ClapModel, folder, dtype=dtype)
        check_tokenizer(processor.tokenizer, folder, text_embedding_rows(model))
        self.model = model.to(device).eval()
        self.tokenizer = processor.tokenizer
        self.device = torch.device(device)
        self.front_end = resolve_front_end(front_end, self.device)
        # auto: the fused window attention wherever this transformers' module is the one it was written against
        self.attention = "sdpa" if check_attention(attention) != "eager" and fuse_window_attention(self.model) else "eager"
        if attention == "sdpa" and self.attention != "sdpa":
            raise ModelError(f"--attention sdpa: this transformers' ClapAudioSelfAttention is not the one clapbench's fused "
                             "window attention was written for; use --attention eager or auto")
        fe = processor.feature_extractor
        # extractor: transformers' own, per clip (also what the benchmarks time the bare forward on);
        # log_mel: the batched torch front end, None with --front-end transformers.
        self.extractor = HFClapPreprocessor(fe, seed)
        # torch: workers fit each clip to the window, the batch's log-mel is computed here on the device
        self.audio_preprocessor = WavePreparer(fe, seed) if self.front_end == "torch" else self.extractor
        self.log_mel = TorchLogMel(fe, self.device) if self.front_end == "torch" else None
        self.sample_rate = int(fe.sampling_rate)
        self.dtype = dtype
        self.warnings = config_warnings(model.config)

    def describe(self) -> dict[str, Any]:
        return {
            **self.extractor.describe(),
            "front_end": FRONT_ENDS[self.front_end],
            "attention": ATTENTIONS[self.attention],
            "int16_round_trip": False,
            "resampled_length": "round",
            "resampled_length_rule": LENGTH_RULES["round"] + "; the feature extractor itself never resamples",
            "text_layer_norm_eps": getattr(self.model.config.text_config, "layer_norm_eps", None),
        }

    @torch.inference_mode()
    def embed_audio_features(self, features: list[tuple[np.ndarray, bool]] | list[PreparedClip]) -> np.ndarray:
        if self.log_mel is not None:
            mels = self.log_mel.features(features).to(self.dtype)
            longer = torch.tensor([[c.longer] for c in features], device=self.device)
        else:
            mels = torch.from_numpy(np.stack([m for m, _ in features])).to(self.device, self.dtype)
            longer = torch.tensor([[lg] for _, lg in features], device=self.device)
        out = self.model.get_audio_features(input_features=mels, is_longer=longer)
        return _pooled(out).float().cpu().numpy()

    def embed_audio(self, waves: list[np.ndarray]) -> np.ndarray:
        return self.embed_audio_features([self.audio_preprocessor(w) for w in waves])

    @torch.inference_mode()
    def embed_text(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        return _pooled(self.model.get_text_features(**batch)).float().cpu().numpy()


def text_embedding_rows(model: Any) -> int:
    """Rows of the ClapModel text tower's token embedding table."""
    return int(model.text_model.get_input_embeddings().weight.shape[0])


def _pooled(out: Any) -> torch.Tensor:
    # transformers 5 returns an output object whose pooler_output is the projected embedding; 4.x a tensor.
    return out if isinstance(out, torch.Tensor) else out.pooler_output
