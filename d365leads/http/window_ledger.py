"""An identity's own server time over the service-protection window, to predict when it frees.

Dataverse counts the combined execution time of a user's requests over a sliding window
(https://learn.microsoft.com/power-apps/developer/data-platform/api-limits): a request's cost
stays in the window for one window length after it ran, then gives its share of the budget
back. The ledger keeps, for each request this client saw completed, when it completed and how
long it took (an upper bound of the server time it was charged), so the pacer can tell how much
of the budget its own past work holds now and when that work leaves the window.
"""

from __future__ import annotations

from collections import deque

__all__ = ["WindowLedger"]


class WindowLedger:
    """Completed requests of one identity within the last ``window_s`` seconds (not locked:
    the pacer that owns it holds its lock)."""

    def __init__(self, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be more than 0, got {window_s}")
        self.window_s = window_s
        self._entries: deque[tuple[float, float]] = deque()
        self._total = 0.0

    def __repr__(self) -> str:
        return f"WindowLedger(window_s={self.window_s}, entries={len(self._entries)})"

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, at: float, cost_s: float) -> None:
        """A request completed at clock time ``at`` costing ``cost_s`` seconds of server time."""
        self.prune(at)
        cost = max(0.0, cost_s)
        if self._entries and at < self._entries[-1][0]:
            at = self._entries[-1][0]  # keep the entries in order: a late reading is not older
        self._entries.append((at, cost))
        self._total += cost

    def prune(self, now: float) -> None:
        """Forget the requests that have left the window by ``now``."""
        horizon = now - self.window_s
        while self._entries and self._entries[0][0] <= horizon:
            self._total -= self._entries.popleft()[1]
        if not self._entries:
            self._total = 0.0  # no drift from float sums

    def held(self, now: float) -> float:
        """Seconds of server time the identity's own requests hold in the window at ``now``."""
        self.prune(now)
        return max(0.0, self._total)

    def below_at(self, now: float, budget: float) -> float:
        """The earliest clock time from ``now`` on at which the own time held is below ``budget``.

        ``now`` when it already is; otherwise when the oldest requests that must leave the
        window for it have left.
        """
        held = self.held(now)
        if held < budget:
            return now
        for at, cost in self._entries:
            held -= cost
            if held < budget:
                return at + self.window_s
        return self._entries[-1][0] + self.window_s if self._entries else now
