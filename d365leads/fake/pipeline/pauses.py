"""Early retries after a scripted 429: requests sent while its ``Retry-After`` still runs.

Dataverse counts service-protection limits per user, and a client should pause every request
of that user until ``Retry-After`` has passed
(https://learn.microsoft.com/power-apps/developer/data-platform/api-limits).  The fault plan
starts a pause here when it answers a scripted 429; each Web API request that arrives during
the pause (after a short grace for requests already on the wire) is an early retry.  The fake's
own service protection counts early retries of its real limits separately.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["PauseWatch"]


class PauseWatch:
    """The latest scripted pause and the early requests it saw; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, grace_s: float = 0.5) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.grace_s = grace_s
        """Requests this soon after a 429 were sent before the client could see it (parallel
        workers), so they are not counted as early."""
        self.early_retries = 0
        self._started = float("-inf")
        self._until = float("-inf")

    def __repr__(self) -> str:
        return f"PauseWatch(early_retries={self.early_retries}, left={self.left_s():.1f}s)"

    def start(self, seconds: float) -> None:
        """A 429 with ``Retry-After: seconds`` was just answered."""
        with self._lock:
            now = self._clock()
            self._started = now
            self._until = max(self._until, now + seconds)

    def arrived(self) -> None:
        """A Web API request arrived: count it if a pause runs and the grace has passed."""
        with self._lock:
            now = self._clock()
            if now < self._until and now - self._started >= self.grace_s:
                self.early_retries += 1

    def left_s(self) -> float:
        """Seconds left of the pause (0 when none runs)."""
        with self._lock:
            return max(0.0, self._until - self._clock())

    def clear(self) -> None:
        """Forget the pause and the count."""
        with self._lock:
            self.early_retries = 0
            self._started = self._until = float("-inf")
