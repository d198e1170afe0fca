"""Pacing one identity on the remaining-budget headers, before a 429 has to stop it.

Dataverse reports on its responses what is left of the caller's service-protection budget:
``x-ms-ratelimit-burst-remaining-xrm-requests`` (requests left for this connection) and
``x-ms-ratelimit-time-remaining-xrm-requests`` (combined execution time left for the user,
written like ``1,199.46``: seconds, with a grouping comma, as far as published examples show;
https://learn.microsoft.com/power-apps/developer/data-platform/api-limits). Microsoft calls
them debugging aids and says not to drive the request rate from them, so they are only a
hint here: ``Retry-After`` stays the authority, nothing is paced when they are absent or
stale, and one pacing wait is bounded.

The limits are counted over a sliding window (300 s documented). A window holding the
identity's recent work leaves ``remaining`` budget; once less than :attr:`BudgetPacer.start`
of the most ever seen is left, request starts are spaced so the budget is spent at the rate
the window gives it back (``limit / window`` per second, a request costing about its own
duration of server time), and spaced wider as the budget nears zero. Above that share, as with
no headers at all, requests go as fast as the workers send them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "HEADER_BURST_REMAINING",
    "HEADER_TIME_REMAINING",
    "BudgetPacer",
    "parse_budget_value",
]

HEADER_BURST_REMAINING = "x-ms-ratelimit-burst-remaining-xrm-requests"
HEADER_TIME_REMAINING = "x-ms-ratelimit-time-remaining-xrm-requests"


def parse_budget_value(raw: str | None) -> float | None:
    """A budget header's number (``5999``, ``1,199.46``), or None when absent or unreadable."""
    if raw is None:
        return None
    try:
        value = float(raw.strip().replace(",", ""))
    except ValueError:
        return None
    if value != value or value < 0 or value == float("inf"):  # NaN, negative, infinite
        return None
    return value


@dataclass
class _Budget:
    remaining: float
    most: float
    seen_at: float


class BudgetPacer:
    """Spaces the request starts of one identity when its reported budget runs low.

    ``window_s`` is the service's sliding window (0 turns pacing off); ``clock`` is monotonic
    seconds. Thread-safe: every worker of the identity asks :meth:`reserve` before sending, so
    the spacing holds across workers.
    """

    start = 0.25
    """Pace once less than this share of the most budget seen is left."""
    floor = 0.1
    """Below this share the spacing widens, up to :attr:`max_stretch` times at zero."""
    max_stretch = 2.0
    max_wait_s = 5.0
    """The longest one request waits for pacing (a hint never stalls a job)."""

    def __init__(self, *, window_s: float, clock: Callable[[], float]) -> None:
        if window_s < 0:
            raise ValueError(f"window_s must be 0 (no pacing) or more, got {window_s}")
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._budgets: dict[str, _Budget] = {}
        self._cost_s: float | None = None
        self._next_at = float("-inf")
        self.paced = 0
        """Requests that waited for pacing."""
        self.paced_s = 0.0
        """Seconds they waited in all."""

    def observe(self, headers: Mapping[str, str], elapsed_s: float | None = None) -> None:
        """Record the budget a response reports and how long its request took."""
        if not self.window_s:
            return
        now = self._clock()
        with self._lock:
            for name in (HEADER_BURST_REMAINING, HEADER_TIME_REMAINING):
                value = parse_budget_value(headers.get(name))
                if value is None:
                    continue
                budget = self._budgets.get(name)
                if budget is None:
                    self._budgets[name] = _Budget(value, value, now)
                else:
                    budget.remaining, budget.seen_at = value, now
                    budget.most = max(budget.most, value)
            if elapsed_s is not None and elapsed_s >= 0:
                cost = self._cost_s
                self._cost_s = elapsed_s if cost is None else 0.8 * cost + 0.2 * elapsed_s

    def spacing(self) -> float:
        """Seconds between request starts that the reported budget asks for now (0: none)."""
        with self._lock:
            return self._spacing(self._clock())

    def _spacing(self, now: float) -> float:
        spacing = 0.0
        for name, budget in self._budgets.items():
            if budget.most <= 0 or now - budget.seen_at > self.window_s:
                continue  # an old reading says nothing: the window has rolled on since
            share = budget.remaining / budget.most
            if share >= self.start:
                continue
            # A request costs one unit of the request budget, or about its duration of time.
            unit = 1.0 if name == HEADER_BURST_REMAINING else (self._cost_s or 0.0)
            refill_per_s = budget.most / self.window_s
            stretch = min(self.max_stretch, self.floor / max(share, self.floor / self.max_stretch))
            spacing = max(spacing, unit / refill_per_s * max(1.0, stretch))
        return spacing

    def reserve(self) -> float:
        """Take the next start slot; return the seconds to wait for it (0: send now)."""
        if not self.window_s:
            return 0.0
        with self._lock:
            now = self._clock()
            spacing = self._spacing(now)
            if spacing <= 0:
                self._next_at = float("-inf")
                return 0.0
            slot = max(now, self._next_at)
            wait = min(slot - now, self.max_wait_s)
            self._next_at = now + wait + spacing
            if wait > 0:
                self.paced += 1
                self.paced_s += wait
            return wait

    def __repr__(self) -> str:
        budgets = {k.split("-")[3]: round(b.remaining, 2) for k, b in self._budgets.items()}
        return f"BudgetPacer(window_s={self.window_s}, remaining={budgets}, paced={self.paced})"
