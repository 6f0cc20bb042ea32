"""Layouts with no metadata table: the label (and fold) is read from each file's name or folder.

Parameters:
  audio_glob: glob relative to the dataset folder, e.g. "AudioWAV/*.wav" or "**/*.wav", or a list
              of globs (e.g. ["*/*.au", "*/*.wav"] for copies converted to another format)
  archive_root: the archive's own top folder; used when the user's folder holds it rather than
              being it (nothing matches audio_glob directly, but archive_root/ exists)
  pattern: regex matched against the path relative to the dataset folder (forward slashes), with a
           named group ``label`` and optionally ``fold``; e.g. "^(?P<label>[^/]+)/[^/]+\\.wav$" for a
           folder per class, or "^AudioWAV/\\d+_[A-Z]+_(?P<label>[A-Z]+)_\\w+\\.wav$" for CREMA-D.
  label_map: optional {code in the file name: class name}
  exclude: optional regex of relative paths to leave out (e.g. "^_background_noise_/")
  on_mismatch: "error" (default) or "skip" for files the pattern does not match
  folds / fold_map: optional list of folds, and {value of the fold group: fold name}
  hear_kfold: optional k; folds "fold00".."fold<k-1>" as HEAR 2021 split datasets that have no
              official split (see clapbench/data/hear_folds.py)
  layout_name: optional name of the layout, for error messages
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from clapbench.data.dataset import Dataset, Item
from clapbench.data.hear_folds import hear_kfold
from clapbench.data.readers import reader
from clapbench.errors import DataError


def _globs(spec: dict[str, Any]) -> list[str]:
    value = spec["audio_glob"]
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _find_files(root: Path, globs: list[str]) -> list[Path]:
    return sorted({p for g in globs for p in root.glob(g) if p.is_file()})


@reader("files")
def read_file_names(root: Path, spec: dict[str, Any], class_names: list[str] | None) -> Dataset:
    pattern = re.compile(spec["pattern"])
    exclude = re.compile(spec["exclude"]) if spec.get("exclude") else None
    label_map = {str(k): str(v) for k, v in (spec.get("label_map") or {}).items()}
    fold_map = {str(k): str(v) for k, v in (spec.get("fold_map") or {}).items()}
    skip = spec.get("on_mismatch", "error") == "skip"
    layout = spec.get("layout_name", "official")
    globs = _globs(spec)
    files = _find_files(root, globs)
    inner = spec.get("archive_root")
    if not files and inner and (root / inner).is_dir():
        root = root / inner
        files = _find_files(root, globs)
    if not files:
        raise DataError(f"{root}: no audio files match {' or '.join(repr(g) for g in globs)}; expected the {layout} layout")

    found: list[tuple[str, str, str | None]] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        if exclude and exclude.search(rel):
            continue
        m = pattern.search(rel)
        if not m:
            if skip:
                continue
            raise DataError(f"{path}: file name does not match the expected pattern {pattern.pattern} ({layout} layout)")
        code = m.group("label")
        label = label_map.get(code, code) if label_map else code
        if label_map and code not in label_map:
            raise DataError(f"{path}: unknown label code '{code}'; expected one of {', '.join(label_map)}")
        fold = m.groupdict().get("fold")
        if fold is not None:
            fold = fold_map.get(fold, fold)
        found.append((rel, label, fold))
    if not found:
        raise DataError(f"{root}: every file matching {' or '.join(repr(g) for g in globs)} is left out (exclude or on_mismatch: skip); expected the {layout} layout")

    names = class_names or sorted({label for _, label, _ in found})
    index = {name: i for i, name in enumerate(names)}
    for rel, label, _ in found:
        if label not in index:
            raise DataError(f"{root / rel}: label '{label}' is not one of the task's {len(names)} classes ({', '.join(names)}); expected the {layout} layout")
    if spec.get("hear_kfold"):
        stems = [PurePosixPath(rel).stem for rel, _, _ in found]
        folds = hear_kfold(stems, [label for _, label, _ in found], int(spec["hear_kfold"]))
        found = [(rel, label, fold) for (rel, label, _), fold in zip(found, folds)]
    items = [Item(path=rel, labels=(index[label],), fold=fold) for rel, label, fold in found]
    fold_names = [str(f) for f in spec.get("folds", [])] or sorted({f for _, _, f in found if f is not None})
    return Dataset(root=root, classes=list(names), items=items, folds=fold_names)
