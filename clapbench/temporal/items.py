"""The waveforms of a pair's items, and their embeddings through the model contract.

Each source clip is decoded at the model's rate (clapbench.audio.load_audio), then cut from its start
or zero-padded at its end to ``clip_seconds``. "A then B" is the concatenation of the two fitted clips
(2 x clip_seconds, source levels kept); "A while B" is their overlay (clip_seconds): each clip scaled
to the same RMS so neither drowns the other, summed, and scaled down if its peak would clip.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from clapbench.audio.decode import load_audio
from clapbench.errors import TaskError

if TYPE_CHECKING:  # pragma: no cover - a loader worker unpickling a recipe imports this module: keep pandas out
    from clapbench.data.dataset import Dataset
    from clapbench.temporal.pairs import Pair

# Variant name -> how it is built from the fitted clips a, b.
VARIANTS = ("A", "B", "A while B", "A then B", "B then A")
OVERLAY_RULES = ("equal_rms",)
SILENCE_RMS = 1e-6  # below this a clip is silent and cannot be level-matched


@dataclass(frozen=True)
class ItemRules:
    clip_seconds: float = 5.0
    overlay_level: str = "equal_rms"

    @classmethod
    def from_task(cls, dataset_spec: dict[str, Any], source_file: str) -> "ItemRules":
        seconds = dataset_spec.get("clip_seconds", cls.clip_seconds)
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 < seconds <= 600:
            raise TaskError(f"{source_file}: dataset.clip_seconds must be a number of seconds in (0, 600], got {seconds!r}")
        rule = dataset_spec.get("overlay_level", cls.overlay_level)
        if rule not in OVERLAY_RULES:
            raise TaskError(f"{source_file}: dataset.overlay_level '{rule}' is not known; expected one of {', '.join(OVERLAY_RULES)}")
        return cls(float(seconds), str(rule))

    def describe(self, sample_rate: int) -> dict[str, Any]:
        return {
            "sample_rate": sample_rate,
            "decode": "clapbench.audio.load_audio: mono mean, soxr resampling to the model's rate",
            "clip_seconds": self.clip_seconds,
            "fit": "each source clip cut from its start or zero-padded at its end to clip_seconds",
            "concatenation": "A then B: the two fitted clips end to end (2 x clip_seconds), source levels kept",
            "overlay": "A while B: each fitted clip scaled to the RMS sqrt(rms_A * rms_B), summed, divided by its peak if above 1",
            "overlay_level": self.overlay_level,
        }


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    k = min(n, len(wave))
    out[:k] = wave[:k]
    return out


def rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))


def overlay(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of a and b at equal RMS (their geometric mean, so the overall level stays near the sources')."""
    ra, rb = rms(a), rms(b)
    if ra > SILENCE_RMS and rb > SILENCE_RMS:
        target = np.sqrt(ra * rb)
        a, b = a * (target / ra), b * (target / rb)
    mix = (a.astype(np.float64) + b).astype(np.float32)
    peak = float(np.abs(mix).max(initial=0.0))
    return mix / peak if peak > 1.0 else mix


def build_variant(variant: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One item from the fitted clips a and b."""
    if variant == "A":
        return a
    if variant == "B":
        return b
    if variant == "A while B":
        return overlay(a, b)
    if variant == "A then B":
        return np.concatenate([a, b])
    if variant == "B then A":
        return np.concatenate([b, a])
    raise ValueError(f"unknown item variant '{variant}'")


def pair_waves(dataset: Dataset, pair: Pair, sample_rate: int, rules: ItemRules) -> tuple[np.ndarray, np.ndarray]:
    """The pair's two clips, decoded at ``sample_rate`` and fitted to ``rules.clip_seconds``."""
    n = int(round(rules.clip_seconds * sample_rate))
    return tuple(fit_length(load_audio(dataset.absolute(item), sample_rate), n) for item in (pair.a, pair.b))


# Recipe kinds: one fitted clip, two end to end, two overlaid.
KINDS = ("clip", "concat", "overlay")
# Variant -> (recipe kind, which clips in which order).
VARIANT_RECIPES = {"A": ("clip", "a"), "B": ("clip", "b"), "A while B": ("overlay", "ab"), "A then B": ("concat", "ab"), "B then A": ("concat", "ba")}


@dataclass(frozen=True)
class ItemRecipe:
    """One item, described instead of built, so it can be sent to a loader worker, deduplicated and cached.

    ``sources``: absolute paths of the clips, in the order the kind uses them. "A" of one pair and "B" of
    another are the same recipe when they are the same clip; "A then B" of (x, y) is "B then A" of (y, x).
    An overlay's sources are kept in the pair's order: the sum is the same either way, but the recipe says
    exactly what was built.
    """

    kind: str
    sources: tuple[str, ...]
    rules: ItemRules

    def build(self, sample_rate: int) -> np.ndarray:
        """The item's wave, built as pair_waves + build_variant build it (the same bits)."""
        n = int(round(self.rules.clip_seconds * sample_rate))
        waves = [_fitted(path, sample_rate, n) for path in self.sources]
        if self.kind == "clip":
            return waves[0].copy()  # the fitted wave stays in this process's cache, unchanged
        if self.kind == "concat":
            return np.concatenate(waves)
        if self.kind == "overlay":
            return overlay(*waves)
        raise ValueError(f"unknown item recipe kind '{self.kind}'")

    def identity(self) -> str | None:
        """What the item's embedding depends on besides the model: its sources' file identities, kind and rules
        (the cache keys it as a clip is keyed by its file); None when a source has no file identity."""
        from clapbench.cache import audio_identity, canonical_json

        ids = [audio_identity(p) for p in self.sources]
        if any(i is None for i in ids):
            return None
        return canonical_json(["temporal-item-v1", self.kind, ids, self.rules.clip_seconds, self.rules.overlay_level])

    def __str__(self) -> str:  # how a progress bar or an error names it
        return f"{self.kind}({', '.join(os.path.basename(p) for p in self.sources)})"


def recipe(dataset: Dataset, pair: Pair, variant: str, rules: ItemRules) -> ItemRecipe:
    kind, order = VARIANT_RECIPES[variant]
    clips = {"a": pair.a, "b": pair.b}
    return ItemRecipe(kind, tuple(dataset.absolute(clips[k]) for k in order), rules)


# Fitted source waves of this process (a loader worker, or the main process with workers=0), most recently
# used last: an item's clips recur in the pair's other items and in other pairs, and are decoded once while
# they stay here. Bounded in bytes; each worker holds its own. Keyed by the file's identity as well as its
# path, so a file changed in a long-lived process is decoded again.
FITTED_CACHE_BYTES = 128 * 2**20
_fitted_waves: OrderedDict[tuple, np.ndarray] = OrderedDict()
_fitted_bytes = 0


def forget_fitted() -> None:
    """Empty this process's fitted waves (the main process's, after a run's items are embedded)."""
    global _fitted_bytes
    _fitted_waves.clear()
    _fitted_bytes = 0


def _fitted(path: str, sample_rate: int, n: int) -> np.ndarray:
    global _fitted_bytes
    try:
        st = os.stat(path)
        key: tuple = (path, st.st_size, st.st_mtime_ns, st.st_ino, sample_rate, n)
    except OSError:  # a clip inside a container file (FILE#REF), or a missing file: load_audio says which
        key = ()
    wave = _fitted_waves.get(key) if key else None
    if wave is not None:
        _fitted_waves.move_to_end(key)
        return wave
    wave = fit_length(load_audio(path, sample_rate), n)
    if not key:
        return wave
    wave.setflags(write=False)  # shared by the items that use it: nobody may change it in place
    _fitted_waves[key] = wave
    _fitted_bytes += wave.nbytes
    while _fitted_bytes > FITTED_CACHE_BYTES and len(_fitted_waves) > 1:
        _, old = _fitted_waves.popitem(last=False)
        _fitted_bytes -= old.nbytes
    return wave
