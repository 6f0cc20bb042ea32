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


def find_location(task_name: str, data: dict[str, str], data_root: str | None, shared: str | None = None) -> DataLocation:
    """Where the task's data should be; the folder may not exist (see locate_dataset).

    ``shared`` names another task whose dataset this one reads (a task file's ``dataset.shares_data_with``:
    clotho-captioning reads clotho's clips): its --data entry or DIR/<shared>/ is used when the task has none.
    """
    if shared and task_name not in data:
        if shared in data:
            return find_location(shared, data, None)
        if data_root is not None and not (Path(data_root).expanduser() / task_name).is_dir():
            return DataLocation(task_name, Path(data_root).expanduser() / shared, False, f"--data-root {data_root} (the data of task {shared})")
    if task_name in data:
        value = data[task_name]
        hf = value.startswith(HF_PREFIX)
        path = Path(value[len(HF_PREFIX):] if hf else value).expanduser()
        return DataLocation(task_name, path, hf, f"--data {task_name}={value}")
    if data_root is not None:
        return DataLocation(task_name, Path(data_root).expanduser() / task_name, False, f"--data-root {data_root}")
    raise DataError(f"task {task_name}: no data location; pass --data {task_name}=PATH or --data-root DIR holding DIR/{task_name}/")


def locate_dataset(task_name: str, data: dict[str, str], data_root: str | None, dataset_spec: dict[str, Any] | None = None) -> DataLocation:
    location = find_location(task_name, data, data_root, (dataset_spec or {}).get("shares_data_with"))
    if not location.path.is_dir():
        raise DataError(f"{location.path}: dataset folder for task {task_name} not found (from {location.origin})"
                        + (layout_hint(location, dataset_spec) if dataset_spec is not None else ""))
    return location


def holds_layout(folder: Path, dataset_spec: dict[str, Any]) -> bool:
    """The folder holds the layout, either as the archive's top folder or as the folder it was extracted into."""
    inner = dataset_spec.get("archive_root")
    return has_marker(folder, dataset_spec) or bool(inner and has_marker(folder / inner, dataset_spec))


def _subfolders(folder: Path, limit: int = 200) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())[:limit]
    except OSError:
        return []


def layout_nearby(folder: Path, dataset_spec: dict[str, Any]) -> Path | None:
    """A folder next to ``folder`` that holds the layout, for a user who pointed one level off: at the
    dataset's audio/ or meta/ folder (a parent holds it), at the folder above the dataset or a --data-root
    whose dataset folder has another name (a child or grandchild holds it), or a --data-root that is the
    dataset itself (a missing DIR/<task>: its parent holds it)."""
    if layout_marker(dataset_spec) is None:
        return None
    start = folder
    while not start.is_dir() and start != start.parent:  # a folder that does not exist: look from what does
        start = start.parent
    candidates = [start] if start != folder else []
    candidates += [start.parent, start.parent.parent]
    children = _subfolders(start)
    candidates += children + [g for c in children[:50] for g in _subfolders(c, 50)]
    for candidate in candidates:
        if candidate != folder and candidate.is_dir() and holds_layout(candidate, dataset_spec):
            return candidate
    return None


def layout_hint(location: DataLocation, dataset_spec: dict[str, Any]) -> str:
    """'; <folder> holds the layout ...' when a folder near the given one does, else ''."""
    if location.hf:
        return ""
    near = layout_nearby(location.path, dataset_spec)
    if near is None:
        return ""
    return f"; {near} holds the {location.task} layout ({layout_marker(dataset_spec)}): pass --data {location.task}={near}"


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
    return holds_layout(location.path, dataset_spec)
