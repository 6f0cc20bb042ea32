"""Build a small HF ClapModel + ClapProcessor folder offline: a BPE tokenizer trained here, random weights."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
BASE_CORPUS = [
    "this is a sound of", "this is the sound of", "a recording of", "the sound of", "this is a song",
    "this person is feeling", "persons speaking", "a dog barking", "rain falling", "a bell ringing",
    "a car engine", "birds chirping", "someone speaking", "music playing", "water running",
]


def train_tokenizer(folder: Path, corpus: Iterable[str] = (), vocab_size: int = 600):
    """A byte-level BPE tokenizer (RoBERTa style) trained on a few sentences, saved as vocab.json + merges.txt."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(list(BASE_CORPUS) + list(corpus), vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tok.save_model(str(folder))
    return RobertaTokenizerFast.from_pretrained(str(folder))


def tiny_config(projection_dim: int = 32, fusion: bool = False, vocab_size: int = 600, full_size: bool = False, spec_size: int = 256,
                depths: tuple[int, ...] = (1, 1)):
    from transformers import ClapAudioConfig, ClapConfig, ClapTextConfig

    if full_size:
        audio, text = ClapAudioConfig(enable_fusion=fusion), ClapTextConfig(vocab_size=vocab_size)
        return ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict())
    text = ClapTextConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=80, projection_dim=projection_dim,
    )
    # HTSAT's hidden_size must equal patch_embeds_hidden_size * 2 ** (len(depths) - 1). A stage's odd-numbered
    # blocks attend in shifted windows (depths of 2 or more), the real HTSAT's every other block.
    audio = ClapAudioConfig(
        depths=list(depths), num_attention_heads=[2] * len(depths), patch_embeds_hidden_size=16,
        hidden_size=16 * 2 ** (len(depths) - 1),
        projection_dim=projection_dim, enable_fusion=fusion, spec_size=spec_size, window_size=8,
    )
    return ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=projection_dim)


def build_tiny_clap(
    folder: str | Path,
    seed: int = 0,
    corpus: Iterable[str] = (),
    fusion: bool = False,
    max_length_s: int = 10,
    full_size: bool = False,
    spec_size: int = 256,
    depths: tuple[int, ...] = (1, 1),
) -> Path:
    """Write a randomly initialised ClapModel + ClapProcessor folder that `clapbench run` loads.

    ``spec_size`` (HTSAT's square input) must hold the clip's mel frames: spec_size * (spec_size // 64)
    >= 100 * max_length_s + 1 (256: up to 10 s; 128: up to 2 s).
    """
    from transformers import ClapFeatureExtractor, ClapModel, ClapProcessor

    folder = Path(folder)
    tokenizer = train_tokenizer(folder, corpus)
    torch.manual_seed(seed)
    model = ClapModel(tiny_config(fusion=fusion, vocab_size=len(tokenizer), full_size=full_size, spec_size=spec_size,
                                  depths=depths)).eval()
    # The hub checkpoints' settings: 48 kHz, 50-14000 Hz, repeatpad; rand_trunc unfused, fusion fused.
    fe = ClapFeatureExtractor(
        truncation="fusion" if fusion else "rand_trunc", padding="repeatpad",
        frequency_min=50, frequency_max=14000, max_length_s=max_length_s,
    )
    model.save_pretrained(folder)
    ClapProcessor(feature_extractor=fe, tokenizer=tokenizer).save_pretrained(folder)
    return folder
