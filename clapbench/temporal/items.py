"""The waveforms of a pair's items, and their embeddings through the model contract.

Each source clip is decoded at the model's rate (clapbench.audio.load_audio), then cut from its start
or zero-padded at its end to ``clip_seconds``. "A then B" is the concatenation of the two fitted clips
(2 x clip_seconds, source levels kept); "A while B" is their overlay (clip_seconds): each clip scaled
to the same RMS so neither drowns the other, summed, and scaled down if its peak would clip.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clapbench.audio.decode import load_audio
from clapbench.data.dataset import Dataset
from clapbench.errors import TaskError
from clapbench.models.contract import LoadedModel, embed_waves
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


class _Cache:
    """Embeddings of the last model's items, so tasks sharing items (ZSTE-3/4/5, order test) embed them once."""

    def __init__(self):
        self.model_ref = None
        self.entries: dict[tuple, np.ndarray] = {}

    def get(self, model: Any, key: tuple) -> np.ndarray | None:
        if self.model_ref is None or self.model_ref() is not model:
            return None
        return self.entries.get(key)

    def put(self, model: Any, key: tuple, value: np.ndarray) -> None:
        try:
            ref = weakref.ref(model)
        except TypeError:  # a plugin object that takes no weak reference: no caching
            return
        if self.model_ref is None or self.model_ref() is not model:
            self.model_ref, self.entries = ref, {}
        self.entries[key] = value


_CACHE = _Cache()


def embed_variants(
    loaded: LoadedModel,
    dataset: Dataset,
    pairs: Sequence[Pair],
    variants: Sequence[str],
    rules: ItemRules,
    batch_size: int = 32,
    cache_key: str | None = None,
    progress=None,
    description: str = "items",
) -> dict[str, np.ndarray]:
    """{variant: (n_pairs, D) embeddings}: items built on the fly, batched through the model contract.

    Models with ``audio_preprocessor`` + ``embed_audio_features`` get features, others ``embed_audio``.
    ``cache_key`` (the pair list's hash) lets later tasks of the same run reuse embeddings of the same items.
    """
    model = loaded.model
    out: dict[str, np.ndarray] = {}
    todo = []
    for v in variants:
        key = (cache_key, str(dataset.root), v, rules, loaded.sample_rate)
        hit = _CACHE.get(model, key) if cache_key else None
        if hit is not None:
            out[v] = hit
        else:
            todo.append(v)
    if not todo:
        return out
    rows: dict[str, list[np.ndarray]] = {v: [] for v in todo}
    task = progress.add_task(description, total=len(pairs) * len(todo)) if progress is not None else None
    per_batch = max(1, batch_size // len(todo))
    for start in range(0, len(pairs), per_batch):
        chunk = pairs[start : start + per_batch]
        waves = [pair_waves(dataset, p, loaded.sample_rate, rules) for p in chunk]
        items = [build_variant(v, a, b) for v in todo for a, b in waves]
        emb = embed_waves(model, items)
        for k, v in enumerate(todo):
            rows[v].append(emb[k * len(chunk) : (k + 1) * len(chunk)])
        if task is not None:
            progress.advance(task, len(items))
    for v in todo:
        out[v] = np.concatenate(rows[v]) if rows[v] else np.zeros((0, 0), dtype=np.float32)
        if cache_key:
            _CACHE.put(model, (cache_key, str(dataset.root), v, rules, loaded.sample_rate), out[v])
    return out
