"""A small name -> builder registry for backends, quality sources and recommendation strategies.

Entries are classes (or factories) or lazy ``"module:attribute"`` import paths, so registering a heavy
backend does not import it. mmengine's ``Registry`` does the same job for the segmentation half, but
``vos_recommender`` must install and import without the OpenMMLab stack, so it keeps this one here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Names mapped to builders, with lazy imports and errors that list the known names.

    Args:
        kind: What the entries are, used in error messages (e.g. ``"VOS backend"``).
        entries: Initial ``name -> builder or "module:attribute"`` entries.
        aliases: Extra names that resolve to an entry (e.g. ``{"agent": "ours"}``).
        case_sensitive: Compare names as given (default) or lower-cased.
    """

    def __init__(
        self,
        kind: str,
        entries: dict[str, Callable[..., T] | str] | None = None,
        aliases: dict[str, str] | None = None,
        case_sensitive: bool = True,
    ) -> None:
        self.kind = kind
        self.case_sensitive = case_sensitive
        self._entries: dict[str, Callable[..., T] | str] = {}
        self._aliases: dict[str, str] = {}
        for name, entry in (entries or {}).items():
            self.register(name, entry)
        for alias, name in (aliases or {}).items():
            self._aliases[self._key(alias)] = self._key(name)

    def _key(self, name: str) -> str:
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} names are strings, got {type(name).__name__} {name!r}")
        return name if self.case_sensitive else name.lower()

    def register(self, name: str, entry: Callable[..., T] | str, overwrite: bool = False) -> None:
        """Register ``entry`` (a builder or a ``"module:attribute"`` path) under ``name``.

        Raises:
            KeyError: If ``name`` is taken and ``overwrite`` is False.
        """
        key = self._key(name)
        if (key in self._entries or key in self._aliases) and not overwrite:
            raise KeyError(f"{self.kind} {name!r} is already registered")
        if isinstance(entry, str) and ":" not in entry:
            raise ValueError(f"a lazy {self.kind} entry must read 'module:attribute', got {entry!r}")
        self._entries[key] = entry

    def unregister(self, name: str) -> Callable[..., T] | str:
        """Remove ``name`` and return its entry (for plugins and tests that register temporarily).

        Raises:
            KeyError: If the name is unknown.
        """
        key = self._canonical(name)
        if key not in self._entries:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        self._aliases = {alias: target for alias, target in self._aliases.items() if target != key}
        return self._entries.pop(key)

    pop = unregister  # the dict spelling, for code written against the former plain-dict registry

    def names(self) -> list[str]:
        """Sorted registered names (aliases not included)."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._canonical(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __getitem__(self, name: str) -> Callable[..., T] | str:
        return self._entries[self._canonical(name)]

    def __setitem__(self, name: str, entry: Callable[..., T] | str) -> None:
        self.register(name, entry, overwrite=True)

    def _canonical(self, name: str) -> str:
        key = self._key(name)
        return self._aliases.get(key, key)

    def get(self, name: str) -> Callable[..., T]:
        """The builder registered under ``name``, importing it if it was registered lazily.

        Raises:
            KeyError: If the name is unknown (the message lists the known names).
        """
        key = self._canonical(name)
        if key not in self._entries:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        entry = self._entries[key]
        if isinstance(entry, str):
            module_name, _, attribute = entry.partition(":")
            entry = getattr(importlib.import_module(module_name), attribute)
            self._entries[key] = entry
        return entry

    def build(self, name: str, *args: Any, **kwargs: Any) -> T:
        """Build the entry registered under ``name`` with the given arguments."""
        return self.get(name)(*args, **kwargs)
