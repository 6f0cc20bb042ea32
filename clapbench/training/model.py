"""The ClapModel and ClapProcessor to train: loaded from a checkpoint folder (--init) or built fresh (--config)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from clapbench.errors import ModelError

# Fresh models. "tiny": a small HTSAT + text transformer over 2 s clips (spec_size 128 fits 201 mel frames),
# fast enough to train on a CPU in minutes. "base": the shape of LAION's clap-htsat-unfused (HTSAT-tiny,
# RoBERTa-base-sized text encoder, 10 s clips), 153.5 M parameters.
CONFIGS = {
    "tiny": {"full_size": False, "max_length_s": 2, "spec_size": 128},
    "base": {"full_size": True, "max_length_s": 10, "spec_size": 256},
}
MAX_LOGIT_SCALE = math.log(100.0)  # CLIP / LAION-CLAP clamp the learnt temperature at 1/100


def build_fresh(folder: Path, config: str, corpus: Iterable[str], seed: int, fusion: bool) -> Path:
    """A randomly initialised ClapModel folder; its byte-level BPE tokenizer is trained on ``corpus``
    (the training captions): there is no hub to fetch RoBERTa's from."""
    from clapbench.models.tiny_clap import build_tiny_clap

    if config not in CONFIGS:
        raise ModelError(f"--config {config}: expected one of {', '.join(CONFIGS)}")
    return build_tiny_clap(folder, seed=seed, corpus=list(corpus), fusion=fusion, **CONFIGS[config])


def load_for_training(folder: Path, fusion: bool, console=None):
    """(ClapModel in train mode, ClapProcessor) from a save_pretrained folder.

    ``fusion`` on an unfused checkpoint turns on HF's feature fusion: the fusion layers start from
    random weights and the feature extractor switches to the 'fusion' clip policy (whole-clip mel + 3 crops).
    """
    from transformers import ClapConfig, ClapModel, ClapProcessor

    from clapbench.models.hf_clap import is_hf_clap_folder, text_embedding_rows
    from clapbench.errors import first_line
    from clapbench.models.hf_folder import check_tokenizer, load_pretrained

    folder = Path(folder)
    if not is_hf_clap_folder(folder):
        raise ModelError(f"--init {folder}: not a CLAP checkpoint folder; expected config.json with model_type 'clap', weights and processor files")
    try:
        processor = ClapProcessor.from_pretrained(folder, local_files_only=True)
        config = ClapConfig.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise ModelError(f"--init {folder}: cannot load the ClapProcessor and config ({first_line(exc)})") from None
    turn_on = fusion and not config.audio_config.enable_fusion
    allowed_missing = None
    if turn_on:
        # the fusion layers are new: the weights the checkpoint's own (unfused) architecture lacks start random
        with torch.device("meta"):
            saved_keys = set(ClapModel(config).state_dict())
        config.audio_config.enable_fusion = True

        def allowed_missing(key: str) -> bool:
            return key not in saved_keys
    model = load_pretrained(ClapModel, folder, allowed_missing, config=config, dtype=torch.float32)
    check_tokenizer(processor.tokenizer, folder, text_embedding_rows(model))
    fe = processor.feature_extractor
    if config.audio_config.enable_fusion and fe.truncation != "fusion":
        fe.truncation = "fusion"
        if console is not None:
            console.print(f"fusion: {'feature fusion turned on (fusion layers start random); ' if turn_on else ''}feature extractor truncation set to 'fusion'")
    return model.train(), processor


class ContrastiveClap(nn.Module):
    """One forward for both towers (DistributedDataParallel sees every parameter used in forward)."""

    def __init__(self, clap):
        super().__init__()
        self.clap = clap

    def forward(self, input_features, is_longer, input_ids, attention_mask):
        audio = self.clap.get_audio_features(input_features=input_features, is_longer=is_longer).pooler_output
        text = self.clap.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        # half-precision outputs (autocast) are normalised in float32; float64 (the gradient tests) stays float64
        audio, text = (x.float() if x.dtype in (torch.float16, torch.bfloat16) else x for x in (audio, text))
        return F.normalize(audio, dim=-1), F.normalize(text, dim=-1), self.clap.logit_scale_a.exp(), self.clap.logit_scale_t.exp()


@torch.no_grad()
def clamp_logit_scales(clap) -> None:
    clap.logit_scale_a.clamp_(0, MAX_LOGIT_SCALE)
    clap.logit_scale_t.clamp_(0, MAX_LOGIT_SCALE)
