"""Pacing on the window ledger against the fake: a sole user is admitted at the limit, unrefused.

As in ``test_budget_pacing.py``, one worker updates leads one at a time on a manual clock that
the fake's server time and the client's waits advance, so nothing waits for real. The client
predicts when its own updates leave the window (the service's own rule for admitting), so it
neither waits for a whole-second ``Retry-After`` nor slows down before the budget is spent.
"""

from __future__ import annotations

from ._paced_run import CAPACITY, WINDOW_S, run_paced_updates


def test_a_sole_user_runs_at_its_limit_without_a_429() -> None:
    # 300 updates: 150 s, 15 windows, so the first window's free budget is a small share.
    paced = run_paced_updates(300, limit_window=WINDOW_S)
    assert paced["predicting"]
    assert paced["throttled"] == 0
    # Measured 2.02 updates/s: the steady state plus the first window's budget over 150 s.
    # The spacing on the remaining share alone gave 1.72 here, with 429s.
    assert paced["rate"] >= 0.97 * CAPACITY
    unpaced = run_paced_updates(300, limit_window=0)
    assert unpaced["throttled"] > 0
    assert paced["rate"] > unpaced["rate"]
