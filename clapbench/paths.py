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


def check_writable_dir(folder: str | os.PathLike, what: str, hint: str = "") -> Path:
    """Create ``folder`` and write a file in it, so an unwritable path is named before any work;
    ClapbenchError naming it (``what``: the option, e.g. '--output') otherwise."""
    import tempfile

    from clapbench.errors import ClapbenchError

    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".clapbench-write-check.", delete=True):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClapbenchError(f"{what} {folder}: cannot write there ({reason}); expected a folder this user can create and write"
                             + (f"; {hint}" if hint else "")) from None
    return folder


def check_writable_file(path: str | os.PathLike, what: str) -> Path:
    """The folder of an output file (``-o report.html``, ``--json``) exists or is created, and is writable;
    a path that is a folder is refused."""
    from clapbench.errors import ClapbenchError

    path = Path(path).expanduser()
    if path.is_dir():
        raise ClapbenchError(f"{what} {path}: is a folder; expected a file name")
    try:
        check_writable_dir(path.parent, what)
    except ClapbenchError as exc:
        reason = str(exc).split("cannot write there", 1)[1].split(";", 1)[0].strip()
        raise ClapbenchError(f"{what} {path}: cannot write there {reason}; expected a file in a folder this user can create and write") from None
    return path


def check_creatable_dir(folder: str | os.PathLike, what: str) -> Path:
    """``folder`` is a writable folder, or can be created: its nearest existing ancestor is a folder this
    user can write. Creates nothing (a refused command leaves no empty folder behind)."""
    from clapbench.errors import ClapbenchError

    folder = Path(folder).expanduser().absolute()
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ClapbenchError(f"{what} {folder}: cannot write there ({probe} is a file, not a folder); expected a folder this user can create and write")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ClapbenchError(f"{what} {folder}: cannot write there ({probe} is not writable by this user); expected a folder this user can create and write")
    return folder
