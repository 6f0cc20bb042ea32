"""What every reader returns: clips with labels and folds, and the class list."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Item:
    path: str  # relative to the dataset root, as written in predictions
    labels: tuple[int, ...]  # class indices (one for single-label tasks)
    fold: str | None = None


@dataclass
class Dataset:
    root: Path
    classes: list[str]  # class names as the metadata spells them
    items: list[Item]
    folds: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # a reader's facts about this copy (e.g. clips listed vs. found)

    def absolute(self, item: Item) -> str:
        return str(self.root / item.path)

    def select_folds(self, folds: list[str]) -> "Dataset":
        keep = set(folds)
        return Dataset(self.root, self.classes, [i for i in self.items if i.fold in keep], [f for f in self.folds if f in keep], self.info)
