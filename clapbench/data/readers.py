"""Readers for the official dataset layouts. A task file names a reader and its parameters.

Each reader takes the dataset folder and the task's ``dataset:`` mapping and returns a Dataset,
or raises DataError naming the file and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from clapbench.data.dataset import Dataset, Item
from clapbench.errors import DataError

Reader = Callable[[Path, dict[str, Any], list[str] | None], Dataset]
READERS: dict[str, Reader] = {}


def reader(name: str):
    def register(fn: Reader) -> Reader:
        READERS[name] = fn
        return fn

    return register


def read_dataset(root: Path, spec: dict[str, Any], class_names: list[str] | None = None, check_files: bool = True) -> Dataset:
    kind = spec.get("reader")
    if kind not in READERS:
        raise DataError(f"unknown dataset reader '{kind}'; known: {', '.join(sorted(READERS))}")
    root = resolve_root(root, spec)
    dataset = READERS[kind](root, spec, class_names)
    if not dataset.items:
        raise DataError(f"{root}: no clips found for this task's layout")
    if check_files:
        check_audio_files(dataset)
    return dataset


def resolve_root(root: Path, spec: dict[str, Any]) -> Path:
    """Accept the folder a user extracted into, or the archive's own top folder inside it."""
    marker = spec.get("metadata") or spec.get("audio_dir")
    inner = spec.get("archive_root")
    if marker and inner and not (root / marker).exists() and (root / inner / marker).exists():
        return root / inner
    return root


def check_audio_files(dataset: Dataset) -> None:
    missing = [i.path for i in dataset.items if not (dataset.root / i.path).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{dataset.root / missing[0]}: audio file listed in the metadata not found{more}")


def _read_table(path: Path, columns: list[str], layout: str, **kwargs) -> pd.DataFrame:
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


@reader("csv")
def read_csv_layout(root: Path, spec: dict[str, Any], class_names: list[str] | None) -> Dataset:
    """A metadata CSV with a file-name column, a label column and optionally a fold column.

    Parameters: metadata, audio_dir, path_column, label_column, label_separator (multi-label),
    fold_column, folds, class_order_column (an integer column giving each class's index).
    """
    meta = root / spec["metadata"]
    layout = spec.get("layout_name", f"{spec['metadata']} + {spec.get('audio_dir', '.')}/")
    path_col, label_col = spec["path_column"], spec["label_column"]
    fold_col, order_col = spec.get("fold_column"), spec.get("class_order_column")
    columns = [path_col, label_col] + [c for c in (fold_col, order_col) if c]
    table = _read_table(meta, columns, layout)
    sep = spec.get("label_separator")

    def labels_of(cell: str) -> list[str]:
        parts = [p.strip() for p in cell.split(sep)] if sep else [cell.strip()]
        return [p for p in parts if p]

    if class_names is None:
        if order_col:
            order: dict[str, int] = {}
            for label, idx in zip(table[label_col], table[order_col]):
                try:
                    order.setdefault(label.strip(), int(idx))
                except ValueError:
                    raise DataError(f"{meta}: column {order_col} holds '{idx}'; expected integer class indices") from None
            class_names = sorted(order, key=lambda c: (order[c], c))
        else:
            class_names = sorted({lab for cell in table[label_col] for lab in labels_of(cell)})
    index = {name: i for i, name in enumerate(class_names)}

    audio_dir = spec.get("audio_dir", ".")
    items = []
    for row_no, row in enumerate(table.to_dict("records"), start=2):
        labels = labels_of(row[label_col])
        unknown = [lab for lab in labels if lab not in index]
        if unknown or not labels:
            what = f"unknown label '{unknown[0]}'" if unknown else "an empty label"
            raise DataError(f"{meta}: line {row_no} has {what} in column {label_col}; expected one of the task's {len(index)} classes")
        fold = str(row[fold_col]).strip() if fold_col else None
        rel = str(Path(audio_dir) / row[path_col].strip())
        items.append(Item(path=rel, labels=tuple(index[lab] for lab in labels), fold=fold))

    folds = [str(f) for f in spec.get("folds", [])] or sorted({i.fold for i in items if i.fold is not None})
    if folds and fold_col:
        stray = sorted({i.fold for i in items} - set(folds))
        if stray:
            raise DataError(f"{meta}: column {fold_col} holds fold '{stray[0]}'; expected one of {', '.join(folds)}")
    return Dataset(root=root, classes=list(class_names), items=items, folds=folds)
