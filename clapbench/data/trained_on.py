"""What a trained model saw: item identities written by `clapbench train`, read by `clapbench run`
to mark results whose items the model was trained on.

An item's identity is its file name and byte size, hashed: the same clip in another copy or layout of
a dataset (another root, a renamed parent folder) has the same identity, and it costs one stat per clip.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from clapbench.errors import ClapbenchError

TRAINED_ON_FILE = "trained_on.json"


def item_identity(path: str | Path) -> str:
    path = Path(path)
    try:
        size = os.stat(path).st_size
    except OSError:
        size = -1
    return hashlib.sha256(f"{path.name}\0{size}".encode()).hexdigest()[:20]


@dataclass
class TrainedOn:
    file: Path
    sources: list[str]  # task names or pair-list files
    identities: frozenset[str]

    def overlap(self, paths: list[str]) -> int:
        return sum(item_identity(p) in self.identities for p in paths)


def trained_on_record(sources: list[str], paths: list[str], details: dict) -> dict:
    """The JSON the trainer writes beside its model and checkpoints."""
    return {"sources": sources, "identity": "sha256 of file name and byte size, first 20 hex digits",
            "n_items": len(paths), "items": sorted({item_identity(p) for p in paths}), **details}


def read_trained_on(model_path: str | None) -> TrainedOn | None:
    """The model folder's trained_on.json; None when it has none (nothing is known of its training data)."""
    if not model_path:
        return None
    file = Path(model_path) / TRAINED_ON_FILE
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
        return TrainedOn(file, [str(s) for s in data["sources"]], frozenset(map(str, data["items"])))
    except (ValueError, KeyError, TypeError) as exc:
        raise ClapbenchError(f"{file}: not a clapbench training-items file ({exc}); expected the {TRAINED_ON_FILE} `clapbench train` writes") from None
