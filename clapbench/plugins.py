"""One registry type for every kind of plug-in: dataset readers, evaluations, metrics.

A plug-in is a function registered under a name with ``@REGISTRY.register("name")`` in any module of
the registry's packages; those modules are imported on the first lookup, so a new reader or evaluation
is a new file and no list is edited. An unknown name is one error naming the kind, the closest known
name and every known one.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterator, MutableMapping
from typing import Generic, TypeVar

from clapbench.errors import ClapbenchError

T = TypeVar("T")


class Registry(MutableMapping[str, T], Generic[T]):
    def __init__(self, kind: str, packages: tuple[str, ...] = (), error: type[ClapbenchError] = ClapbenchError):
        self.kind = kind  # "dataset reader", "evaluation type", "single-label metric"
        self.packages = packages
        self.error = error
        self._items: dict[str, T] = {}
        self._discovered = not packages

    def register(self, name: str) -> Callable[[T], T]:
        def add(fn: T) -> T:
            self._items[name] = fn
            return fn

        return add

    def discover(self) -> None:
        """Import every module of the registry's packages (once), which registers their plug-ins."""
        if self._discovered:
            return
        self._discovered = True
        for package in self.packages:
            module = importlib.import_module(package)
            for info in pkgutil.iter_modules(module.__path__):
                importlib.import_module(f"{package}.{info.name}")

    def lookup(self, name: str) -> T:
        """The plug-in named ``name``; the registry's error (a ClapbenchError) when there is none."""
        self.discover()
        if name not in self._items:
            known = sorted(self._items)
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise self.error(f"unknown {self.kind} '{name}'; {hint}known: {', '.join(known)}")
        return self._items[name]

    def __getitem__(self, name: str) -> T:
        self.discover()
        return self._items[name]

    def __setitem__(self, name: str, fn: T) -> None:
        self.discover()
        self._items[name] = fn

    def __delitem__(self, name: str) -> None:
        self.discover()
        del self._items[name]

    def __iter__(self) -> Iterator[str]:
        self.discover()
        return iter(self._items)

    def __len__(self) -> int:
        self.discover()
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._items)})"
