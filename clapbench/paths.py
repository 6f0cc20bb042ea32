"""Paths derived from user input stay inside the folder they belong to.

A model id becomes one folder name (``slug``); a path built under a root is resolved, symlinks
included, and refused when it lands outside (``inside``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_SLUG = 120  # a folder name, with room for the task file names beside it under the 255-byte limit


def slug(name: str) -> str:
    """``name`` as one folder name: runs of characters other than letters, digits, '.', '_', '-' become
    '-', and leading or trailing dots and dashes go ('../x' -> 'x', 'laion/clap' -> 'laion-clap')."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip(".-")[:MAX_SLUG].rstrip(".-")
    return out or "model"


def inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether ``path`` (relative paths are taken from ``root``), resolved, lies within ``root`` resolved."""
    return is_within(os.path.realpath(root), os.path.realpath(os.path.join(root, path)))


def is_within(real_root: str, real_path: str) -> bool:
    """For paths already resolved: ``real_path`` is ``real_root`` or below it."""
    return real_path == real_root or real_path.startswith(real_root.rstrip(os.sep) + os.sep)


def check_inside(root: str | os.PathLike, path: str | os.PathLike, what: str) -> Path:
    """``root / path``; ClapbenchError when it resolves outside ``root``."""
    from clapbench.errors import ClapbenchError

    full = Path(root) / path
    if not inside(root, path):
        raise ClapbenchError(f"{full}: {what} resolves to {os.path.realpath(full)}, outside {root}; expected a path inside it")
    return full
