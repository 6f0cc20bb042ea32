"""Write result files atomically: a temp file in the same folder, then a rename.

An interrupted run never leaves a half-written result, and a finished task's file is never lost.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


def result_path(output: Path, model_id: str, task: str) -> Path:
    return _model_file(output, model_id, f"{task}.json")


def predictions_path(output: Path, model_id: str, task: str) -> Path:
    return _model_file(output, model_id, f"{task}.predictions.csv")


def items_path(output: Path, model_id: str, task: str) -> Path:
    return _model_file(output, model_id, f"{task}.items.npz")


def _model_file(output: Path, model_id: str, name: str) -> Path:
    """``output/<model-id>/<name>``; ClapbenchError unless both are single names and it resolves inside ``output``."""
    from clapbench.errors import ClapbenchError
    from clapbench.paths import check_inside

    for part in (model_id, name):
        if part in ("", ".", "..") or Path(part).name != part:
            raise ClapbenchError(f"'{part}': not a single file name; results go to {Path(output) / '<model-id>' / '<task>.json'}")
    return check_inside(output, Path(model_id) / name, f"the result file of model '{model_id}'")


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask is process-wide, and the embedding cache writes from a thread.
_FILE_MODE = 0o666 & ~_read_umask()


@contextmanager
def atomic_open(path: Path, mode: str = "w", fsync: bool = True):
    """Open a temp file beside ``path``; on success it replaces ``path``, on any error it is removed.

    ``fsync=False`` for entries that are checked on read anyway (the embedding cache): a rename after
    a complete write is atomic against a killed process; only an OS crash could leave a short file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes owner-only files; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_npz(path: Path, arrays: dict[str, Any]) -> None:
    import numpy as np

    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def read_npz(path: Path) -> dict[str, Any]:
    """Every array of a per-item file; ClapbenchError naming it when it is not an npz of plain arrays.

    allow_pickle=False: an object array would be unpickled, and unpickling runs whatever code the file names.
    """
    import zipfile

    import numpy as np

    from clapbench.errors import ClapbenchError, first_line

    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ClapbenchError(f"{path}: not a per-item file of plain arrays ({first_line(exc)}); expected the <task>.items.npz clapbench run writes") from None


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_text(path, frame.to_csv(index=False))
