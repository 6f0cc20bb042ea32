"""Synthesized sounds and an ESC-50-layout dataset built from them (numpy only, seeded)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

# Each demo class is a sound numpy can make, named so a text encoder could tell them apart.
DEMO_CLASSES = ["low_tone", "high_tone", "white_noise", "rising_chirp", "clicks", "low_rumble"]


def synth_sound(kind: str, seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of a class, with seeded variation (pitch, level, phase) so clips differ."""
    n = max(1, int(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    jitter = rng.uniform(0.9, 1.1)
    if kind == "low_tone":
        x = np.sin(2 * np.pi * 220 * jitter * t + rng.uniform(0, 2 * np.pi))
    elif kind == "high_tone":
        x = np.sin(2 * np.pi * 3000 * jitter * t + rng.uniform(0, 2 * np.pi))
    elif kind == "white_noise":
        x = rng.standard_normal(n)
    elif kind == "rising_chirp":
        f = 300 + 4000 * jitter * t / max(seconds, 1e-3)
        x = np.sin(2 * np.pi * np.cumsum(f) / sample_rate)
    elif kind == "clicks":
        x = np.zeros(n)
        period = int(sample_rate / (8 * jitter))
        x[:: max(period, 1)] = 1.0
        x += 0.01 * rng.standard_normal(n)
    elif kind == "low_rumble":
        x = np.convolve(rng.standard_normal(n), np.ones(200) / 200, mode="same") * 10
    else:
        raise ValueError(f"unknown synthetic sound '{kind}'")
    x = x / (np.abs(x).max() + 1e-9)
    return (rng.uniform(0.3, 0.8) * x).astype(np.float32)


def make_esc50_layout(
    root: str | Path,
    classes: list[str] = DEMO_CLASSES,
    clips_per_class: int = 5,
    folds: int = 5,
    seconds: float = 5.0,
    sample_rate: int = 44100,
    seed: int = 0,
    formats: tuple[str, ...] = ("wav",),
    channels: tuple[int, ...] = (1,),
    sample_rates: tuple[int, ...] | None = None,
) -> Path:
    """Write ``root/meta/esc50.csv`` and ``root/audio/*`` exactly as the ESC-50 archive lays them out.

    File names follow ``{fold}-{clip_id}-{take}-{target}.{ext}``; formats, channel counts and
    sample rates cycle over the clips so readers meet every combination.
    """
    root = Path(root)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    k = 0
    for target, name in enumerate(classes):
        for j in range(clips_per_class):
            fold = j % folds + 1
            clip_id = 100000 + 1000 * target + j
            ext = formats[k % len(formats)]
            ch = channels[k % len(channels)]
            sr = (sample_rates or (sample_rate,))[k % len(sample_rates or (sample_rate,))]
            filename = f"{fold}-{clip_id}-A-{target}.{ext}"
            kind = name if name in DEMO_CLASSES else DEMO_CLASSES[target % len(DEMO_CLASSES)]
            wave = synth_sound(kind, seconds, sr, rng)
            data = np.stack([wave] * ch, axis=1) if ch > 1 else wave
            sf.write(root / "audio" / filename, data, sr, format=ext.upper() if ext != "ogg" else "OGG")
            rows.append([filename, fold, target, name, "False", clip_id, "A"])
            k += 1
    with open(root / "meta" / "esc50.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        writer.writerows(rows)
    return root
