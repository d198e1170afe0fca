"""The fake's request journal: a bounded ring buffer of recent exchanges plus running counters.

A long benchmark or chaos run sends millions of requests; keeping every request and response
would grow the fake without bound.  The journal keeps the newest ``limit`` exchanges (for
assertions) and counts every exchange it ever saw (for benchmarks), so the counters stay exact
after old entries are dropped.
"""

from __future__ import annotations

from collections import Counter

from ..wire.messages import FakeRequest, FakeResponse
from .ring import Ring

__all__ = ["JournalCounters", "RequestJournal"]

Entry = tuple[FakeRequest, FakeResponse]


class JournalCounters:
    """Exact totals over every journaled exchange, dropped ones included."""

    def __init__(self) -> None:
        self.total = 0
        self.by_method: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        """Transport faults acted out (``reset``, ``timeout``) by kind."""

    def add(self, request: FakeRequest, response: FakeResponse) -> None:
        """Count one exchange."""
        self.total += 1
        self.by_method[request.method] += 1
        if response.fault is not None:
            self.faults[response.fault.kind] += 1
        else:
            self.by_status[response.status] += 1

    def to_json(self) -> dict[str, object]:
        """The counters as JSON-ready data (status codes as strings)."""
        return {
            "total": self.total,
            "by_method": dict(self.by_method),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "transport_faults": dict(self.faults),
        }


class RequestJournal(Ring[Entry]):
    """The newest ``limit`` exchanges (``None``: keep all) and exact counters; thread-safe.

    It reads like the list it replaces: ``len``, iteration, indexing and slicing see the kept
    entries, oldest first; :attr:`dropped` says how many fell off the front.
    """

    def __init__(self, limit: int | None = None) -> None:
        super().__init__(limit, "journal")
        self.counters = JournalCounters()

    def __repr__(self) -> str:
        return f"RequestJournal(kept={len(self)}, total={self.counters.total})"

    @property
    def total(self) -> int:
        """Every exchange ever journaled (since the last :meth:`clear`)."""
        return self.counters.total

    @property
    def dropped(self) -> int:
        """Exchanges that fell off the front of the ring."""
        return self.counters.total - len(self._items)

    def append(self, entry: Entry) -> None:
        """Journal one exchange (the oldest is dropped when the ring is full)."""
        with self._lock:
            self._items.append(entry)
            self.counters.add(*entry)

    def clear(self) -> None:
        """Forget every entry and reset the counters."""
        with self._lock:
            self._items.clear()
            self.counters = JournalCounters()
