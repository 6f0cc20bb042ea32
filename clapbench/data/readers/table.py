"""The generic metadata-table layout (ESC-50, UrbanSound8K, FSD50K, AudioSet, VGGSound, ...).

One table lists the clips. Parameters (all but metadata and the label source optional):

  metadata: the table, relative to the dataset folder; metadata_fallbacks: other places it may be
  header ("none" + names for a headerless table), sep, comment, skipinitialspace: how to read it
  filter: {column: value or [values]}: keep only these rows (e.g. {split: test}); the class list
      is still taken from every row, so a split filter does not shrink the vocabulary

  Clip files:
    path_column + audio_dir: the clip is audio_dir/<value of path_column>
    path_template: a str.format pattern over the row's columns used instead, e.g.
        "fold{fold}/{slice_file_name}", "{fname}.wav", "{youtube_id}_{start_seconds:0>6}.wav";
        or a list of candidate patterns, tried in order
    audio_dirs: candidate folders (instead of audio_dir), tried in order for each pattern
    missing: "error" (default) or "skip": clips with no file are left out and reported in
        Dataset.info (for copies rebuilt from YouTube, which always lack some clips)

  Labels:
    label_column (+ label_separator when one cell holds several labels), or
    label_columns + positive_threshold: one numeric column per class (a clip holds the classes
        whose value is >= the threshold; a clip may hold none)
    group_rows: true: rows naming the same clip are one clip holding all their labels
    class_table: class list and code -> name map from a separate file (see class_table.py)
    class_order_column: an integer column giving each class's index

  Folds: fold_column, folds
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from string import Formatter
from typing import Any

import pandas as pd

from clapbench.data.containment import DatasetFolder
from clapbench.data.dataset import Dataset, Item
from clapbench.data.readers import reader
from clapbench.data.readers.class_table import read_class_table
from clapbench.data.readers.delimited import read_delimited
from clapbench.data.readers.paths import AudioIndex, candidates, first_existing
from clapbench.errors import DataError


@reader("csv")
def read_csv_layout(root: Path, spec: dict[str, Any], class_names: list[str] | None) -> Dataset:
    meta = first_existing(root, [spec["metadata"], *candidates(spec.get("metadata_fallbacks"))])
    layout = spec.get("layout_name", f"{spec['metadata']} + {spec.get('audio_dir', '.')}/")
    label_col, label_cols = spec.get("label_column"), list(spec.get("label_columns") or [])
    if bool(label_col) == bool(label_cols):
        raise DataError(f"{meta}: the task's dataset mapping needs exactly one of label_column or label_columns")
    path_col, fold_col, order_col = spec.get("path_column"), spec.get("fold_column"), spec.get("class_order_column")
    if not path_col and not spec.get("path_template"):
        raise DataError(f"{meta}: the task's dataset mapping needs path_column or path_template to name each clip's file")
    templates = candidates(spec.get("path_template")) or ["{" + str(path_col) + "}"]
    filters = {str(k): [str(x) for x in candidates(v)] for k, v in (spec.get("filter") or {}).items()}
    columns = [c for c in (path_col if not spec.get("path_template") else None, label_col, fold_col, order_col) if c]
    columns += label_cols + _template_fields(templates) + list(filters)
    table = read_delimited(meta, spec, list(dict.fromkeys(columns)), layout)
    where = _row_locator(spec)

    labels_of = _label_parser(meta, spec, label_col, label_cols, where)
    code_map = None
    if spec.get("class_table"):
        table_names, code_map = read_class_table(root, spec["class_table"])
        class_names = class_names or table_names
    if class_names is None:
        class_names = _classes_from_table(meta, table, label_col, label_cols, order_col, labels_of)
    index = {name: i for i, name in enumerate(class_names)}

    records = list(enumerate(table.to_dict("records")))
    for col, values in filters.items():
        records = [(i, r) for i, r in records if r[col].strip() in values]
        if not records:
            raise DataError(f"{meta}: no row has {col} = {' or '.join(values)}; expected the official layout's {col} values")

    dirs = candidates(spec.get("audio_dirs")) or [spec.get("audio_dir", ".")]
    skip_missing = spec.get("missing", "error") == "skip"
    audio = AudioIndex(root)
    folder = DatasetFolder(root, spec)
    clips: dict[str, dict[str, Any]] = {}  # path -> {labels, fold}, in first-seen order
    missing: dict[str, list[str]] = {}
    for i, row in records:
        names = labels_of(i, row)
        if code_map:
            unknown = next((c for c in names if c not in code_map), None)
            if unknown is not None:
                raise DataError(f"{meta}: {where(i)} has unknown label '{unknown}' in column {label_col}; not in the class list {_name(spec['class_table']['file'])}")
            names = [code_map[c] for c in names]
        unknown = next((n for n in names if n not in index), None)
        if unknown is not None:
            raise DataError(f"{meta}: {where(i)} has unknown label '{unknown}' in column {label_col or 'labels'}; expected one of the task's {len(index)} classes")
        tried = [_join(d, _fill(meta, t, row, where(i))) for t in templates for d in dirs]
        path = tried[0] if len(tried) == 1 and not skip_missing else audio.find(tried)
        if path is None:
            if not skip_missing:
                raise DataError(f"{meta}: {where(i)}: no audio file for this clip; looked for {' or '.join(tried[:4])}{' ...' if len(tried) > 4 else ''}")
            missing.setdefault(tried[0], tried)
            continue
        folder.check(path, f"{meta}: {where(i)}")
        clip = clips.get(path)
        if clip is None:
            clips[path] = {"labels": list(dict.fromkeys(names)), "fold": str(row[fold_col]).strip() if fold_col else None}
        elif spec.get("group_rows"):
            clip["labels"] += [n for n in names if n not in clip["labels"]]
        else:
            raise DataError(f"{meta}: {where(i)} lists {path} again; expected one row per clip")

    items = [Item(path=p, labels=tuple(index[n] for n in c["labels"]), fold=c["fold"]) for p, c in clips.items()]
    folds = [str(f) for f in spec.get("folds", [])] or sorted({i.fold for i in items if i.fold is not None})
    if folds and fold_col:
        stray = sorted({i.fold for i in items} - set(folds))
        if stray:
            raise DataError(f"{meta}: column {fold_col} holds fold '{stray[0]}'; expected one of {', '.join(folds)}")
    info = _missing_report(meta, dirs, templates, audio, clips, missing) if skip_missing else {}
    return Dataset(root=root, classes=list(class_names), items=items, folds=folds, info=info)


def _row_locator(spec: dict[str, Any]):
    """How messages point at a row: a file line where it is known, else the data row number."""
    if spec.get("comment"):
        return lambda i: f"data row {i + 1}"
    offset = 1 if str(spec.get("header", "first_line")).lower() in ("none", "false") else 2
    return lambda i: f"line {i + offset}"


def _label_parser(meta: Path, spec: dict[str, Any], label_col: str | None, label_cols: list[str], where):
    if label_cols:
        if "positive_threshold" not in spec:
            raise DataError(f"{meta}: label_columns needs positive_threshold in the task's dataset mapping")
        threshold = float(spec["positive_threshold"])

        def wide(i: int, row: dict[str, str]) -> list[str]:
            out = []
            for col in label_cols:
                try:
                    value = float(row[col])
                except ValueError:
                    raise DataError(f"{meta}: {where(i)} has '{row[col]}' in column {col}; expected a number") from None
                if value >= threshold:
                    out.append(col)
            return out

        return wide
    sep = spec.get("label_separator")

    def cell(i: int, row: dict[str, str]) -> list[str]:
        text = row[label_col]
        parts = [p.strip() for p in text.split(sep)] if sep else [text.strip()]
        parts = [p for p in parts if p]
        if not parts:
            raise DataError(f"{meta}: {where(i)} has an empty label in column {label_col}; expected a class name")
        return parts

    return cell


def _classes_from_table(meta: Path, table: pd.DataFrame, label_col: str | None, label_cols: list[str], order_col: str | None, labels_of) -> list[str]:
    if label_cols:
        return list(label_cols)
    records = list(enumerate(table.to_dict("records")))
    if order_col:
        # The index column and the label column must agree one to one: a misspelt label would
        # otherwise become an extra class silently sharing an index.
        order: dict[str, int] = {}
        named: dict[int, tuple[str, int]] = {}  # index -> (label, first line)
        for i, row in records:
            line = i + 2
            try:
                class_index = int(row[order_col])
            except ValueError:
                raise DataError(f"{meta}: column {order_col} holds '{row[order_col]}'; expected integer class indices") from None
            for label in labels_of(i, row):
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
        return sorted(order, key=lambda c: (order[c], c))
    return sorted({label for i, row in records for label in labels_of(i, row)})


def _template_fields(templates: list[str]) -> list[str]:
    fields = []
    for template in templates:
        try:
            fields += [f.split(".")[0].split("[")[0] for _, f, _, _ in Formatter().parse(template) if f]
        except ValueError as exc:
            raise DataError(f"dataset.path_template '{template}' is not a valid pattern ({exc})") from None
    return fields


def _fill(meta: Path, template: str, row: dict[str, str], at: str) -> str:
    try:
        return template.format_map({k: str(v).strip() for k, v in row.items()})
    except (ValueError, KeyError, IndexError) as exc:
        raise DataError(f"{meta}: {at}: cannot build a file name from '{template}' ({exc})") from None


def _join(folder: str, name: str) -> str:
    return str(PurePosixPath(folder) / name) if folder not in ("", ".") else name


def _name(value) -> str:
    return candidates(value)[0]


def _missing_report(meta: Path, dirs: list[str], templates: list[str], audio: AudioIndex, clips: dict, missing: dict[str, list[str]]) -> dict[str, Any]:
    undecodable = [other for tried in missing.values() if (other := audio.undecodable_copy(tried))]
    n_listed = len(clips) + len(missing)
    return {
        "metadata": str(meta),
        "n_listed": n_listed,
        "n_found": len(clips),
        "n_missing": len(missing),
        "coverage": round(len(clips) / n_listed, 6) if n_listed else 0.0,
        "missing_examples": list(missing)[:20],
        "audio_dirs_searched": [d for d in dirs if (audio.root / d).is_dir()],
        "file_patterns": templates,
        # soundfile cannot decode video containers; such clips need their audio extracted first
        "n_missing_found_as_video": len(undecodable),
        "video_examples": undecodable[:5],
    }
