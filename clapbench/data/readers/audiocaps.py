"""AudioCaps caption layout: ``test.csv`` (one row per caption) and locally downloaded audio.

The audio is not distributed: users fetch the 10 s AudioSet segments from YouTube, name the files
in one of several ways, and miss 5-20% of them. So the reader finds each clip's file among declared
name patterns, evaluates the clips present, and records how many listed clips are missing; below
``min_coverage`` it refuses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from clapbench.data.containment import DatasetFolder
from clapbench.data.dataset import Dataset, Item
from clapbench.data.readers import read_table, reader
from clapbench.data.readers.captions import clean_captions, csv_encoding
from clapbench.errors import DataError

COLUMNS = ["audiocap_id", "youtube_id", "start_time", "caption"]
# Names seen in the wild (DATASETS.md §21), tried in this order. Fields: youtube_id, start_time
# (as written in the CSV), start_int, start_3f, end_3f (AudioSet style, 30.000), audiocap_id
# (any of the clip's rows).
DEFAULT_PATTERNS = [
    "{youtube_id}_{start_time}",
    "{youtube_id}_{start_int}",
    "Y{youtube_id}_{start_3f}_{end_3f}",
    "Y{youtube_id}",
    "{youtube_id}",
    "{audiocap_id}",
]
FIELDS = ("youtube_id", "start_time", "start_int", "start_3f", "end_3f", "audiocap_id")


class _Clip:
    def __init__(self, youtube_id: str, start_time: str, start: float, line: int):
        self.youtube_id, self.start_time, self.start, self.line = youtube_id, start_time, start, line
        self.audiocap_ids: list[str] = []
        self.captions: list[str] = []

    def names(self, pattern: str, clip_seconds: float) -> list[str]:
        fields = {
            "youtube_id": self.youtube_id,
            "start_time": self.start_time,
            "start_int": str(int(self.start)),
            "start_3f": f"{self.start:.3f}",
            "end_3f": f"{self.start + clip_seconds:.3f}",
        }
        if "{audiocap_id}" in pattern:
            return [pattern.format(**fields, audiocap_id=a) for a in self.audiocap_ids]
        return [pattern.format(**fields, audiocap_id="")]

    def label(self) -> str:
        return f"{self.youtube_id} at {self.start_time} s"


@reader("audiocaps")
def read_audiocaps(root: Path, spec: dict[str, Any], class_names: list[str] | None) -> Dataset:
    """Clips are the rows grouped by (youtube_id, start_time), in order of first appearance.

    Parameters: metadata (a path or a list of candidate paths), audio_dirs (folders searched, in
    order), audio_patterns (file names without extension, ``str.format`` fields as above),
    audio_formats (extensions), clip_seconds (10), min_coverage (share of listed clips that must
    be found).
    """
    meta = _metadata_file(root, spec.get("metadata", ["test.csv", "dataset/test.csv"]))
    patterns = list(dict.fromkeys(spec.get("audio_patterns", DEFAULT_PATTERNS)))
    formats = [str(f).lower().lstrip(".") for f in spec.get("audio_formats", ["wav", "flac"])]
    audio_dirs = list(spec.get("audio_dirs", ["test", "audio/test", "audio", "."]))
    clip_seconds = float(spec.get("clip_seconds", 10))
    min_coverage = float(spec.get("min_coverage", 0.0))
    _check_patterns(patterns)

    encoding = csv_encoding(meta)
    table = read_table(meta, COLUMNS, f"AudioCaps ({meta.name}: {', '.join(COLUMNS)})", encoding=encoding)
    clips: dict[tuple[str, float], _Clip] = {}
    for row_no, row in enumerate(table.to_dict("records"), start=2):
        youtube_id, start_text = row["youtube_id"].strip(), row["start_time"].strip()
        try:
            start = float(start_text)
        except ValueError:
            raise DataError(f"{meta}: line {row_no} has start_time '{start_text}'; expected seconds, e.g. 130") from None
        if not youtube_id:
            raise DataError(f"{meta}: line {row_no} has an empty youtube_id")
        clip = clips.setdefault((youtube_id, start), _Clip(youtube_id, start_text, start, row_no))
        clip.audiocap_ids.append(row["audiocap_id"].strip())
        clip.captions.extend(clean_captions([row["caption"]]))
    for clip in clips.values():
        if not clip.captions:
            raise DataError(f"{meta}: clip {clip.label()} (line {clip.line}) has no non-empty caption")

    files, searched = _index_audio(root, audio_dirs, formats)
    folder = DatasetFolder(root, spec)
    items: list[Item] = []
    owner: dict[str, _Clip] = {}
    matched_by: dict[str, int] = {}
    missing: list[_Clip] = []
    for clip in clips.values():
        found = _find(clip, patterns, formats, files, clip_seconds)
        if found is None:
            missing.append(clip)
            continue
        path, pattern = found
        if path in owner:
            raise DataError(
                f"{root / path}: matches two clips listed in {meta.name}, {owner[path].label()} and {clip.label()}; "
                "name files with their start time (e.g. {youtube_id}_{start_time}.wav) or set dataset.audio_patterns"
            )
        folder.check(path, f"{meta}: line {clip.line} ({clip.label()})")
        owner[path] = clip
        matched_by[pattern] = matched_by.get(pattern, 0) + 1
        items.append(Item(path=path, labels=(), captions=tuple(clip.captions)))

    n_listed = len(clips)
    coverage = len(items) / n_listed if n_listed else 0.0
    if not items or coverage < min_coverage:
        examples = ", ".join(c.label() for c in missing[:3])
        raise DataError(
            f"{meta}: only {len(items)} of the {n_listed} listed clips ({coverage:.1%}) have audio in "
            f"{', '.join(searched) or 'no existing folder of ' + ', '.join(audio_dirs)} named like "
            f"{' or '.join(patterns[:3])}... with extension {'/'.join(formats)}; the task needs at least "
            f"{min_coverage:.0%} (dataset.min_coverage). Missing e.g. {examples}"
        )
    info = {
        "metadata": str(meta),
        "encoding": encoding,
        "n_listed": n_listed,
        "n_found": len(items),
        "n_missing": len(missing),
        "coverage": round(coverage, 6),
        "min_coverage": min_coverage,
        "missing_examples": [f"{c.youtube_id}_{c.start_time}" for c in missing[:20]],
        "audio_dirs_searched": searched,
        "matched_by_pattern": matched_by,
    }
    return Dataset(root=root, classes=[], items=items, info=info)


def _metadata_file(root: Path, candidates: str | list[str]) -> Path:
    names = [candidates] if isinstance(candidates, str) else list(candidates)
    for name in names:
        if (root / name).is_file():
            return root / name
    return root / names[0]  # read_table reports it as missing


def _check_patterns(patterns: list[str]) -> None:
    from string import Formatter

    for pattern in patterns:
        try:
            used = [f for _, f, _, _ in Formatter().parse(pattern) if f is not None]
        except ValueError as exc:
            raise DataError(f"dataset.audio_patterns: '{pattern}' is not a valid pattern ({exc})") from None
        unknown = [f for f in used if f not in FIELDS]
        if unknown:
            raise DataError(f"dataset.audio_patterns: '{pattern}' uses '{{{unknown[0]}}}'; known fields: {', '.join(FIELDS)}")


def _index_audio(root: Path, audio_dirs: list[str], formats: list[str]) -> tuple[dict[str, str], list[str]]:
    """File name (extension lower-cased) -> path relative to root, over the existing audio folders;
    a name found in an earlier folder wins. One directory listing per folder, not a stat per guess."""
    files: dict[str, str] = {}
    searched = []
    for d in audio_dirs:
        folder = root / d
        if not folder.is_dir():
            continue
        searched.append(str(folder))
        with os.scandir(folder) as entries:
            for entry in entries:
                stem, dot, ext = entry.name.rpartition(".")
                if dot and ext.lower() in formats and entry.is_file():
                    files.setdefault(f"{stem}.{ext.lower()}", str(Path(d) / entry.name))
    return files, searched


def _find(clip: _Clip, patterns: list[str], formats: list[str], files: dict[str, str], clip_seconds: float) -> tuple[str, str] | None:
    for pattern in patterns:
        for name in clip.names(pattern, clip_seconds):
            for fmt in formats:
                path = files.get(f"{name}.{fmt}")
                if path is not None:
                    return path, pattern
    return None
