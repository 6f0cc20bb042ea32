"""Training examples: a sound and the captions that describe it.

A sound is a file, or a recipe built from two files (the temporal items: a concatenation or an overlay).
Examples come from a pair list (CSV or JSONL of audio path and caption; relative paths resolved against
the list's folder) or from a registered task (clips with captions, or labels turned into captions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from clapbench.errors import DataError

AUDIO_COLUMNS = ("audio", "path", "file", "file_name", "filename")
CAPTION_COLUMNS = ("caption", "text")


@dataclass(frozen=True)
class Composite:
    """A sound built from two clips (clapbench.temporal.items.build_variant), each fitted to clip_seconds."""

    variant: str  # "A while B", "A then B", ...
    path_a: str
    path_b: str
    clip_seconds: float


@dataclass(frozen=True)
class Example:
    sound: str | Composite  # an absolute audio path, or a recipe
    captions: tuple[str, ...]  # one is drawn per epoch
    group: int = -1  # examples of one group are batched together (temporal pairs); -1: none

    def describe(self) -> str:
        return self.sound if isinstance(self.sound, str) else f"{self.sound.variant}({self.sound.path_a}, {self.sound.path_b})"


@dataclass
class ExampleSet:
    examples: list[Example]
    source: dict = field(default_factory=dict)  # what they were built from, for training.json

    @property
    def group_size(self) -> int:
        """Examples per group (1 when ungrouped)."""
        sizes = {}
        for ex in self.examples:
            sizes[ex.group] = sizes.get(ex.group, 0) + 1
        return max(sizes.values()) if self.examples and self.examples[0].group >= 0 else 1

    def captions(self) -> list[str]:
        return [c for ex in self.examples for c in ex.captions]


def read_pair_file(path: str | Path) -> ExampleSet:
    """A CSV (columns audio + caption) or JSONL (keys audio + caption or captions) pair list.

    Rows naming the same audio file are one example with several captions.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: pair list not found; expected a CSV or JSONL of (audio path, caption), or a task name")
    rows = _read_jsonl(path) if path.suffix.lower() in (".jsonl", ".ndjson") else _read_csv(path)
    base = path.resolve().parent
    captions: dict[str, list[str]] = {}
    for line, audio, texts in rows:
        if not audio.strip():
            raise DataError(f"{path}: line {line} has no audio path")
        texts = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
        if not texts:
            raise DataError(f"{path}: line {line} ('{audio}') has no caption")
        full = Path(audio.strip()).expanduser()
        full = (full if full.is_absolute() else base / full).resolve()
        if not full.is_file():
            raise DataError(f"{path}: line {line}: audio file {full} not found (relative paths are resolved against {base})")
        captions.setdefault(str(full), []).extend(texts)
    if not captions:
        raise DataError(f"{path}: the pair list holds no pairs")
    examples = [Example(audio, tuple(dict.fromkeys(texts))) for audio, texts in captions.items()]
    return ExampleSet(examples, {"kind": "pair-list", "path": str(path.resolve()), "clips": len(examples)})


def _read_csv(path: Path) -> list[tuple[int, str, list[str]]]:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"{path}: cannot read as CSV ({exc}); expected columns audio and caption") from None
    audio_col = next((c for c in AUDIO_COLUMNS if c in table.columns), None)
    caption_col = next((c for c in CAPTION_COLUMNS if c in table.columns), None)
    if audio_col is None or caption_col is None:
        raise DataError(f"{path}: expected columns audio and caption (or {'/'.join(AUDIO_COLUMNS)} and {'/'.join(CAPTION_COLUMNS)}); found {', '.join(map(str, table.columns))}")
    return [(i + 2, a, [c]) for i, (a, c) in enumerate(zip(table[audio_col], table[caption_col]))]


def _read_jsonl(path: Path) -> list[tuple[int, str, list[str]]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{path}: line {line_no} is not valid JSON ({exc})") from None
            if not isinstance(rec, dict):
                raise DataError(f"{path}: line {line_no}: expected an object with keys audio and caption")
            audio = next((rec[k] for k in AUDIO_COLUMNS if k in rec), None)
            texts = rec.get("captions", [rec.get("caption", rec.get("text"))])
            if not isinstance(audio, str):
                raise DataError(f"{path}: line {line_no}: expected a string 'audio' (the clip's path)")
            if isinstance(texts, str):
                texts = [texts]
            rows.append((line_no, audio, list(texts or [])))
    return rows


def examples_from_task(spec, dataset, templates: list[str], caption_writer=None) -> ExampleSet:
    """A task's clips: their own captions (retrieval datasets), else captions made from their labels.

    ``templates`` fill in the labels' display names (keyword-to-caption); ``caption_writer`` (optional)
    adds one model-written caption per label set.
    """
    examples = []
    generated: dict[tuple[str, ...], str | None] = {}
    for item in dataset.items:
        if item.captions:
            captions = tuple(item.captions)
        else:
            from clapbench.training.augment import keyword_captions

            keywords = tuple(spec.display_name(dataset.classes[c]) for c in item.labels)
            captions = keyword_captions(keywords, templates)
            if caption_writer is not None:
                if keywords not in generated:
                    generated[keywords] = caption_writer(keywords)
                if generated[keywords]:
                    captions = captions + (generated[keywords],)
        examples.append(Example(dataset.absolute(item), captions))
    source = {
        "kind": "task",
        "task": spec.name,
        "task_version": spec.version,
        "data_root": str(dataset.root),
        "folds": sorted({i.fold for i in dataset.items if i.fold is not None}),
        "clips": len(examples),
        "caption_source": "dataset captions" if dataset.items[0].captions else "labels through templates",
        "templates": list(templates),
        "generated_captions": sum(1 for v in generated.values() if v),
    }
    return ExampleSet(examples, source)
