"""Finding a layout's files when their names vary between copies of a dataset.

Datasets rebuilt from YouTube (AudioSet, VGGSound, DCASE 2017 Task 4) are named differently by
each download script ('Y' + id, id + start time, wav or flac), and metadata files sit either at the
top of the folder or in a subfolder. A layout declares its candidates; these helpers pick the first
that exists, listing each folder once rather than probing every guess.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

# Containers libsndfile cannot decode: a clip found only in one of these is reported, not read.
UNDECODABLE = {".mp4", ".m4a", ".webm", ".mkv", ".avi", ".mov", ".aac", ".opus"}


def candidates(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def first_existing(root: Path, names: list[str]) -> Path:
    """The first of ``names`` (relative to root) that is a file; else the first, for the error message."""
    for name in names:
        if (root / name).is_file():
            return root / name
    return root / names[0]


class AudioIndex:
    """Which of several candidate relative paths exists, from one directory listing per folder."""

    def __init__(self, root: Path):
        self.root = root
        self._listings: dict[str, set[str]] = {}

    def _names(self, folder: str) -> set[str]:
        if folder not in self._listings:
            try:
                with os.scandir(self.root / folder) as entries:
                    self._listings[folder] = {e.name for e in entries}
            except (FileNotFoundError, NotADirectoryError):
                self._listings[folder] = set()
        return self._listings[folder]

    def exists(self, rel: str) -> bool:
        path = PurePosixPath(rel)
        return path.name in self._names(str(path.parent))

    def find(self, rels: list[str]) -> str | None:
        return next((rel for rel in rels if self.exists(rel)), None)

    def undecodable_copy(self, rels: list[str]) -> str | None:
        """A file with a candidate's stem but a video/AAC extension, if one exists."""
        for rel in rels:
            path = PurePosixPath(rel)
            for ext in UNDECODABLE:
                other = str(path.with_suffix(ext))
                if self.exists(other):
                    return other
        return None
