"""Throttling state shared by every request of one client (and so by all bulk workers).

Service-protection limits are counted per user, so when one request gets a 429 every worker
using the same identity should pause until ``Retry-After`` has passed
(https://learn.microsoft.com/power-apps/developer/data-platform/api-limits). The latest
``x-ms-dop-hint`` (recommended parallelism) is kept for the bulk planner, and the
remaining-budget headers pace the identity before it runs out (:mod:`d365leads.http.pacing`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from d365leads import _wire
from d365leads.http.pacing import BudgetPacer

__all__ = ["ThrottleSnapshot", "ThrottleState"]

# Pacing waits one request makes at most: answers that arrive during a wait can push the
# window's room later, but a clock that does not move (tests) must not loop for ever.
_PACING_ROUNDS = 8


@dataclass(frozen=True)
class ThrottleSnapshot:
    """A consistent copy of the counters, for reports."""

    dop_hint: int | None
    throttled: int
    retries: int
    waited_s: float
    paused_until: float


class ThrottleState:
    """Thread-safe throttling state: pause gate, dop hint and counters.

    ``clock`` is monotonic seconds; ``sleep`` is passed to :meth:`wait` by the session so that
    tests inject both. ``limit_window`` is the service-protection window the remaining-budget
    headers are paced on (0 or None: no pacing).
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, limit_window: float | None = None
    ) -> None:
        self._clock = clock
        self.pacer = BudgetPacer(window_s=limit_window or 0.0, clock=clock)
        self._lock = threading.Lock()
        self._paused_until = float("-inf")
        self.dop_hint: int | None = None
        self.throttled = 0
        self.retries = 0
        self.waited_s = 0.0

    def sibling(self) -> ThrottleState:
        """A fresh state with the same clock and pacing window (another user's limits)."""
        return ThrottleState(clock=self._clock, limit_window=self.pacer.window_s)

    def observe(self, headers: Mapping[str, str], elapsed_s: float | None = None) -> None:
        """Record what a response says about throttling: the dop hint and remaining budget."""
        self.pacer.observe(headers, elapsed_s)
        hint = headers.get(_wire.HEADER_DOP_HINT)
        if hint is None:
            return
        try:
            value = int(hint.strip())
        except ValueError:
            return
        if value > 0:
            with self._lock:
                self.dop_hint = value

    def record_throttle(self, retry_after: float | None) -> float:
        """A 429 arrived: count it and pause every sender for ``retry_after`` seconds.

        Returns the pause deadline (clock time) now in force.
        """
        with self._lock:
            self.throttled += 1
            if retry_after is not None and retry_after > 0:
                self._paused_until = max(self._paused_until, self._clock() + retry_after)
            return self._paused_until

    def extend_pause(self, seconds: float) -> None:
        """Pause every sender for at least ``seconds`` more, without counting a 429.

        For a pause learnt from elsewhere: another process of the same identity got the 429.
        """
        if seconds > 0:
            with self._lock:
                self._paused_until = max(self._paused_until, self._clock() + seconds)

    def mark_served(self, deadline: float, waited: float) -> None:
        """The worker that got the 429 slept ``waited`` seconds for the pause ending ``deadline``.

        Ends the pause unless a later 429 extended it, so an injected clock that does not move
        cannot make later requests wait again.
        """
        with self._lock:
            self.waited_s += waited
            if self._paused_until <= deadline:
                self._paused_until = float("-inf")

    def record_retry(self) -> None:
        """Count one resend."""
        with self._lock:
            self.retries += 1

    def pause_remaining(self) -> float:
        """Seconds until requests may be sent again (0 if not paused)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    def wait(self, sleep: Callable[[float], None]) -> float:
        """Sleep until the pause after a 429 is over, then for this request's pacing slot.

        Returns the seconds slept for the pause (pacing is counted in ``pacer.paced_s``).
        """
        slept = self._wait_pause(sleep)
        paced = self.pacer.reserve()
        rounds = 0
        while paced > 0 and rounds < _PACING_ROUNDS:
            sleep(paced)
            # Another worker may have got a 429 meanwhile: never send inside its pause.
            slept += self._wait_pause(sleep)
            paced = self.pacer.hold()
            rounds += 1
        return slept

    def _wait_pause(self, sleep: Callable[[float], None]) -> float:
        with self._lock:
            target = self._paused_until
            remaining = target - self._clock()
        if remaining <= 0:
            return 0.0
        sleep(remaining)
        with self._lock:
            self.waited_s += remaining
            # With an injected clock that did not move, the pause has still been served.
            if self._paused_until == target and self._clock() < target:
                self._paused_until = float("-inf")
        return remaining

    def snapshot(self) -> ThrottleSnapshot:
        """Return the counters as one consistent value."""
        with self._lock:
            return ThrottleSnapshot(
                dop_hint=self.dop_hint,
                throttled=self.throttled,
                retries=self.retries,
                waited_s=self.waited_s,
                paused_until=self._paused_until,
            )

    def __repr__(self) -> str:
        return (
            f"ThrottleState(dop_hint={self.dop_hint}, throttled={self.throttled}, "
            f"retries={self.retries}, waited_s={self.waited_s:.1f})"
        )
