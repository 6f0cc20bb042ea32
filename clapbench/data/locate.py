"""Find a task's dataset folder from --data NAME=PATH or --data-root DIR."""

from __future__ import annotations

from pathlib import Path

from clapbench.errors import DataError


def locate_dataset(task_name: str, data: dict[str, str], data_root: str | None) -> Path:
    if task_name in data:
        path = Path(data[task_name]).expanduser()
        source = f"--data {task_name}={data[task_name]}"
    elif data_root is not None:
        path = Path(data_root).expanduser() / task_name
        source = f"--data-root {data_root}"
    else:
        raise DataError(f"task {task_name}: no data location; pass --data {task_name}=PATH or --data-root DIR holding DIR/{task_name}/")
    if not path.is_dir():
        raise DataError(f"{path}: dataset folder for task {task_name} not found (from {source})")
    return path
