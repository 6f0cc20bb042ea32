"""Dataset readers for the official layouts, and where a task's data lives."""

from pathlib import Path

from clapbench.data.dataset import Dataset, Item
from clapbench.data.locate import DataLocation, holds_layout, layout_hint, locate_dataset
from clapbench.errors import DataError

__all__ = ["Dataset", "Item", "READERS", "DataLocation", "read_dataset", "read_location", "locate_dataset"]


def __getattr__(name: str):
    # The readers bring pandas: imported when a dataset is read, not when a task is listed.
    if name in ("READERS", "read_dataset"):
        from clapbench.data import readers

        return getattr(readers, name)
    raise AttributeError(name)


def read_location(location: DataLocation, dataset_spec: dict, class_names: list[str] | None = None, check_files: bool = True) -> Dataset:
    """Read a task's data from its official layout, or from a HuggingFace parquet folder (hf:)."""
    if location.hf:
        from clapbench.data.hf_parquet import read_hf_dataset

        return read_hf_dataset(Path(location.path), dataset_spec, class_names, task=f"task {location.task}")
    from clapbench.data.readers import read_dataset

    try:
        return read_dataset(Path(location.path), dataset_spec, class_names, check_files)
    except DataError as exc:
        # a folder one level off (the dataset's audio/ or meta/, or the folder above it): name the right one
        if holds_layout(Path(location.path), dataset_spec):
            raise
        hint = layout_hint(location, dataset_spec)
        if not hint:
            raise
        raise DataError(f"{exc}{hint}") from None
