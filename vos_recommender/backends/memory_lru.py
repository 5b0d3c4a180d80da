"""A small in-memory least-recently-used map, the cache's memory tier (records, arrays, video hashes).

``functools.lru_cache`` memoises a function; the cache needs a map it can fill, read and drop entries of by
key (an evicted entry leaves memory too), so this is an ``OrderedDict`` with a capacity.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = ["LRUDict"]


class LRUDict(OrderedDict):
    """An ordered dict that keeps its ``capacity`` most recently used items."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = int(capacity)

    def get_recent(self, key: str) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: str, value: Any) -> None:
        if self.capacity <= 0:
            return
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)
