"""Readers for the official dataset layouts. A task file names a reader and its parameters.

Every module in this package is imported on first use, so a new layout is a new file here
that registers a function with ``@reader("name")``; no list to edit.

Each reader takes the dataset folder and the task's ``dataset:`` mapping and returns a Dataset,
or raises DataError naming the file and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from clapbench.data.containment import DatasetFolder
from clapbench.data.dataset import Dataset, Item
from clapbench.data.locate import has_marker, layout_marker
from clapbench.errors import DataError
from clapbench.plugins import Registry

Reader = Callable[[Path, dict[str, Any], list[str] | None], Dataset]
READERS: Registry[Reader] = Registry("dataset reader", (__name__,), DataError)
reader = READERS.register


def read_dataset(root: Path, spec: dict[str, Any], class_names: list[str] | None = None, check_files: bool = True) -> Dataset:
    read = READERS.lookup(spec.get("reader"))
    root = resolve_root(root, spec)
    dataset = read(root, spec, class_names)
    if not dataset.items:
        raise DataError(f"{root}: no clips found for this task's layout")
    check_inside_folder(dataset, spec)
    if check_files:
        check_audio_files(dataset)
    return dataset


def resolve_root(root: Path, spec: dict[str, Any]) -> Path:
    """Accept the folder a user extracted into, or the archive's own top folder inside it."""
    inner = spec.get("archive_root")
    # The inner folder wins also when it lacks the marker, so that an error names the file there.
    if inner and layout_marker(spec) and not has_marker(root, spec) and (root / inner).is_dir():
        return root / inner
    return root


def check_inside_folder(dataset: Dataset, spec: dict[str, Any]) -> None:
    """Every clip inside the dataset folder (readers that take paths from rows check them there, naming the row)."""
    folder = DatasetFolder(dataset.root, spec)
    metadata = dataset.info.get("metadata")
    for item in dataset.items:
        folder.check(item.path, f"{dataset.root / item.path}" + (f" (listed in {metadata})" if metadata else ""))


def check_audio_files(dataset: Dataset) -> None:
    missing = [i.path for i in dataset.items if not (dataset.root / i.path).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{dataset.root / missing[0]}: audio file listed in the metadata not found{more}")


def read_table(path: Path, columns: list[str], layout: str, **kwargs) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: metadata file not found; expected the {layout} layout")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, **kwargs)
    except Exception as exc:
        raise DataError(f"{path}: cannot read as CSV ({exc})") from None
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise DataError(f"{path}: missing column(s) {', '.join(absent)}; found {', '.join(map(str, table.columns))}")
    return table


