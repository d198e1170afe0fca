"""Clocks for the fake: the system clock and a manual clock tests advance by hand.

A clock is any ``Callable[[], datetime]`` returning an aware UTC datetime.  Everything in the
fake that needs time (``createdon``/``modifiedon``, tombstones, throttle windows, delta token
retention) reads the clock of its :class:`~d365leads.fake.facade.FakeDataverse`; nothing reads
``time.time()`` directly, so tests never wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "ManualClock", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the default clock)."""
    return datetime.now(timezone.utc)


class ManualClock:
    """A clock that only moves when :meth:`advance` or :meth:`set` is called."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime (tzinfo=timezone.utc)")
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` (not backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (aware datetime, not earlier than now)."""
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs an aware datetime")
        with self._lock:
            if when < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = when

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
