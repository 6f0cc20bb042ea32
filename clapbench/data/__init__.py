"""Dataset readers for the official layouts, and where a task's data lives."""

from pathlib import Path

from clapbench.data.dataset import Dataset, Item
from clapbench.data.locate import DataLocation, locate_dataset
from clapbench.data.readers import READERS, read_dataset

__all__ = ["Dataset", "Item", "READERS", "DataLocation", "read_dataset", "read_location", "locate_dataset"]


def read_location(location: DataLocation, dataset_spec: dict, class_names: list[str] | None = None, check_files: bool = True) -> Dataset:
    """Read a task's data from its official layout, or from a HuggingFace parquet folder (hf:)."""
    if location.hf:
        from clapbench.data.hf_parquet import read_hf_dataset

        return read_hf_dataset(Path(location.path), dataset_spec, class_names, task=f"task {location.task}")
    return read_dataset(Path(location.path), dataset_spec, class_names, check_files)
