"""The pair list: which two clips (of different classes) each item is built from.

A list is sampled with a seed from the source dataset, or read back from a saved CSV, so the exact
items can be reproduced and shared between runs, models and people.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clapbench.data.dataset import Dataset, Item
from clapbench.errors import DataError

COLUMNS = ["pair", "path_a", "class_a", "path_b", "class_b"]


@dataclass(frozen=True)
class Pair:
    a: Item
    b: Item

    @property
    def label_a(self) -> int:
        return self.a.labels[0]

    @property
    def label_b(self) -> int:
        return self.b.labels[0]


def sample_pairs(dataset: Dataset, n_pairs: int, seed: int) -> list[Pair]:
    """``n_pairs`` distinct pairs of clips of different classes (fewer if fewer exist), seeded.

    Each pair draws two different classes uniformly among the classes that have clips, then one clip
    of each, so frequent classes do not dominate; which clip is A is part of the draw.
    """
    by_class: dict[int, list[Item]] = {}
    for item in dataset.items:
        by_class.setdefault(item.labels[0], []).append(item)
    classes = sorted(by_class)
    if len(classes) < 2:
        raise DataError(f"{dataset.root}: the temporal probes need clips of at least two classes; found {len(classes)}")
    sizes = np.array([len(by_class[c]) for c in classes])
    available = (sizes.sum() ** 2 - (sizes**2).sum()) // 2  # unordered cross-class clip pairs
    n_pairs = int(min(n_pairs, available))
    rng = np.random.default_rng(seed)
    seen: set[frozenset] = set()
    pairs: list[Pair] = []
    while len(pairs) < n_pairs:
        ca, cb = rng.choice(len(classes), size=2, replace=False)
        a = by_class[classes[ca]][rng.integers(sizes[ca])]
        b = by_class[classes[cb]][rng.integers(sizes[cb])]
        key = frozenset((a.path, b.path))
        if key not in seen:  # (A, B) and (B, A) build the same items
            seen.add(key)
            pairs.append(Pair(a, b))
    return pairs


def pairs_frame(dataset: Dataset, pairs: list[Pair]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pair": range(len(pairs)),
            "path_a": [p.a.path for p in pairs],
            "class_a": [dataset.classes[p.label_a] for p in pairs],
            "path_b": [p.b.path for p in pairs],
            "class_b": [dataset.classes[p.label_b] for p in pairs],
        },
        columns=COLUMNS,
    )


def pairs_sha256(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def read_pairs(path: Path, dataset: Dataset) -> list[Pair]:
    """A saved pair list, checked against the source dataset (each clip present, with the class the list says)."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"{path}: cannot read the pair list as CSV ({exc})") from None
    absent = [c for c in COLUMNS[1:] if c not in table.columns]
    if absent:
        raise DataError(f"{path}: missing column(s) {', '.join(absent)}; a pair list has columns {', '.join(COLUMNS)}")
    if table.empty:
        raise DataError(f"{path}: the pair list holds no pairs")
    items = {item.path: item for item in dataset.items}
    pairs = []
    for row, rec in enumerate(table.itertuples(index=False), start=2):  # row 1 is the header
        ends = []
        for side in ("a", "b"):
            rel, cls = getattr(rec, f"path_{side}"), getattr(rec, f"class_{side}")
            item = items.get(rel)
            if item is None:
                raise DataError(
                    f"{path}: row {row}: clip '{rel}' is not in the source dataset at {dataset.root} "
                    "(wrong --source or --data, or a fold left out?)"
                )
            if dataset.classes[item.labels[0]] != cls:
                raise DataError(f"{path}: row {row}: clip '{rel}' has class '{dataset.classes[item.labels[0]]}' in the source dataset, not '{cls}'")
            ends.append(item)
        if ends[0].labels[0] == ends[1].labels[0]:
            raise DataError(f"{path}: row {row}: both clips have class '{rec.class_a}'; a pair needs two different classes")
        pairs.append(Pair(*ends))
    return pairs
