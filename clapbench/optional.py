"""Dependencies that serve one optional path: imported when that path runs, with one clear message when absent."""

from __future__ import annotations

import importlib
from types import ModuleType

from clapbench.errors import ClapbenchError

# module -> (the extra that installs it, what needs it)
EXTRAS = {
    "pyarrow": ("hf", "reading HuggingFace dataset folders (--data NAME=hf:PATH)"),
}


class MissingDependency(ClapbenchError):
    """An optional dependency is not installed."""


def require(module: str) -> ModuleType:
    """Import ``module`` (e.g. ``pyarrow.parquet``); when its package is missing, say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra, purpose = EXTRAS[top]
        raise MissingDependency(
            f"{top} is not installed; it is needed for {purpose}: pip install 'clapbench[{extra}]' (or pip install {top})"
        ) from None
