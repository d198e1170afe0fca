"""One worker updating leads one at a time under the fake's execution-time limit, on a manual clock.

The fake's server time is "slept" on the clock and the client's waits advance it, so nothing
waits for real. Shared by the pacing tests (budget headers, window ledger).
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
CAPACITY = BUDGET_MS / 1000 / WINDOW_S / (COST_MS / 1000)
"""Updates per second the limit admits in the steady state."""


def run_paced_updates(
    updates: int, *, limit_window: float, budget_headers: bool = True
) -> dict[str, Any]:
    """Update ``updates`` leads; the rate, the 429s and what the client's pacer did."""
    clock = ManualClock()
    options = FakeOptions(
        window_s=WINDOW_S,
        max_requests=None,
        max_exec_ms=BUDGET_MS,
        op_cost_ms=COST_MS,
        latency_ms=0,
        max_concurrency=None,
        sleep_in_process=True,
        budget_headers=budget_headers,
    )
    fake = FakeDataverse(options=options, clock=clock, sleep=clock.advance)
    ids = fake.seed("lead", [{"lastname": f"L{i}"} for i in range(updates)])
    settings = Settings(url=fake.org_url, limit_window=limit_window, max_retry_time=3600)
    start = clock().timestamp()
    with fake.mock():
        client = DataverseClient(
            fake.org_url,
            token_provider=StaticTokenProvider("pacing"),
            settings=settings,
            sleep=clock.advance,
            clock=lambda: clock().timestamp(),
        )
        for n, lead_id in enumerate(ids):
            client.records.update("leads", lead_id, {"companyname": f"C{n}"})
        pacer = client.session.throttle.pacer
        paced, predicting = pacer.paced, pacer.predicting()
        client.close()
    elapsed = clock().timestamp() - start
    assert all(fake.get("lead", i)["companyname"] == f"C{n}" for n, i in enumerate(ids))
    return {
        "rate": updates / elapsed,
        "throttled": sum(fake.protection.stats.throttled.values()),
        "paced": paced,
        "predicting": predicting,
    }
