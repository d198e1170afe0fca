"""Dealing a job's items out in chunks, to whichever runner asks next.

Several runners (one per identity, or one per process) share one job by drawing chunks from a
common source as their own queue runs low.  A runner that is throttled sends less and so asks
less often: work goes to identities by the rate they are admitted at, never split in advance.
:class:`LocalChunks` deals in one process; the PostgreSQL journal deals across processes with
leases (:mod:`d365leads.bulk.journal_pg`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable

from d365leads.bulk.journal import ItemRow

__all__ = ["LocalChunks"]


class LocalChunks:
    """Thread-safe dealer of unfinished items in chunks of ``chunk_size`` (in one process)."""

    def __init__(self, rows: Iterable[ItemRow], chunk_size: int) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self._rows = deque(rows)
        self._size = chunk_size
        self._lock = threading.Lock()
        self.dealt: dict[str, int] = {}
        """Items dealt per taker name (for the report)."""

    def __repr__(self) -> str:
        return f"LocalChunks(left={len(self._rows)}, chunk_size={self._size})"

    def left(self) -> int:
        """Items not dealt yet."""
        with self._lock:
            return len(self._rows)

    def claim(self, taker: str = "") -> list[ItemRow]:
        """The next chunk (empty when everything is dealt)."""
        with self._lock:
            count = min(self._size, len(self._rows))
            chunk = [self._rows.popleft() for _ in range(count)]
            self.dealt[taker] = self.dealt.get(taker, 0) + count
            return chunk
