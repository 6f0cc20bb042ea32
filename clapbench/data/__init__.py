"""Dataset readers for the official layouts, and where a task's data lives."""

from clapbench.data.dataset import Dataset, Item
from clapbench.data.locate import locate_dataset
from clapbench.data.readers import READERS, read_dataset

__all__ = ["Dataset", "Item", "READERS", "read_dataset", "locate_dataset"]
