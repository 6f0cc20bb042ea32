"""Tiny PE Audio folders built offline: a ModernBERT-style tokenizer trained with `tokenizers`, seeded random weights.

PE-AV's video towers need timm (not a clapbench dependency), so a PE-AV folder is written as its
save_pretrained would lay it out: the PeAudioVideoConfig and the audio-text part's tensors under their
saved names (audio_model.*, the shared text_model.*), plus a stand-in video tensor that must be ignored.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tests.family_fixtures import CORPUS

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_modernbert_tokenizer(corpus: list[str] = CORPUS, vocab_size: int = 300):
    """A byte-level BPE tokenizer with [CLS] ... [SEP] around each text, as a PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]", mask_token="[MASK]", model_max_length=64)


def tiny_pe_config(tokenizer):
    from transformers import PeAudioConfig

    text = dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id, bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
        global_attn_every_n_layers=1, local_attention=16,
    )
    # The codec's strides multiply to the feature extractor's hop_length (1920 samples, 40 ms at 48 kHz).
    dac = dict(encoder_hidden_size=8, codebook_dim=16, downsampling_ratios=[2, 8, 10, 12])
    audio = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, head_dim=16, dac_config=dac)
    return PeAudioConfig(text_config=text, audio_config=audio)


def build_tiny_pe_audio(folder: str | Path, variant: str = "pe-a", seed: int = 0) -> Path:
    """A save_pretrained folder of a random PeAudioModel ('pe-a'), PeAudioFrameLevelModel ('pe-a-frame') or PE-AV ('pe-av')."""
    from transformers import PeAudioFeatureExtractor, PeAudioFrameLevelModel, PeAudioModel, PeAudioProcessor

    folder = Path(folder)
    tokenizer = build_modernbert_tokenizer()
    config = tiny_pe_config(tokenizer)
    torch.manual_seed(seed)
    cls = PeAudioFrameLevelModel if variant == "pe-a-frame" else PeAudioModel
    model = cls(config).eval()
    if variant == "pe-av":
        _write_pe_av(folder, model, config)
    else:
        model.save_pretrained(folder)
    PeAudioProcessor(feature_extractor=PeAudioFeatureExtractor(), tokenizer=tokenizer).save_pretrained(folder)
    return folder


def _write_pe_av(folder: Path, audio_model, config) -> None:
    from safetensors.torch import save_file
    from transformers import PeAudioVideoConfig

    folder.mkdir(parents=True, exist_ok=True)
    av = PeAudioVideoConfig(
        text_config=config.text_config.to_dict(),
        audio_video_config=dict(audio_config=config.audio_config.to_dict(), video_config=dict(hidden_size=32), hidden_size=32),
    )
    av.architectures = ["PeAudioVideoModel"]
    av.save_pretrained(folder)
    state = {}
    for key, value in audio_model.state_dict().items():
        state[key if key.startswith("text_model.") else f"audio_model.{key}"] = value.contiguous()
    state["video_model.video_head.proj.weight"] = torch.zeros(32, 32)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
