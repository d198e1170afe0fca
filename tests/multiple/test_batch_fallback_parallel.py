"""The ``$batch`` path of create_many/update_many runs its batches in parallel, within the hint."""

from __future__ import annotations

import pytest

from d365leads import DataverseClient, StaticTokenProvider
from d365leads.fake import FakeDataverse, FakeOptions


def _fake(dop_hint: int) -> FakeDataverse:
    # Leads lack the bulk messages here; each request really sleeps 200 ms so batches overlap.
    return FakeDataverse(
        options=FakeOptions(
            bulk_message_tables=("account",),
            latency_ms=200.0,
            sleep_in_process=True,
            dop_hint=dop_hint,
        )
    )


@pytest.mark.parametrize("adapter", ["in-process", "server"])
def test_batches_overlap_up_to_the_hint_and_the_report_keeps_input_order(adapter: str) -> None:
    fake = _fake(dop_hint=3)
    ids = fake.seed("lead", [{"lastname": f"L{n}"} for n in range(60)])
    missing = "00000000-0000-0000-0000-00000000dead"
    updates = [(i, {"companyname": "Par"}) for i in ids]
    updates.insert(37, (missing, {"companyname": "Par"}))

    def run(url: str) -> None:
        with DataverseClient(url, token_provider=StaticTokenProvider("t")) as client:
            result = client.records.update_many("leads", updates, chunk_size=10)
        assert result.requests["$batch"] == 7
        assert result.paths == {"$batch": 61}
        assert [o.index for o in result] == list(range(61))
        assert result.ids == [*ids[:37], missing, *ids[37:]]
        (bad,) = result.failed
        assert (bad.index, bad.status) == (37, 404)

    if adapter == "in-process":
        with fake.mock():
            run(fake.org_url)
    else:
        with fake.serve() as server:
            run(server.url)
    assert {fake.get("lead", i)["companyname"] for i in ids} == {"Par"}
    # In parallel (one after another the peak is 1), never above the hint.
    peaks = fake.protection.stats.peak_by_caller
    assert 2 <= max(peaks.values()) <= 3
    assert not fake.errors


def test_max_workers_bounds_the_batches_in_flight() -> None:
    fake = _fake(dop_hint=8)
    ids = fake.seed("lead", [{"lastname": f"L{n}"} for n in range(50)])
    with (
        fake.mock(),
        DataverseClient(fake.org_url, token_provider=StaticTokenProvider("t")) as client,
    ):
        result = client.records.update_many(
            "leads", ids, {"companyname": "Two"}, chunk_size=5, max_workers=2
        )
    assert result.ok and result.requests["$batch"] == 10
    assert fake.protection.stats.peak_concurrency == 2  # one after another it would be 1
