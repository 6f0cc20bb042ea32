"""Read a task from a local HuggingFace dataset folder: parquet files with an audio column.

Used for ``--data TASK=hf:FOLDER``. The task file's optional ``dataset.hf`` mapping says which
columns hold what:

  files: glob of the split's parquet files relative to the folder, or a list of globs (the first
         that matches anything wins), e.g. ``data/train-*.parquet``
  audio_column: the Audio column (default ``audio``)
  label_column: integers (ClassLabel indices), strings, or lists of either (multi-label)
  label_names_column: a column holding each row's class name, for integer labels whose parquet
         schema carries no ClassLabel names (not read, and not required, when it does)
  label_separator: for string labels that join several classes
  fold_column, folds: the official folds (``folds`` defaults to the task's ``dataset.folds``)

Integer labels get their names from the ClassLabel feature in the schema's ``huggingface``
metadata when present, else from ``label_names_column``, else from the task's class list.
Only the label columns are read here; the audio bytes are read and decoded by the clip loader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clapbench.audio.parquet_clips import DEFAULT_COLUMN, clip_ref
from clapbench.data.dataset import Dataset, Item
from clapbench.errors import DataError
from clapbench.optional import require

KNOWN_KEYS = {"files", "audio_column", "label_column", "label_names_column", "label_separator", "fold_column", "folds"}


def hf_spec(dataset_spec: dict[str, Any], task: str = "this task") -> dict[str, Any]:
    hf = dataset_spec.get("hf")
    if not isinstance(hf, dict):
        raise DataError(f"{task} declares no HuggingFace dataset columns (dataset.hf in its task file); pass its official layout without the hf: prefix")
    unknown = sorted(set(hf) - KNOWN_KEYS)
    if unknown or "label_column" not in hf or "files" not in hf:
        problem = f"unknown key(s) {', '.join(unknown)}" if unknown else "needs 'files' and 'label_column'"
        raise DataError(f"{task}: dataset.hf in its task file {problem}; known keys: {', '.join(sorted(KNOWN_KEYS))}")
    return hf


def _patterns(hf: dict[str, Any]) -> list[str]:
    files = hf["files"]
    return [files] if isinstance(files, str) else [str(f) for f in files]


def parquet_files(root: Path, dataset_spec: dict[str, Any], task: str = "this task") -> list[Path]:
    """The split's parquet files under ``root``: those of the first pattern that matches any."""
    for pattern in _patterns(hf_spec(dataset_spec, task)):
        files = sorted(p for p in root.glob(pattern) if p.is_file())
        if files:
            return files
    return []


def schema_features(schema) -> dict[str, Any]:
    """The ``datasets`` feature descriptions stored in a parquet schema's metadata ({} when absent)."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return {}
    try:
        return json.loads(raw)["info"]["features"] or {}
    except (ValueError, KeyError, TypeError):
        return {}


def class_label_names(feature: Any) -> list[str] | None:
    """ClassLabel names of a feature, looking through Sequence/List wrappers (multi-label columns)."""
    if isinstance(feature, list) and len(feature) == 1:  # datasets' shorthand for a sequence
        feature = feature[0]
    if not isinstance(feature, dict):
        return None
    if feature.get("_type") == "ClassLabel":
        names = feature.get("names")
        return [str(n) for n in names] if names else None
    if feature.get("_type") in ("Sequence", "List", "LargeList"):
        return class_label_names(feature.get("feature"))
    return None


def read_hf_dataset(root: Path, dataset_spec: dict[str, Any], class_names: list[str] | None = None, task: str = "this task") -> Dataset:
    pa, pq = require("pyarrow"), require("pyarrow.parquet")
    hf = hf_spec(dataset_spec, task)
    audio_col = hf.get("audio_column", DEFAULT_COLUMN)
    label_col, names_col, fold_col = hf["label_column"], hf.get("label_names_column"), hf.get("fold_column")
    sep = hf.get("label_separator")
    files = parquet_files(root, dataset_spec, task)
    if not files:
        raise DataError(f"{root}: no parquet files match {' or '.join(_patterns(hf))}; expected a HuggingFace dataset folder (e.g. data/train-00000-of-00001.parquet)")

    rows: list[tuple[str, list, list | None, Any]] = []  # (clip reference, labels, their names column, fold)
    label_names: list[str] | None = None
    for file in files:
        try:
            handle = pq.ParquetFile(file)
        except Exception as exc:
            raise DataError(f"{file}: cannot read as parquet ({exc})") from None
        schema = handle.schema_arrow
        names = class_label_names(schema_features(schema).get(label_col))
        # ClassLabel names in the schema make the names column unnecessary (it may be absent from such a copy).
        row_names_col = names_col if names is None else None
        wanted = [c for c in (label_col, row_names_col, fold_col) if c]
        absent = [c for c in [audio_col, *wanted] if c not in schema.names]
        if absent:
            raise DataError(f"{file}: missing column(s) {', '.join(absent)}; found {', '.join(schema.names)}")
        audio_type = schema.field(audio_col).type
        is_struct = pa.types.is_struct(audio_type) and audio_type.get_field_index("bytes") >= 0
        if not (is_struct or pa.types.is_binary(audio_type) or pa.types.is_large_binary(audio_type)):
            raise DataError(f"{file}: column {audio_col} is {audio_type}; expected datasets' Audio struct {{bytes, path}} or binary")
        if names is not None:
            if label_names is not None and names != label_names:
                raise DataError(f"{file}: the ClassLabel names of column {label_col} differ from those of {files[0]}")
            label_names = names
        _check_audio_present(handle, file, root, audio_col, is_struct)
        try:
            table = handle.read(columns=wanted)
        except Exception as exc:
            raise DataError(f"{file}: cannot read columns {', '.join(wanted)} ({exc})") from None
        labels = table.column(label_col).to_pylist()
        row_names = table.column(row_names_col).to_pylist() if row_names_col else [None] * len(labels)
        folds = table.column(fold_col).to_pylist() if fold_col else [None] * len(labels)
        rel = file.relative_to(root).as_posix()
        for row, (cell, name_cell, fold) in enumerate(zip(labels, row_names, folds)):
            rows.append((clip_ref(rel, row, audio_col), _as_list(cell, sep), _as_list(name_cell, sep) if row_names_col else None, fold))

    named = [(ref, _label_names(root / ref, labels, names, label_names, class_names, label_col, names_col), fold) for ref, labels, names, fold in rows]
    if class_names is None:
        class_names = label_names or _class_order(root, rows, named)
    index = {name: i for i, name in enumerate(class_names)}
    items = []
    for ref, labels, fold in named:
        unknown = [lab for lab in labels if lab not in index]
        if unknown or not labels:
            what = f"unknown label '{unknown[0]}'" if unknown else "an empty label"
            raise DataError(f"{root / ref}: {what} in column {label_col}; expected one of the task's {len(index)} classes")
        items.append(Item(path=ref, labels=tuple(index[lab] for lab in labels), fold=_fold_name(fold) if fold_col else None))

    official = [str(f) for f in hf.get("folds", dataset_spec.get("folds", []))] if fold_col else []
    folds_found = sorted({i.fold for i in items if i.fold is not None})
    if official:
        stray = sorted(set(folds_found) - set(official))
        if stray:
            raise DataError(f"{root}: column {fold_col} holds fold '{stray[0]}'; expected one of {', '.join(official)}")
    if not items:
        raise DataError(f"{root}: the parquet files hold no rows")
    return Dataset(root=root, classes=list(class_names), items=items, folds=official or folds_found)


def _as_list(cell: Any, sep: str | None) -> list:
    if cell is None:
        return []
    if isinstance(cell, (list, tuple)):
        return list(cell)
    if isinstance(cell, str):
        parts = [p.strip() for p in cell.split(sep)] if sep else [cell.strip()]
        return [p for p in parts if p]
    return [cell]


def _label_names(ref, labels, names, label_names, class_names, label_col, names_col) -> list[str]:
    """Each label of a row as a class name."""
    out = []
    for k, lab in enumerate(labels):
        if isinstance(lab, str):
            out.append(lab)
            continue
        if isinstance(lab, bool) or not isinstance(lab, int):
            raise DataError(f"{ref}: column {label_col} holds {lab!r}; expected class names or integer class indices")
        if label_names is not None:
            table, source = label_names, "its ClassLabel names"
        elif names is not None:
            if len(names) != len(labels):
                raise DataError(f"{ref}: columns {label_col} and {names_col} hold different numbers of labels")
            out.append(str(names[k]))
            continue
        elif class_names is not None:
            table, source = class_names, "the task's class list"
        else:
            raise DataError(f"{ref}: column {label_col} holds integers but the parquet schema has no ClassLabel names; declare dataset.hf.label_names_column in the task file")
        if not 0 <= lab < len(table):
            raise DataError(f"{ref}: label {lab} in column {label_col} is out of range for {source} ({len(table)} classes)")
        out.append(table[lab])
    return out


def _class_order(root: Path, rows, named) -> list[str]:
    """Classes in label-index order when integer labels come with a names column, else sorted names."""
    by_index: dict[int, tuple[str, str]] = {}  # label index -> (its name, the first row naming it)
    by_name: dict[str, tuple[int, str]] = {}
    for (ref, labels, _, _), (_, names, _) in zip(rows, named):
        for lab, name in zip(labels, names):
            if not isinstance(lab, int):
                continue
            (first_name, where), (first_lab, where_lab) = by_index.setdefault(lab, (name, ref)), by_name.setdefault(name, (lab, ref))
            if first_name != name:
                raise DataError(f"{root / ref}: label {lab} is named '{name}' here but '{first_name}' in {root / where}; expected one name per label index")
            if first_lab != lab:
                raise DataError(f"{root / ref}: class '{name}' has label {lab} here but {first_lab} in {root / where_lab}; expected one label index per name")
    if by_name:
        return sorted(by_name, key=lambda c: by_name[c][0])
    return sorted({name for _, names, _ in named for name in names})


def _fold_name(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _check_audio_present(handle, file: Path, root: Path, audio_col: str, is_struct: bool) -> None:
    """Find a row whose audio is missing from the row-group statistics, without reading the audio."""
    meta = handle.metadata
    leaf = f"{audio_col}.bytes" if is_struct else audio_col
    columns = [j for j in range(meta.num_columns) if meta.row_group(0).column(j).path_in_schema == leaf] if meta.num_row_groups else []
    if not columns:
        return
    start = 0
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(columns[0]).statistics
        if stats is not None and stats.has_null_count and stats.null_count > 0:
            from clapbench.audio.parquet_clips import cell_bytes

            cells = handle.read_row_group(g, columns=[audio_col]).column(0).to_pylist()
            for k, cell in enumerate(cells):
                cell_bytes(cell, str(root / clip_ref(file.relative_to(root).as_posix(), start + k, audio_col)))
        start += meta.row_group(g).num_rows
