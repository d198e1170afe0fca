"""Pacing on the window ledger against the fake: a sole user is admitted at the limit, unrefused.

As in ``test_budget_pacing.py``, one worker updates leads one at a time on a manual clock that
the fake's server time and the client's waits advance, so nothing waits for real. The client
predicts when its own updates leave the window (the service's own rule for admitting), so it
neither waits for a whole-second ``Retry-After`` nor slows down before the budget is spent.
"""

from __future__ import annotations

from typing import Any

from d365leads.auth import StaticTokenProvider
from d365leads.client import DataverseClient
from d365leads.config import Settings
from d365leads.fake import FakeDataverse
from d365leads.fake.core.clock import ManualClock
from d365leads.fake.core.options import FakeOptions

WINDOW_S = 10.0
BUDGET_MS = 5000  # 5 s of server time per 10 s window: 2 updates/s at 250 ms each
COST_MS = 250


def _run(updates: int, *, limit_window: float) -> dict[str, Any]:
    clock = ManualClock()
    options = FakeOptions(
        window_s=WINDOW_S,
        max_requests=None,
        max_exec_ms=BUDGET_MS,
        op_cost_ms=COST_MS,
        latency_ms=0,
        max_concurrency=None,
        sleep_in_process=True,
    )
    fake = FakeDataverse(options=options, clock=clock, sleep=clock.advance)
    ids = fake.seed("lead", [{"lastname": f"L{i}"} for i in range(updates)])
    settings = Settings(url=fake.org_url, limit_window=limit_window, max_retry_time=3600)
    start = clock().timestamp()
    with fake.mock():
        client = DataverseClient(
            fake.org_url,
            token_provider=StaticTokenProvider("ledger"),
            settings=settings,
            sleep=clock.advance,
            clock=lambda: clock().timestamp(),
        )
        for n, lead_id in enumerate(ids):
            client.records.update("leads", lead_id, {"companyname": f"C{n}"})
        predicting = client.session.throttle.pacer.predicting()
        client.close()
    elapsed = clock().timestamp() - start
    assert all(fake.get("lead", i)["companyname"] == f"C{n}" for n, i in enumerate(ids))
    return {
        "rate": updates / elapsed,
        "throttled": sum(fake.protection.stats.throttled.values()),
        "predicting": predicting,
    }


def test_a_sole_user_runs_at_its_limit_without_a_429() -> None:
    capacity = BUDGET_MS / 1000 / WINDOW_S / (COST_MS / 1000)
    # 300 updates: 150 s, 15 windows, so the first window's free budget is a small share.
    paced = _run(300, limit_window=WINDOW_S)
    assert paced["predicting"]
    assert paced["throttled"] == 0
    # Measured 2.02 updates/s: the steady state plus the first window's budget over 150 s.
    # The spacing on the remaining share alone gave 1.72 here, with 429s.
    assert paced["rate"] >= 0.97 * capacity
    unpaced = _run(300, limit_window=0)
    assert unpaced["throttled"] > 0
    assert paced["rate"] > unpaced["rate"]
