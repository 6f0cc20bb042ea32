"""The k folds HEAR 2021 made for datasets that ship without a split (hear-preprocess ``new_split_kfold``).

HEAR sorts the unique split keys (each file's stem), shuffles them with ``random.Random(seed)``
and cuts the shuffled list into k near-equal parts with ``numpy.array_split``. The first seed is
"split_k_folds"; while some fold lacks one of the labels it retries with
"split_k_folds_retry_0", "_1", ... (999 retries). Given the complete official file list, this
reproduces HEAR's folds exactly; a copy with files missing or added gets different folds.
"""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np

SEEDS = ["split_k_folds"] + [f"split_k_folds_retry_{i}" for i in range(999)]


def hear_kfold(stems: list[str], labels: list[str], k: int) -> list[str]:
    """Fold name ("fold00", "fold01", ...) of each item, in the order of ``stems``.

    When no seed gives every fold every label (HEAR gives up then; a tiny or partial copy can
    hit this), the first seed's folds are returned so the data stays usable.
    """
    keys = sorted(set(stems))
    n_labels = len(set(labels))
    first: list[str] | None = None
    for seed in SEEDS:
        shuffled = list(keys)
        random.Random(seed).shuffle(shuffled)
        fold_of = {str(key): f"fold{j:02d}" for j, part in enumerate(np.array_split(np.array(shuffled, dtype=object), k)) for key in part}
        folds = [fold_of[s] for s in stems]
        first = first or folds
        seen: dict[str, set[str]] = defaultdict(set)
        for fold, label in zip(folds, labels):
            seen[fold].add(label)
        if all(len(s) == n_labels for s in seen.values()):
            return folds
    return first or []
