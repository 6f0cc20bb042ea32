"""Clip paths read from a dataset's metadata stay inside the dataset folder.

A metadata row naming ``../secret.wav``, an absolute path, or a file that is a symbolic link to
somewhere else would have clapbench read (and score, and cache) a file the dataset does not hold.
Readers check each path as they read its row, so the message names the metadata file and the row;
``read_dataset`` checks every item once more for readers that find files by listing folders.
A task whose official layout needs paths elsewhere opts in with ``dataset.allow_paths_outside: true``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from clapbench.errors import DataError
from clapbench.paths import is_within

OPT_IN = "allow_paths_outside"


class DatasetFolder:
    """Checks relative clip paths against one dataset folder (each folder's real path resolved once)."""

    def __init__(self, root: Path, spec: dict[str, Any] | None = None):
        self.root = Path(root)
        self.allow = bool((spec or {}).get(OPT_IN, False))
        self.real_root = os.path.realpath(self.root)
        self._real_folders: dict[str, str] = {}

    def problem(self, rel: str) -> str | None:
        """Why ``rel`` leaves the folder, or None when it stays inside (or the task opted in)."""
        if self.allow:
            return None
        if os.path.isabs(rel):
            return "is an absolute path"
        if os.path.normpath(rel).split(os.sep)[0] == "..":
            return "climbs out of the dataset folder with '..'"
        folder, name = os.path.split(os.path.join(self.root, rel))
        if folder not in self._real_folders:
            self._real_folders[folder] = os.path.realpath(folder)
        real = os.path.join(self._real_folders[folder], name)
        if os.path.islink(real):
            real = os.path.realpath(real)
        if not is_within(self.real_root, real):
            return f"resolves to {real} through a symbolic link"
        return None

    def check(self, rel: str, where: str) -> str:
        """``rel``, or DataError naming ``where`` (the metadata file and row) when it leaves the folder."""
        problem = self.problem(rel)
        if problem is not None:
            raise DataError(
                f"{where}: the clip path '{rel}' {problem}; expected a path inside the dataset folder {self.root} "
                f"(a task whose official layout needs otherwise sets dataset.{OPT_IN}: true)"
            )
        return rel
