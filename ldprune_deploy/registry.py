"""The one registry style: a named table filled by ``@TABLE.register("name")`` at import time.

Runners, scoring methods, modification families and pipeline stages are each one ``Registry``;
looking up a name that is not there is the one error that lists the names that are.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from .errors import LdpruneError

T = TypeVar("T")


class Registry(Generic[T]):
    """``what``: the noun in error messages; ``load``: imports the modules that register the
    built-in entries (optional dependencies may leave some out)."""

    def __init__(self, what: str, load: Callable[[], None] | None = None):
        self.what = what
        self._load = load
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: add the class (or function) under ``name``; classes get ``.name``."""
        def deco(obj: T) -> T:
            if isinstance(obj, type):
                obj.name = name
            self._items[name] = obj
            return obj
        return deco

    def add(self, name: str, obj: T) -> T:
        self._items[name] = obj
        return obj

    def _loaded(self) -> dict[str, T]:
        if self._load is not None:
            self._load()
        return self._items

    def get(self, name: str) -> T:
        items = self._loaded()
        if name not in items:
            raise LdpruneError(f"unknown {self.what} '{name}'", f"use one of: {', '.join(self.names())}")
        return items[name]

    def names(self) -> list[str]:
        return list(self._loaded())

    def items(self) -> list[tuple[str, T]]:
        return list(self._loaded().items())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._loaded())

    def __getitem__(self, name: str) -> T:
        return self.get(name)
