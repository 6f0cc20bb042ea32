"""Clotho (v2.1) caption layout: ``clotho_captions_<split>.csv`` beside the extracted ``<split>/`` audio folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clapbench.data.containment import DatasetFolder
from clapbench.data.dataset import Dataset, Item
from clapbench.data.readers import read_table, reader
from clapbench.data.readers.captions import clean_captions, csv_encoding
from clapbench.errors import DataError

CAPTION_COLUMNS = [f"caption_{i}" for i in range(1, 6)]


@reader("clotho")
def read_clotho(root: Path, spec: dict[str, Any], class_names: list[str] | None) -> Dataset:
    """One clip per row: ``file_name`` (the Freesound title with ``.wav``; spaces and punctuation kept
    exactly) and its captions. Parameters: metadata, audio_dir, path_column, caption_columns.
    Every listed clip must be present (the audio is distributed with the captions).
    """
    meta = root / spec.get("metadata", "clotho_captions_evaluation.csv")
    audio_dir = spec.get("audio_dir", "evaluation")
    path_col = spec.get("path_column", "file_name")
    caption_cols = list(spec.get("caption_columns", CAPTION_COLUMNS))
    encoding = csv_encoding(meta)
    table = read_table(meta, [path_col, *caption_cols], f"Clotho ({meta.name} + {audio_dir}/)", encoding=encoding)

    folder = DatasetFolder(root, spec)
    items: list[Item] = []
    seen: dict[str, int] = {}
    dropped = 0
    for row_no, row in enumerate(table.to_dict("records"), start=2):
        name = row[path_col]
        if not name.strip():
            raise DataError(f"{meta}: line {row_no} has an empty {path_col}; expected an audio file name such as 'rain.wav'")
        if name in seen:
            raise DataError(f"{meta}: line {row_no} repeats {path_col} '{name}' (first on line {seen[name]})")
        seen[name] = row_no
        captions = clean_captions(row[c] for c in caption_cols)
        if not captions:
            raise DataError(f"{meta}: line {row_no} ('{name}') has no caption in {', '.join(caption_cols)}")
        dropped += len(caption_cols) - len(captions)
        path = folder.check(str(Path(audio_dir) / name), f"{meta}: line {row_no}")
        items.append(Item(path=path, labels=(), captions=captions))
    info = {
        "metadata": str(meta),
        "encoding": encoding,
        "n_listed": len(items),
        "n_missing": 0,  # every listed clip is required; read_dataset reports a missing one
        "empty_captions_dropped": dropped,
    }
    return Dataset(root=root, classes=[], items=items, info=info)
