"""Builders for the family tests: seeded weights by key, tokenizers in the real file layouts, tiny checkpoints.

``seeded_state`` gives every float tensor of a state dict values drawn from a generator seeded by the
tensor's name, so the same weights can be rebuilt anywhere from the names and shapes alone: the golden
fixtures (tests/golden/) were made by loading such weights into the original implementations, and the
tests rebuild them for clapbench's modules instead of storing hundreds of megabytes.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import torch

# Tensors that are not learned: kept as the architecture builds them, never drawn.
FIXED_SUFFIXES = ("attn_mask", "relative_position_index", "stft.conv_real.weight", "stft.conv_imag.weight", "logmel_extractor.melW", "num_batches_tracked", "position_ids", "token_type_ids")

CORPUS = [
    "this is a sound of", "This is a sound of", "this is the sound of", "This is the sound of", "a recording of",
    "the sound of", "a dog barking", "rain falling on a roof", "church bells ringing", "a cat meowing",
    "sea waves", "low tone", "high tone", "white noise", "rising chirp", "clicks", "low rumble", "a loud bang!",
    "birds chirping in the morning", "a car engine idling", "someone speaking", "music playing", "water running",
]


def is_fixed(key: str) -> bool:
    return key.endswith(FIXED_SUFFIXES)


def seeded_tensor(key: str, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Values for one learned tensor, from a generator seeded by (seed, key); scaled to keep activations sane."""
    gen = torch.Generator().manual_seed(zlib.crc32(key.encode()) * 1000003 + seed)
    leaf = key.rsplit(".", 1)[-1]
    if len(shape) == 0:  # the logit scales
        return torch.tensor(math.log(1 / 0.07))
    x = torch.randn(shape, generator=gen)
    if leaf == "running_var":
        return 1.0 + 0.2 * x.abs()
    if leaf == "running_mean":
        return 0.1 * x
    if leaf == "relative_position_bias_table":
        return 0.1 * x
    if len(shape) == 1:
        return (1.0 + 0.1 * x) if leaf == "weight" else 0.05 * x  # norm scales near 1, biases near 0
    fan_in = int(np.prod(shape[1:]))
    return x / math.sqrt(max(fan_in, 1))


def seeded_state(reference: dict[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    """``reference`` with every learned float tensor replaced by its seeded values (fixed tensors kept)."""
    out = {}
    for key, ref in reference.items():
        if is_fixed(key) or not ref.is_floating_point():
            out[key] = ref.detach().clone()
        else:
            out[key] = seeded_tensor(key, tuple(ref.shape), seed).to(ref.dtype)
    return out


def golden_waves(sample_rate: int, seconds: list[float], seed: int = 0) -> list[np.ndarray]:
    """Seeded test clips: two tones, a chirp and noise, in [-0.9, 0.9]."""
    rng = np.random.default_rng(seed)
    out = []
    for s in seconds:
        n = int(round(s * sample_rate))
        t = np.arange(n) / sample_rate
        f1, f2 = rng.uniform(100, 800), rng.uniform(1000, 6000)
        x = 0.4 * np.sin(2 * np.pi * f1 * t) + 0.2 * np.sin(2 * np.pi * f2 * t + rng.uniform(0, 6))
        x += 0.2 * np.sin(2 * np.pi * (200 + 3000 * t / max(s, 1e-3)) * t) + 0.1 * rng.standard_normal(n)
        out.append((0.9 * x / np.abs(x).max()).astype(np.float32))
    return out


def write_pcm16_clips(folder: Path, files: list[tuple[int, float]], seed: int) -> list[Path]:
    """16-bit mono wav files (as ESC-50's) of golden_waves, one per (rate, seconds), the i-th seeded seed + i."""
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (rate, seconds) in enumerate(files):
        (wave,) = golden_waves(rate, [seconds], seed=seed + i)
        path = folder / f"clip{i}-{rate}.wav"
        sf.write(path, np.round(wave * 32767.0).astype(np.int16), rate, subtype="PCM_16")
        paths.append(path)
    return paths


# ---- tokenizers, in the file layouts of the hub repos --------------------------------------------------------


def _byte_alphabet() -> list[str]:
    """GPT-2's byte-to-unicode characters in GPT-2's vocabulary order ('!' is token 0)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    rest = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(rest))]


def _train_bpe(corpus: list[str], vocab_size: int) -> list[tuple[str, str]]:
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(corpus, vocab_size=vocab_size, min_frequency=1, show_progress=False)
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


def _write_bpe(folder: Path, head: list[str], tail: list[str], corpus: list[str], vocab_size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    merges = _train_bpe(corpus, vocab_size)
    tokens = head + _byte_alphabet()
    seen = set(tokens)
    for a, b in merges:
        if a + b not in seen:
            tokens.append(a + b)
            seen.add(a + b)
    tokens += tail
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return folder


def build_gpt2_tokenizer(folder: Path, corpus: list[str] = CORPUS, vocab_size: int = 400) -> Path:
    """vocab.json + merges.txt like openai-community/gpt2: '!' is 0, '<|endoftext|>' the last id."""
    return _write_bpe(Path(folder), [], ["<|endoftext|>"], corpus, vocab_size)


def build_roberta_tokenizer(folder: Path, corpus: list[str] = CORPUS, vocab_size: int = 400) -> Path:
    """vocab.json + merges.txt like FacebookAI/roberta-base: <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> last."""
    return _write_bpe(Path(folder), ["<s>", "<pad>", "</s>", "<unk>"], ["<mask>"], corpus, vocab_size)


def build_bert_tokenizer(folder: Path, corpus: list[str] = CORPUS) -> Path:
    """vocab.txt like google-bert/bert-base-uncased (WordPiece, lower-cased)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    words = sorted({w.strip("!.,").lower() for line in corpus for w in line.split()} - {""})
    chars = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"))
    vocab = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars] + words))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return folder


def vocab_size(folder: Path) -> int:
    folder = Path(folder)
    if (folder / "vocab.json").is_file():
        return len(json.loads((folder / "vocab.json").read_text()))
    return len((folder / "vocab.txt").read_text().splitlines())


# ---- small checkpoints in the originals' file formats, built with clapbench's modules ---------------------------


def tiny_text_config(kind: str, vocab: int, hidden: int = 64, layers: int = 2):
    from transformers import BertConfig, GPT2Config, RobertaConfig

    heads = max(1, hidden // 64)
    if kind == "gpt2":
        return GPT2Config(vocab_size=vocab, n_positions=128, n_embd=hidden, n_layer=layers, n_head=heads, bos_token_id=vocab - 1, eos_token_id=vocab - 1)
    common = dict(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=2 * hidden)
    if kind == "bert":
        return BertConfig(**common, max_position_embeddings=128, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0)
    return RobertaConfig(**common, max_position_embeddings=130, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2)


TINY_HTSAT = dict(embed_dim=8, depths=(2, 2), num_heads=(1, 2), num_classes=10)


def tiny_laion_checkpoint(path: Path, tokenizer_dir: Path, fusion: bool = False, seed: int = 0) -> Path:
    """A LAION-CLAP-format file ({'state_dict': {'module.' + key: tensor}, 'epoch': ...}) with a small HTS-AT and RoBERTa."""
    from clapbench.models.arch.htsat import HTSATConfig
    from clapbench.models.laion_clap import LaionClapNet

    net = LaionClapNet(HTSATConfig(**TINY_HTSAT, fusion=fusion), tiny_text_config("roberta", vocab_size(tokenizer_dir)), joint_dim=32)
    state = seeded_state(net.state_dict(), seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 45, "name": "tiny", "state_dict": {"module." + k: v for k, v in state.items()}}, path)
    return path


def tiny_msclap_checkpoint(path: Path, tokenizer_dir: Path, version: str, seed: int = 0) -> Path:
    """An MS-CLAP-format file ({'model': state dict}) with a small audio encoder and text tower."""
    from clapbench.models.arch.cnn14 import Cnn14, Cnn14Config
    from clapbench.models.arch.htsat import HTSAT, HTSATConfig
    from clapbench.models.msclap import HOP, VERSIONS, MSClapNet, _HTSATWrapper

    v = VERSIONS[version]
    if v.audio == "cnn14":
        cfg = Cnn14Config(widths=(4, 8, 8, 16, 16, 32), embedding=32, num_classes=10)
        audio, dim = Cnn14(cfg, v.mel_rate, HOP, v.fmin, v.fmax), cfg.embedding
    else:
        cfg = HTSATConfig(**TINY_HTSAT)
        audio, dim = _HTSATWrapper(HTSAT(cfg, v.mel_rate, HOP, v.fmin, v.fmax)), cfg.num_features
    net = MSClapNet(v, audio, dim, tiny_text_config(v.text, vocab_size(tokenizer_dir)), d_proj=32)
    state = seeded_state(net.state_dict(), seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state}, path)
    return path


def tiny_clapcap_checkpoint(path: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """A clapcap-format file ({'model': state dict}): a small HTS-AT, a 1-layer mapper (prefix 4) and a small GPT-2."""
    from clapbench.models.arch.htsat import HTSAT, HTSATConfig
    from clapbench.models.clapcap import ClapCapNet
    from clapbench.models.msclap import HOP, VERSIONS, _HTSATWrapper

    v = VERSIONS["2023"]
    cfg = HTSATConfig(**TINY_HTSAT)
    gpt = tiny_text_config("gpt2", vocab_size(tokenizer_dir))
    mapper = dict(dim_clip=32, dim_embedding=gpt.n_embd, prefix_length=4, clip_length=4, num_layers=1)
    net = ClapCapNet(_HTSATWrapper(HTSAT(cfg, v.mel_rate, HOP, v.fmin, v.fmax)), cfg.num_features, 32, mapper, gpt)
    state = seeded_state(net.state_dict(), seed)
    state["gpt.lm_head.weight"] = state["gpt.transformer.wte.weight"].clone()  # tied in GPT-2
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state}, path)
    return path
