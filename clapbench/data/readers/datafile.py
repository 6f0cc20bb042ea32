"""JSON datafiles of the AST/PSLA recipes (VocalSound's ``datafiles/te.json``):
``{"data": [{"wav": "<path>", "labels": "/m/01j3sz"}, ...]}``.

The ``wav`` paths were written on the authors' machines, so only the file name is used and looked
up in the declared audio folders (``audio_16k/`` or ``audio_44k/`` for VocalSound).

Parameters:
  metadata: the JSON datafile, relative to the dataset folder (or a list of candidate paths)
  path_key / label_key: entry keys (default "wav" / "labels")
  label_separator: separator of several labels in one entry (default ",")
  label_map: {label code in the datafile: class name}; codes not in it are an error
  class_table: as in class_table.py, instead of label_map
  audio_dirs: folders holding the audio, tried in order
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from clapbench.data.containment import DatasetFolder
from clapbench.data.dataset import Dataset, Item
from clapbench.data.readers import reader
from clapbench.data.readers.class_table import read_class_table
from clapbench.data.readers.paths import AudioIndex, candidates, first_existing
from clapbench.errors import DataError


@reader("json-datafile")
def read_json_datafile(root: Path, spec: dict[str, Any], class_names: list[str] | None) -> Dataset:
    path = first_existing(root, candidates(spec["metadata"]))
    entries = _entries(path)
    path_key, label_key = spec.get("path_key", "wav"), spec.get("label_key", "labels")
    sep = spec.get("label_separator", ",")
    if spec.get("class_table"):
        table_names, code_map = read_class_table(root, spec["class_table"])
        class_names = class_names or table_names
    else:
        code_map = {str(k): str(v) for k, v in (spec.get("label_map") or {}).items()}
        class_names = class_names or sorted(set(code_map.values()))
    if not class_names:
        raise DataError(f"{path}: the task needs a class list (classes.names, label_map or class_table)")
    index = {name: i for i, name in enumerate(class_names)}

    dirs = candidates(spec.get("audio_dirs")) or ["."]
    audio = AudioIndex(root)
    folder = DatasetFolder(root, spec)
    items = []
    for n, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get(path_key), str) or not isinstance(entry.get(label_key), str):
            raise DataError(f"{path}: entry {n} of 'data' lacks '{path_key}' or '{label_key}' strings; expected {{\"{path_key}\": ..., \"{label_key}\": ...}}")
        codes = [c.strip() for c in entry[label_key].split(sep) if c.strip()]
        if not codes:
            raise DataError(f"{path}: entry {n} has an empty '{label_key}'")
        names = []
        for code in codes:
            name = code_map.get(code, code) if code_map else code
            if (code_map and code not in code_map) or name not in index:
                raise DataError(f"{path}: entry {n} has unknown label '{code}'; expected one of {', '.join(code_map or index)}")
            names.append(name)
        file_name = _base_name(entry[path_key])
        tried = [str(PurePosixPath(d) / file_name) if d not in ("", ".") else file_name for d in dirs]
        found = audio.find(tried)
        if found is None:
            raise DataError(f"{root / tried[0]}: audio file listed in {path.name} (entry {n}) not found in {' or '.join(dirs)}")
        folder.check(found, f"{path}: entry {n}")
        items.append(Item(path=found, labels=tuple(index[x] for x in dict.fromkeys(names))))
    return Dataset(root=root, classes=list(class_names), items=items)


def _entries(path: Path) -> list:
    if not path.is_file():
        raise DataError(f"{path}: datafile not found; expected the official layout")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: expected an object {{\"data\": [...]}}")
    return data["data"]


def _base_name(path: str) -> str:
    # The recipes' paths may come from any OS.
    return PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name
