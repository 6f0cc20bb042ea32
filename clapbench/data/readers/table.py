"""The generic metadata-table layout (ESC-50, UrbanSound8K, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clapbench.data.dataset import Dataset, Item
from clapbench.data.readers import read_table, reader
from clapbench.errors import DataError


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
    table = read_table(meta, columns, layout)
    sep = spec.get("label_separator")

    def labels_of(cell: str) -> list[str]:
        parts = [p.strip() for p in cell.split(sep)] if sep else [cell.strip()]
        return [p for p in parts if p]

    if class_names is None:
        if order_col:
            # The index column and the label column must agree one to one: a misspelt label
            # would otherwise become an extra class silently sharing an index.
            order: dict[str, int] = {}
            named: dict[int, tuple[str, int]] = {}  # index -> (label, first line)
            for line, (label, idx) in enumerate(zip(table[label_col], table[order_col]), start=2):
                label = label.strip()
                try:
                    class_index = int(idx)
                except ValueError:
                    raise DataError(f"{meta}: line {line}: column {order_col} holds '{idx}'; expected integer class indices") from None
                if order.setdefault(label, class_index) != class_index:
                    raise DataError(
                        f"{meta}: line {line}: class '{label}' has {order_col} {class_index}, an earlier line gives it "
                        f"{order[label]}; expected one {order_col} per class"
                    )
                first_label, first_line = named.setdefault(class_index, (label, line))
                if first_label != label:
                    raise DataError(
                        f"{meta}: line {line}: {order_col} {class_index} is labelled '{label}', line {first_line} labels it "
                        f"'{first_label}'; expected one {label_col} per {order_col}"
                    )
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
