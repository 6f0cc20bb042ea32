"""Hash a checkpoint's weight files, so results and caches name the exact weights, not a folder name.

A file's hash is remembered by (path, size, modification time in ns) in the user's cache folder, so a
rerun on the same checkpoint does not read gigabytes again; a file changed in any of those is hashed anew.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
HASHES_FILE = "weight-hashes.json"


def weights_sha256(path: str | Path) -> str:
    """sha256 over the weight files of a folder (sorted by name, each name then its bytes) or of a single file;
    remembered by each file's (resolved path, size, mtime_ns)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    key = "|".join(f"{f.resolve()}:{os.stat(f).st_size}:{os.stat(f).st_mtime_ns}" for f in files) + ("|dir" if path.is_dir() else "")
    known = _read_known()
    if key in known:
        return known[key]
    digest = hashlib.sha256()
    for f in files:
        if path.is_dir():
            digest.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    sha = digest.hexdigest()
    _remember(key, sha)
    return sha


def _hashes_path() -> Path:
    from clapbench.cache import default_cache_dir

    return default_cache_dir() / HASHES_FILE


def _read_known() -> dict[str, str]:
    try:
        data = json.loads(_hashes_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _remember(key: str, sha: str) -> None:
    """Best effort: a cache folder that cannot be written only costs a re-hash next time."""
    from clapbench.files import atomic_write_text

    known = _read_known()
    known[key] = sha
    if len(known) > 1000:  # keep the file small: the most recent entries
        known = dict(list(known.items())[-1000:])
    try:
        atomic_write_text(_hashes_path(), json.dumps(known, indent=0, sort_keys=False) + "\n")
    except OSError:
        pass
