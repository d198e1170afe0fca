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

Spacing at the average refill rate wastes budget in a window that short bursts filled, and
finding the window's edge by a 429 costs a whole-second ``Retry-After``. So the pacer also keeps
a :class:`~d365leads.http.window_ledger.WindowLedger` of its own completed requests. While the
time budget each reading implies (time left plus the ledger's own time held) stays steady, the
ledger explains what the budget does: requests then go while the predicted time left is above
zero, which is when the service admits them, and otherwise wait for the moment the ledger's
oldest work leaves the window. When a reading implies a smaller budget (someone else spends
this user's budget: another process, another machine) or the ledger finds room where the
service reports none, the ledger is not trusted and the spacing above applies.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from d365leads.http.window_ledger import WindowLedger

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
    readings = 25
    """How many time-left readings the implied budget is the median of."""
    tolerance = 0.1
    """How far an implied budget may fall below the largest seen while the ledger is trusted
    (a request's duration is a little more than the server time it is charged)."""

    def __init__(self, *, window_s: float, clock: Callable[[], float]) -> None:
        if window_s < 0:
            raise ValueError(f"window_s must be 0 (no pacing) or more, got {window_s}")
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._budgets: dict[str, _Budget] = {}
        self._cost_s: float | None = None
        self._next_at = float("-inf")
        self._ledger = WindowLedger(window_s) if window_s else None
        self._budget_s: float | None = None
        self._implied: deque[float] = deque(maxlen=self.readings)
        self._most_budget_s = 0.0
        self._trusted = False
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
                refused = headers.get("Retry-After") or headers.get("retry-after")
                if self._ledger is not None and refused is None:  # a refusal costs no time
                    self._ledger.add(now, elapsed_s)
            self._check_ledger(parse_budget_value(headers.get(HEADER_TIME_REMAINING)), now)

    def _check_ledger(self, left: float | None, now: float) -> None:
        """Compare a time-left reading with the ledger; under the lock."""
        if left is None or self._ledger is None:
            return
        held = self._ledger.held(now)
        if left > 0:
            # Answers of parallel requests arrive out of the order the service wrote them, so
            # one reading can be off by a request or two: the median of the latest is not.
            self._implied.append(left + held)
            budget = statistics.median(self._implied)
            self._most_budget_s = max(self._most_budget_s, budget)
            self._trusted = budget >= (1 - self.tolerance) * self._most_budget_s
            self._budget_s = budget
        elif self._budget_s is not None:
            # None left: trusted only if the ledger also holds (about) the whole budget.
            self._trusted = self._budget_s - held <= self.tolerance * self._budget_s

    def predicting(self) -> bool:
        """True while the ledger explains the time-left readings (see the module docstring)."""
        with self._lock:
            return self._predicting(self._clock())

    def _predicting(self, now: float) -> bool:
        budget = self._budgets.get(HEADER_TIME_REMAINING)
        fresh = budget is not None and now - budget.seen_at <= self.window_s
        return fresh and self._trusted and self._budget_s is not None

    def spacing(self) -> float:
        """Seconds between request starts that the reported budget asks for now (0: none)."""
        with self._lock:
            return self._spacing(self._clock())

    def _spacing(self, now: float) -> float:
        spacing = 0.0
        predicting = self._predicting(now)
        for name, budget in self._budgets.items():
            if budget.most <= 0 or now - budget.seen_at > self.window_s:
                continue  # an old reading says nothing: the window has rolled on since
            if predicting and name == HEADER_TIME_REMAINING:
                continue  # the ledger's prediction replaces the spacing (see reserve)
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
            # A prediction is not capped by max_wait_s: it is never later than the window's
            # length, and no later than the moment a 429's Retry-After would name.
            freed = self._freed_at(now)
            if spacing <= 0:
                self._next_at = float("-inf")
                wait = freed - now
            else:
                wait = max(min(max(now, self._next_at) - now, self.max_wait_s), freed - now)
                self._next_at = now + wait + spacing
            if wait > 0:
                self.paced += 1
                self.paced_s += wait
            return max(0.0, wait)

    def hold(self) -> float:
        """Seconds to wait, after a pacing wait, until the ledger predicts time left again.

        Requests answered during the wait may have filled the window further, so a worker
        asks again before it sends; this takes no start slot (0: send now, or no prediction).
        """
        if not self.window_s:
            return 0.0
        with self._lock:
            now = self._clock()
            wait = self._freed_at(now) - now
            if wait <= 0:
                return 0.0
            self.paced_s += wait
            return wait

    def _freed_at(self, now: float) -> float:
        """When the ledger predicts time left above zero again (``now``: already, or no
        prediction)."""
        if self._ledger is None or self._budget_s is None or not self._predicting(now):
            return now
        return min(self._ledger.below_at(now, self._budget_s), now + self.window_s)

    def __repr__(self) -> str:
        budgets = {k.split("-")[3]: round(b.remaining, 2) for k, b in self._budgets.items()}
        return f"BudgetPacer(window_s={self.window_s}, remaining={budgets}, paced={self.paced})"
