"""Evaluation protocol presets: each paper's clip policy and prompt, as its code does them.

A preset fixes the sample rate, the length a resampled clip has (the original loader's: one sample
decides how LAION's repeatpad tiles a clip), the clip window, how a short clip is filled and a long one
cut (or fused), whether the waveform is quantised to int16 first, and the prompt with its source. The
mel front end belongs to the model (its weights hold the filter bank), so a preset only chooses among
the front ends a family has. ``native`` picks the family's own preset. Random crops are seeded per clip
by (seed, the clip's samples), so a clip gets the same crop in every run whatever the batch or worker order.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import numpy as np

from clapbench.errors import ModelError


@dataclass(frozen=True)
class Protocol:
    name: str
    sample_rate: int
    clip_seconds: float
    short_clips: str  # "repeat-cut" (tile, cut to the window) or "repeatpad" (tile whole copies, zero-pad)
    long_clips: str  # "random-crop" or "model" (LAION: rand_trunc, or fusion when the checkpoint has it)
    int16_round_trip: bool
    resampled_length: str  # a key of clapbench.audio.decode.LENGTH_RULES: the original loader's length
    prompt: str | None  # replaces a zero-shot task's templates unless --template is given
    source: str
    prompt_source: str

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))

    def describe(self) -> dict:
        out = asdict(self)
        out["clip_samples"] = self.clip_samples
        return out


LAION_COMMIT = "LAION-AI/CLAP 1fd4c37"
LAION_FILELIST = (
    f"{LAION_COMMIT} hook.py CLAP_Module.get_audio_embedding_from_filelist: librosa.load(f, sr=48000), int16 round trip, "
    "training/data.py get_audio_features(480000, repeatpad, rand_trunc or fusion)"
)

PRESETS = {
    "msclap-2022": Protocol(
        "msclap-2022", 44100, 5.0, "repeat-cut", "random-crop", False, "ceil", "This is a sound of {}",
        "msclap configs/config_2022.yml: 44.1 kHz, 5 s; CLAPWrapper.read_audio resamples with torchaudio's Resample",
        "arXiv 2206.04769 (MS-CLAP 2022): 'This is a sound of [label]', no final period",
    ),
    "msclap-2023": Protocol(
        "msclap-2023", 44100, 7.0, "repeat-cut", "random-crop", False, "ceil", "this is the sound of {}",
        "msclap configs/config_2023.yml: 44.1 kHz, 7 s; CLAPWrapper.read_audio resamples with torchaudio's Resample",
        "microsoft/CLAP examples/zero_shot_classification.py: prompt = 'this is the sound of ' + class",
    ),
    "laion": Protocol(
        "laion", 48000, 10.0, "repeatpad", "model", True, "librosa", "This is a sound of {}.",
        LAION_FILELIST + ", on the dataset's own files (e.g. ESC-50 at 44.1 kHz)",
        f"{LAION_COMMIT} src/laion_clap/evaluate/eval_zeroshot_classification.py: f\"This is a sound of {{t}}.\" "
        "(the paper's evaluation script; GTZAN there: \"This is a {t} song.\")",
    ),
    "laion-48k": Protocol(
        "laion-48k", 48000, 10.0, "repeatpad", "model", True, "round", "This is a sound of {}",
        LAION_FILELIST + ", on files already at 48 kHz (LAION's preprocessed ESC50 release, as its README's zero-shot "
        "example reads); other rates are resampled to round(n * 48000 / sr) samples, the length such a file has",
        f"{LAION_COMMIT} README.md, 'Zeroshot Classification with ESC50 official split': \"This is a sound of \" + t, "
        "no final period",
    ),
    "hf": Protocol(
        "hf", 48000, 10.0, "repeatpad", "model", False, "round", "This is a sound of {}.",
        "transformers ClapFeatureExtractor: no int16 round trip, never resamples (clapbench resamples with soxr to "
        "round(n * 48000 / sr) samples)",
        "transformers ZeroShotAudioClassificationPipeline.preprocess: hypothesis_template default "
        "\"This is a sound of {}.\" (one line of its docstring omits the period)",
    ),
}
PROTOCOL_NAMES = ("native", *PRESETS)

# The one vocabulary of model families: --family, the result records (model.family), published.csv and the
# leaderboard's family column. "hf-clap" is a transformers ClapModel folder; "pe-audio" a Perception Encoder
# Audio folder (detected, never forced); the others are checkpoint files.
FAMILY_CHOICES = ("hf-clap", "msclap-2022", "msclap-2023", "clapcap", "laion-clap")
FAMILY_ALIASES = {"hf": "hf-clap", "laion": "laion-clap"}  # earlier --family names, still accepted


def canonical_family(name: str | None) -> str | None:
    return FAMILY_ALIASES.get(name, name) if name is not None else None


# Which presets make sense for a family: the same sample rate and a front end the weights carry.
NATIVE = {"msclap-2022": "msclap-2022", "msclap-2023": "msclap-2023", "clapcap": "msclap-2023", "laion-clap": "laion", "hf-clap": "hf"}
ALLOWED = {
    "msclap-2022": ("msclap-2022", "msclap-2023"),
    "msclap-2023": ("msclap-2023", "msclap-2022"),
    "clapcap": ("msclap-2023", "msclap-2022"),  # the 2023 audio encoder; config_clapcap.yml: 44.1 kHz, 7 s
    "laion-clap": ("laion", "laion-48k", "hf"),
    "hf-clap": ("hf",),
}


def resolve_protocol(requested: str, family: str) -> Protocol:
    family = canonical_family(family)
    name = NATIVE[family] if requested in (None, "native") else requested
    if name not in PRESETS:
        raise ModelError(f"--protocol {requested}: unknown; expected one of {', '.join(PROTOCOL_NAMES)}")
    if name not in ALLOWED[family]:
        raise ModelError(
            f"--protocol {requested}: does not apply to a {family} checkpoint (another sample rate or front end); "
            f"use one of native, {', '.join(ALLOWED[family])}"
        )
    return PRESETS[name]


def clip_rng(wave: np.ndarray, seed: int) -> np.random.Generator:
    """A generator seeded by (seed, the clip's samples): the same draw for a clip in every run."""
    return np.random.default_rng(zlib.crc32(np.ascontiguousarray(wave, dtype=np.float32).tobytes(), seed & 0xFFFFFFFF))


def repeat_cut(wave: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """MS-CLAP's load_audio_into_tensor: a clip no longer than the window is tiled and cut to exactly
    ``n`` samples (no zeros); a longer one gives a random window start in [0, len - n) (random.randrange)."""
    if n >= len(wave):
        return np.tile(wave, int(np.ceil(n / len(wave))))[:n]
    start = int(rng.integers(0, len(wave) - n))
    return wave[start : start + n]


def repeatpad(wave: np.ndarray, n: int) -> np.ndarray:
    """LAION's 'repeatpad': int(n / len) whole copies, then zeros up to ``n``."""
    if len(wave) >= n:
        return wave[:n]
    tiled = np.tile(wave, int(n / len(wave)))
    return np.pad(tiled, (0, n - len(tiled)))


def random_crop(wave: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """LAION's 'rand_trunc' crop: a start drawn uniformly from [0, len - n]."""
    start = int(rng.integers(0, len(wave) - n + 1))
    return wave[start : start + n]


def int16_round_trip(wave: np.ndarray) -> np.ndarray:
    """LAION's quantisation: clip to [-1, 1], scale by 32767, truncate to int16 (astype), scale back."""
    return (np.clip(wave, -1.0, 1.0) * 32767.0).astype(np.int16).astype(np.float32) / np.float32(32767.0)


def apply_prompt(specs: list, loaded, user_templates: bool) -> list:
    """The preset's prompt replaces zero-shot classification tasks' templates (not given --template)."""
    prompt = (loaded.preprocessing or {}).get("prompt")
    if not prompt or user_templates:
        return specs
    return [s.with_templates([prompt]) if s.eval_type == "zero-shot-classification" else s for s in specs]
