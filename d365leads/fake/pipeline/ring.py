"""A thread-safe ring of the newest items that reads like the list it stands in for.

The fake records what happens (requests, fired faults) for assertions, and a long benchmark or
chaos run would grow such a list without bound.  :class:`Ring` keeps the newest ``limit``
items; the records built on it (:mod:`.journal`, :mod:`.fired`) add exact counters over every
item, so totals survive the items that fall off the front.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar, overload

__all__ = ["Ring"]

T = TypeVar("T")


class Ring(Generic[T]):
    """The newest ``limit`` items (``None``: keep all); ``len``, iteration, indexing, slicing
    and ``== [...]`` see the kept items, oldest first.  Subclasses add under ``_lock``."""

    def __init__(self, limit: int | None, what: str) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"the {what} limit must be at least 1 (or None to keep everything)")
        self._items: deque[T] = deque(maxlen=limit)
        self._lock = threading.Lock()

    @property
    def limit(self) -> int | None:
        """How many items are kept."""
        return self._items.maxlen

    def snapshot(self) -> list[T]:
        """A copy of the kept items, oldest first."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.snapshot())

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        # Compares like the list it replaces: ``fake.journal == []`` still reads naturally.
        if isinstance(other, Ring):
            return self.snapshot() == other.snapshot()
        if isinstance(other, list):
            return self.snapshot() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return self.snapshot()[index]
        with self._lock:
            return self._items[index]
