"""Layouts with no metadata table: the label (and fold) is read from each file's name or folder.

Parameters:
  audio_glob: glob relative to the dataset folder, e.g. "AudioWAV/*.wav" or "**/*.wav"
  pattern: regex matched against the path relative to the dataset folder (forward slashes), with a
           named group ``label`` and optionally ``fold``; e.g. "^(?P<label>[^/]+)/[^/]+\\.wav$" for a
           folder per class, or "^AudioWAV/\\d+_[A-Z]+_(?P<label>[A-Z]+)_\\w+\\.wav$" for CREMA-D.
  label_map: optional {code in the file name: class name}
  exclude: optional regex of relative paths to leave out (e.g. "^_background_noise_/")
  on_mismatch: "error" (default) or "skip" for files the pattern does not match
  folds / fold_map: optional list of folds, and {value of the fold group: fold name}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from clapbench.data.dataset import Dataset, Item
from clapbench.data.readers import reader
from clapbench.errors import DataError


@reader("files")
def read_file_names(root: Path, spec: dict[str, Any], class_names: list[str] | None) -> Dataset:
    pattern = re.compile(spec["pattern"])
    exclude = re.compile(spec["exclude"]) if spec.get("exclude") else None
    label_map = {str(k): str(v) for k, v in (spec.get("label_map") or {}).items()}
    fold_map = {str(k): str(v) for k, v in (spec.get("fold_map") or {}).items()}
    skip = spec.get("on_mismatch", "error") == "skip"
    files = sorted(p for p in root.glob(spec["audio_glob"]) if p.is_file())
    if not files:
        raise DataError(f"{root}: no audio files match '{spec['audio_glob']}'; expected the {spec.get('layout_name', 'official')} layout")

    found: list[tuple[str, str, str | None]] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        if exclude and exclude.search(rel):
            continue
        m = pattern.search(rel)
        if not m:
            if skip:
                continue
            raise DataError(f"{path}: file name does not match the expected pattern {pattern.pattern}")
        code = m.group("label")
        label = label_map.get(code, code) if label_map else code
        if label_map and code not in label_map:
            raise DataError(f"{path}: unknown label code '{code}'; expected one of {', '.join(label_map)}")
        fold = m.groupdict().get("fold")
        if fold is not None:
            fold = fold_map.get(fold, fold)
        found.append((rel, label, fold))

    names = class_names or sorted({label for _, label, _ in found})
    index = {name: i for i, name in enumerate(names)}
    items = []
    for rel, label, fold in found:
        if label not in index:
            raise DataError(f"{root / rel}: label '{label}' is not one of the task's {len(names)} classes")
        items.append(Item(path=rel, labels=(index[label],), fold=fold))
    folds = [str(f) for f in spec.get("folds", [])] or sorted({f for _, _, f in found if f is not None})
    return Dataset(root=root, classes=list(names), items=items, folds=folds)
