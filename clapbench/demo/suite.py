"""The demo's small suite, laid out like the real datasets.

- ``esc50/``: the ESC-50 layout (meta/esc50.csv, audio/{fold}-{id}-A-{target}.wav). Folds 1-4 are the
  training clips, fold 5 the held-out evaluation clips (drawn apart: other words, other recordings).
- ``train.csv``: the training pair list (audio, caption), several captions per clip, worded unlike the
  evaluation prompts (the esc50 task's "This is a sound of {}." templates).
- ``clotho/``: the Clotho layout (clotho_captions_evaluation.csv + evaluation/*.wav) over held-out clips
  only, five captions per clip in yet other wordings.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from clapbench.demo.sources import SoundClass, available_tools, choose_classes, make_clips, write_wav
from clapbench.training.augment import KEYWORD_TEMPLATES

TRAIN_FOLDS = ("1", "2", "3", "4")
EVAL_FOLD = "5"
EVAL_CAPTIONS = (
    "{W} is audible throughout.",
    "This clip contains {w}.",
    "We hear {w} for about two seconds.",
    "Somewhere, {w} goes on.",
    "{W}{detail}.",
)


@dataclass
class Suite:
    root: Path
    classes: list[SoundClass]
    tools: dict[str, bool]
    numpy_fallback: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def esc50(self) -> Path:
        return self.root / "esc50"

    @property
    def clotho(self) -> Path:
        return self.root / "clotho"

    @property
    def pairs(self) -> Path:
        return self.root / "train.csv"


def _detail(cls: SoundClass, attribute: str) -> str:
    if attribute in ("male", "female"):
        return f" in a {attribute} voice"
    if attribute in ("high", "low"):
        return f", {attribute} in pitch"
    return ""


def training_captions(cls: SoundClass, attribute: str) -> list[str]:
    captions = [t.format(w) for w in cls.words for t in KEYWORD_TEMPLATES]
    if attribute in ("male", "female"):
        captions += [f"{w} by a {attribute} voice" for w in cls.words]
    elif attribute in ("high", "low"):
        captions += [f"{attribute} pitched {w}" for w in cls.words]
    return captions


def evaluation_captions(cls: SoundClass, attribute: str) -> list[str]:
    w = cls.words[1] if len(cls.words) > 1 else cls.words[0]
    return [t.format(w=w, W=w[0].upper() + w[1:], detail=_detail(cls, attribute)) for t in EVAL_CAPTIONS]


def build_suite(root: str | Path, seed: int = 0, train_per_class: int = 24, eval_per_class: int = 8, retrieval_per_class: int = 2,
                seconds: float = 2.0, synth_only: bool = False) -> Suite:
    root = Path(root)
    tools = available_tools()
    classes, fallback = choose_classes(tools, synth_only=synth_only)
    esc_rows, pair_rows, clotho_rows = [], [], []
    for target, cls in enumerate(classes):
        for split, n in (("train", train_per_class), ("eval", eval_per_class)):
            for k, clip in enumerate(make_clips(cls, n, split, seconds, seed)):
                fold = TRAIN_FOLDS[k % len(TRAIN_FOLDS)] if split == "train" else EVAL_FOLD
                clip_id = 100000 + 1000 * target + (k if split == "train" else 500 + k)
                name = f"{fold}-{clip_id}-A-{target}.wav"
                write_wav(root / "esc50" / "audio" / name, clip.wave)
                esc_rows.append([name, fold, target, cls.name, "False", clip_id, "A"])
                if split == "train":
                    pair_rows += [[f"esc50/audio/{name}", c] for c in training_captions(cls, clip.attribute)]
                elif k < retrieval_per_class:
                    clotho_name = f"{cls.name.replace('_', ' ')} {k + 1:02d}.wav"
                    write_wav(root / "clotho" / "evaluation" / clotho_name, clip.wave)
                    clotho_rows.append([clotho_name, *evaluation_captions(cls, clip.attribute)])
    _write_csv(root / "esc50" / "meta" / "esc50.csv", ["filename", "fold", "target", "category", "esc10", "src_file", "take"], esc_rows)
    _write_csv(root / "train.csv", ["audio", "caption"], pair_rows)
    _write_csv(root / "clotho" / "clotho_captions_evaluation.csv", ["file_name", *[f"caption_{i}" for i in range(1, 6)]], clotho_rows)
    counts = {"classes": len(classes), "train_clips": train_per_class * len(classes), "eval_clips": eval_per_class * len(classes),
              "retrieval_clips": len(clotho_rows), "train_pairs": len(pair_rows)}
    return Suite(root, classes, tools, fallback, counts)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
