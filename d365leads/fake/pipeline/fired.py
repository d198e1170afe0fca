"""What a fault plan fired: the newest records in a ring buffer, and exact counters for all.

A chaos run or a long benchmark fires faults for hours; keeping a record of each would grow
the fake without bound.  :class:`FiredLog` keeps the newest ``limit`` records (for assertions
on what fired and where) and counts every fault ever fired by kind (for the chaos table), so
the counts stay exact after old records are dropped.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import overload

__all__ = ["DEFAULT_FIRED_LIMIT", "FiredFault", "FiredLog"]

DEFAULT_FIRED_LIMIT = 1_000


@dataclass(frozen=True)
class FiredFault:
    """A record of one fault that fired (for assertions)."""

    kind: str
    method: str
    url: str


class FiredLog:
    """The newest ``limit`` fired faults (``None``: keep all) and exact counts; thread-safe.

    It reads like the list it replaces: ``len``, iteration, indexing and ``== [...]`` see the
    kept records, oldest first; :attr:`by_kind` and :attr:`total` count every one.
    """

    def __init__(self, limit: int | None = DEFAULT_FIRED_LIMIT) -> None:
        if limit is not None and limit < 1:
            raise ValueError("the fired-fault limit must be at least 1 (or None to keep all)")
        self._records: deque[FiredFault] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self.by_kind: Counter[str] = Counter()
        """Every fault fired since the last :meth:`clear`, by kind (dropped records too)."""

    def __repr__(self) -> str:
        return f"FiredLog(kept={len(self)}, total={self.total})"

    @property
    def limit(self) -> int | None:
        """How many records are kept."""
        return self._records.maxlen

    @property
    def total(self) -> int:
        """Every fault fired since the last :meth:`clear`."""
        with self._lock:
            return sum(self.by_kind.values())

    @property
    def dropped(self) -> int:
        """Records that fell off the front of the ring."""
        with self._lock:
            return sum(self.by_kind.values()) - len(self._records)

    def counts(self) -> dict[str, int]:
        """A copy of :attr:`by_kind`."""
        with self._lock:
            return dict(self.by_kind)

    def append(self, record: FiredFault) -> None:
        """Record one fired fault (the oldest record is dropped when the ring is full)."""
        with self._lock:
            self._records.append(record)
            self.by_kind[record.kind] += 1

    def clear(self) -> None:
        """Forget every record and reset the counts."""
        with self._lock:
            self._records.clear()
            self.by_kind = Counter()

    def snapshot(self) -> list[FiredFault]:
        """A copy of the kept records, oldest first."""
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[FiredFault]:
        return iter(self.snapshot())

    def __bool__(self) -> bool:
        return bool(self._records)

    def __eq__(self, other: object) -> bool:
        # Compares like the list it replaces: ``plan.fired == []`` still reads naturally.
        if isinstance(other, FiredLog):
            return self.snapshot() == other.snapshot()
        if isinstance(other, list):
            return self.snapshot() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @overload
    def __getitem__(self, index: int) -> FiredFault: ...

    @overload
    def __getitem__(self, index: slice) -> list[FiredFault]: ...

    def __getitem__(self, index: int | slice) -> FiredFault | list[FiredFault]:
        if isinstance(index, slice):
            return self.snapshot()[index]
        with self._lock:
            return self._records[index]
