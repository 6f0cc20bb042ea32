"""Class lists that live in their own file, mapping the codes a metadata table uses to class names.

FSD50K's ``vocabulary.csv`` (headerless ``index,label,mid``), AudioSet's ``class_labels_indices.csv``
(``index,mid,display_name``, display names quoted and holding commas) and VocalSound's
``class_labels_indices_vs.csv`` all fix the class order and say how a label in the metadata
(a name or a ``/m/...`` mid) reads.

Parameters (``class_table:`` in a task's dataset mapping):
  file: path relative to the dataset folder, or a list of candidate paths
  header: "none" for a headerless file, with ``names`` giving its leading columns
  sep: field separator (default ",")
  code_column: the column holding the code the metadata uses (default: name_column)
  name_column: the column holding the class name
  order_column: an integer column giving each class's index (default: file order)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clapbench.data.readers.delimited import read_delimited
from clapbench.data.readers.paths import candidates, first_existing
from clapbench.errors import DataError


def read_class_table(root: Path, spec: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """(class names in index order, {code in the metadata: class name})."""
    path = first_existing(root, candidates(spec["file"]))
    name_col = spec["name_column"]
    code_col = spec.get("code_column", name_col)
    order_col = spec.get("order_column")
    columns = list(dict.fromkeys([name_col, code_col] + ([order_col] if order_col else [])))
    table = read_delimited(path, spec, columns, f"class list {path.name} ({', '.join(columns)})")
    rows = []
    for row_no, row in enumerate(table.to_dict("records"), start=1):
        name, code = row[name_col].strip(), row[code_col].strip()
        if not name or not code:
            raise DataError(f"{path}: row {row_no} has an empty {name_col if not name else code_col}")
        try:
            order = int(row[order_col]) if order_col else row_no
        except ValueError:
            raise DataError(f"{path}: row {row_no} has {order_col} '{row[order_col]}'; expected an integer class index") from None
        rows.append((order, name, code))
    rows.sort()
    names = [name for _, name, _ in rows]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise DataError(f"{path}: class '{dup}' is listed twice")
    return names, {code: name for _, name, code in rows}
