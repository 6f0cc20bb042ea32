"""Write files atomically: a temp file in the same folder, then a rename; and clean up what killed writers left.

An interrupted run never leaves a half-written file, and a finished task's file is never lost. Used by
the result files, the embedding cache and the trainer (a module of its own, below all of them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from clapbench.killpoints import kill_point


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
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes owner-only files; results are meant to be shared
        kill_point(f"rename{path.suffix}")  # the crash tests' points (clapbench/killpoints.py)
        kill_point(f"rename/{path.name}")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# Temp files are named .clapbench-tmp.<host>-<pid>.<name[:40]>.<8 random>.tmp: the fixed marker says
# they are clapbench's, the writer's host and pid say whether their writer can still be running.
TEMP_MARKER = ".clapbench-tmp."
_TEMP_RE = re.compile(r"^\.clapbench-tmp\.(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)\..*\.[a-z0-9_]{8}\.tmp$")
# Older clapbench named them .<name[:40]>.<8 random>.tmp, only for the names clapbench writes.
# A cache entry's name (64 hex + .npy) was cut to its first 40 hex digits.
_OLD_TEMP_RE = re.compile(r"^\.(?:.+\.(?:json|csv|npz)|[0-9a-f]{40}|CACHEDIR\.TAG)\.[a-z0-9_]{8}\.tmp$")
# A temp file whose writer cannot be checked (another host, an old name) is removed only once no write
# could still be under way: cache entries take microseconds, the largest result files seconds.
STALE_AFTER_S = 3600


@lru_cache(maxsize=1)
def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _temp_prefix(name: str) -> str:
    return f"{TEMP_MARKER}{_host_tag()}-{os.getpid()}.{name[:40]}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's live process (or a pid this OS cannot name: keep the file)
    return True


def _is_stale_temp(name: str, mtime: float, now: float) -> bool:
    match = _TEMP_RE.match(name)
    if match:
        if match["host"] == _host_tag():
            return not _pid_alive(int(match["pid"]))
        return now - mtime > STALE_AFTER_S  # a pid on another host (a shared cache) says nothing here
    return bool(_OLD_TEMP_RE.match(name)) and now - mtime > STALE_AFTER_S


def remove_stale_temps(folder: Path | str, depth: int = 1) -> int:
    """Remove clapbench's temp files left by killed writers in ``folder`` and its subfolders ``depth`` levels down.

    Only names of clapbench's temp pattern, and only those whose writer is dead (same host, pid gone) or that
    are over STALE_AFTER_S old: a run writing into the same folder (two runs sharing a cache) keeps its files.
    Returns the number removed; a folder that is missing or unreadable is skipped, never an error.
    """
    now = time.time()
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if depth > 0:
                    removed += remove_stale_temps(entry.path, depth - 1)
            elif entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file(follow_symlinks=False):
                if _is_stale_temp(entry.name, entry.stat(follow_symlinks=False).st_mtime, now):
                    os.unlink(entry.path)
                    removed += 1
        except FileNotFoundError:  # another run removed or renamed it meanwhile
            continue
        except OSError:  # no permission: not ours to clean
            continue
    return removed


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
