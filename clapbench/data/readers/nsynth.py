"""NSynth (nsynth-{test,valid,train}.jsonwav.tar.gz): ``examples.json`` + ``audio/<note_str>.wav``.

examples.json is one JSON object keyed by note name; each entry has the fields Magenta documents
(note_str, pitch, velocity, instrument_family, instrument_family_str, qualities, qualities_str, ...).

Parameters:
  metadata: examples.json (relative to the dataset folder)
  audio_dir: audio
  label_field: the entry field holding the label: a scalar (pitch, velocity, instrument_family_str)
               or a list of names for a multi-label task (qualities_str)
  drop_unlisted: when true, notes whose label is not one of the task's classes are left out
                 (HEAR keeps pitches 21-108 only); otherwise such a note is an error
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clapbench.data.containment import DatasetFolder
from clapbench.data.dataset import Dataset, Item
from clapbench.data.readers import reader
from clapbench.errors import DataError


def _label_names(value: Any) -> list[str]:
    """A field's value as class names: 60 -> ["60"], ["bright", "reverb"] -> the list."""
    values = value if isinstance(value, list) else [value]
    return [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values]


def _numeric_first(name: str):
    return (0, int(name), name) if name.lstrip("-").isdigit() else (1, 0, name)


@reader("nsynth")
def read_nsynth(root: Path, spec: dict[str, Any], class_names: list[str] | None) -> Dataset:
    meta = root / spec.get("metadata", "examples.json")
    audio_dir = spec.get("audio_dir", "audio")
    field = spec["label_field"]
    if not meta.is_file():
        raise DataError(f"{meta}: metadata file not found; expected the NSynth layout nsynth-<split>/examples.json + audio/<note_str>.wav")
    try:
        entries = json.loads(meta.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{meta}: not valid JSON ({exc})") from None
    if not isinstance(entries, dict):
        raise DataError(f"{meta}: expected a JSON object keyed by note name, found a {type(entries).__name__}")

    notes: list[tuple[str, list[str]]] = []
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise DataError(f"{meta}: entry '{key}' is a {type(entry).__name__}; expected an object of note fields")
        missing = [f for f in ("note_str", field) if f not in entry]
        if missing:
            raise DataError(f"{meta}: entry '{key}' has no field {' or '.join(repr(f) for f in missing)}; expected NSynth's examples.json fields")
        notes.append((str(entry["note_str"]), _label_names(entry[field])))

    if class_names is None:
        class_names = sorted({name for _, labels in notes for name in labels}, key=_numeric_first)
    index = {name: i for i, name in enumerate(class_names)}
    drop = bool(spec.get("drop_unlisted", False))
    folder = DatasetFolder(root, spec)
    items = []
    for note, labels in notes:
        unknown = [name for name in labels if name not in index]
        if unknown:
            if drop:
                continue
            raise DataError(f"{meta}: entry '{note}' has {field} '{unknown[0]}'; expected one of the task's {len(index)} classes")
        path = folder.check(f"{audio_dir}/{note}.wav", f"{meta}: the entry of note_str '{note}'")
        items.append(Item(path=path, labels=tuple(index[name] for name in labels)))
    return Dataset(root=root, classes=list(class_names), items=items)
