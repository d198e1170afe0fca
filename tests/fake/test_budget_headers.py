"""The remaining-budget headers: seconds in the published format, behind an UNCONFIRMED switch."""

from __future__ import annotations

import requests

from d365leads.fake import FakeDataverse
from d365leads.fake.core.clock import ManualClock
from d365leads.fake.core.options import FakeOptions

AUTH = {"Authorization": "Bearer budget"}
BURST = "x-ms-ratelimit-burst-remaining-xrm-requests"
TIME = "x-ms-ratelimit-time-remaining-xrm-requests"


def _send(options: FakeOptions, count: int) -> requests.Response:
    fake = FakeDataverse(options=options, clock=ManualClock(), sleep=lambda s: None)
    with fake.mock(), requests.Session() as session:
        for _ in range(count):
            response = session.get(fake.base_url + "leads", headers=AUTH)
            assert response.status_code == 200
    return response


def test_time_left_is_seconds_with_a_grouping_comma_and_requests_left_a_count() -> None:
    response = _send(FakeOptions(op_cost_ms=270), 2)
    assert response.headers[BURST] == "5998"  # 6,000 per window
    assert response.headers[TIME] == "1,199.46"  # 1,200 s less two requests of 270 ms


def test_the_switch_off_sends_neither_header() -> None:
    response = _send(FakeOptions(op_cost_ms=270, budget_headers=False), 1)
    assert BURST not in response.headers and TIME not in response.headers
    assert response.headers["x-ms-dop-hint"] == "4"
