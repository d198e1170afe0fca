"""What a fault plan fired: the newest records in a ring buffer, and exact counters for all.

A chaos run or a long benchmark fires faults for hours; keeping a record of each would grow
the fake without bound.  :class:`FiredLog` keeps the newest ``limit`` records (for assertions
on what fired and where) and counts every fault ever fired by kind (for the chaos table), so
the counts stay exact after old records are dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .ring import Ring

__all__ = ["DEFAULT_FIRED_LIMIT", "FiredFault", "FiredLog"]

DEFAULT_FIRED_LIMIT = 1_000


@dataclass(frozen=True)
class FiredFault:
    """A record of one fault that fired (for assertions)."""

    kind: str
    method: str
    url: str


class FiredLog(Ring[FiredFault]):
    """The newest ``limit`` fired faults (``None``: keep all) and exact counts; thread-safe.

    It reads like the list it replaces: ``len``, iteration, indexing and ``== [...]`` see the
    kept records, oldest first; :attr:`by_kind` and :attr:`total` count every one.
    """

    def __init__(self, limit: int | None = DEFAULT_FIRED_LIMIT) -> None:
        super().__init__(limit, "fired-fault")
        self.by_kind: Counter[str] = Counter()
        """Every fault fired since the last :meth:`clear`, by kind (dropped records too)."""

    def __repr__(self) -> str:
        return f"FiredLog(kept={len(self)}, total={self.total})"

    @property
    def total(self) -> int:
        """Every fault fired since the last :meth:`clear`."""
        with self._lock:
            return sum(self.by_kind.values())

    @property
    def dropped(self) -> int:
        """Records that fell off the front of the ring."""
        with self._lock:
            return sum(self.by_kind.values()) - len(self._items)

    def counts(self) -> dict[str, int]:
        """A copy of :attr:`by_kind`."""
        with self._lock:
            return dict(self.by_kind)

    def append(self, record: FiredFault) -> None:
        """Record one fired fault (the oldest record is dropped when the ring is full)."""
        with self._lock:
            self._items.append(record)
            self.by_kind[record.kind] += 1

    def clear(self) -> None:
        """Forget every record and reset the counts."""
        with self._lock:
            self._items.clear()
            self.by_kind = Counter()
