"""Find a task's dataset folder from --data NAME=PATH or --data-root DIR.

A --data value may start with ``hf:`` to name a local HuggingFace dataset folder (parquet files
with an audio column) instead of the official archive layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clapbench.errors import DataError

HF_PREFIX = "hf:"


@dataclass(frozen=True)
class DataLocation:
    task: str
    path: Path
    hf: bool = False  # a HuggingFace parquet folder rather than the official layout
    origin: str = ""  # the option it came from, for messages

    @property
    def format(self) -> str:
        return "hf-parquet" if self.hf else "layout"


def find_location(task_name: str, data: dict[str, str], data_root: str | None) -> DataLocation:
    """Where the task's data should be; the folder may not exist (see locate_dataset)."""
    if task_name in data:
        value = data[task_name]
        hf = value.startswith(HF_PREFIX)
        path = Path(value[len(HF_PREFIX):] if hf else value).expanduser()
        return DataLocation(task_name, path, hf, f"--data {task_name}={value}")
    if data_root is not None:
        return DataLocation(task_name, Path(data_root).expanduser() / task_name, False, f"--data-root {data_root}")
    raise DataError(f"task {task_name}: no data location; pass --data {task_name}=PATH or --data-root DIR holding DIR/{task_name}/")


def locate_dataset(task_name: str, data: dict[str, str], data_root: str | None) -> DataLocation:
    location = find_location(task_name, data, data_root)
    if not location.path.is_dir():
        raise DataError(f"{location.path}: dataset folder for task {task_name} not found (from {location.origin})")
    return location


def layout_marker(dataset_spec: dict[str, Any]) -> str | None:
    """A path (or glob) whose presence shows the layout is there: ``marker``, else the metadata file or audio folder."""
    for key in ("marker", "metadata", "audio_glob", "audio_dir"):
        value = dataset_spec.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def has_marker(folder: Path, dataset_spec: dict[str, Any]) -> bool:
    marker = layout_marker(dataset_spec)
    return marker is None or next(folder.glob(marker), None) is not None


def data_present(location: DataLocation, dataset_spec: dict[str, Any]) -> bool:
    """A quick look (no metadata read): the folder exists and holds the layout's marker or parquet files."""
    if not location.path.is_dir():
        return False
    if location.hf:
        from clapbench.data.hf_parquet import parquet_files

        try:
            return bool(parquet_files(location.path, dataset_spec))
        except DataError:
            return False
    inner = dataset_spec.get("archive_root")
    return has_marker(location.path, dataset_spec) or bool(inner and has_marker(location.path / inner, dataset_spec))
