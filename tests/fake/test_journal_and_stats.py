"""The bounded request journal, its counters, early retries after a scripted 429, /_fake/stats."""

from __future__ import annotations

import pytest
import requests

from d365leads.fake import FakeDataverse
from d365leads.fake.core.options import FakeOptions
from d365leads.fake.pipeline.faults import FaultPlan
from d365leads.fake.pipeline.journal import RequestJournal
from d365leads.fake.pipeline.pauses import PauseWatch
from d365leads.fake.wire.messages import FakeRequest, FakeResponse

ROOT = "https://fake-org.crm.dynamics.com/api/data/v9.2/"


def _req(method: str = "GET", path: str = "leads") -> FakeRequest:
    return FakeRequest(method, ROOT + path, {"Authorization": "Bearer t"})


def test_journal_keeps_the_newest_entries_and_counts_them_all() -> None:
    journal = RequestJournal(limit=3)
    for i in range(5):
        journal.append((_req(path=f"leads?n={i}"), FakeResponse.empty(200 if i % 2 else 204)))
    assert len(journal) == 3 and journal.total == 5 and journal.dropped == 2
    assert [r.url.rsplit("=", 1)[1] for r, _ in journal] == ["2", "3", "4"]
    assert journal[-1][0].url.endswith("n=4")
    assert [r.url[-1] for r, _ in journal[1:]] == ["3", "4"]
    assert journal.counters.to_json() == {
        "total": 5,
        "by_method": {"GET": 5},
        "by_status": {"200": 2, "204": 3},
        "transport_faults": {},
    }
    journal.clear()
    assert (len(journal), journal.total) == (0, 0)
    assert journal == [] and not journal


def test_journal_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RequestJournal(limit=0)
    with pytest.raises(ValueError, match="journal_limit"):
        FakeOptions(journal_limit=0)


def test_fake_journal_is_bounded_by_the_option() -> None:
    fake = FakeDataverse(options=FakeOptions(journal_limit=4))
    fake.seed("lead", [{"lastname": "A"}])
    with fake.mock():
        for _ in range(10):
            requests.get(fake.base_url + "leads", headers={"Authorization": "Bearer t"})
    assert len(fake.journal) == 4
    assert fake.stats()["requests"]["total"] == 10
    assert fake.stats()["journal"] == {"kept": 4, "limit": 4, "dropped": 6}


def test_requests_during_a_scripted_pause_are_early_retries() -> None:
    now = [100.0]
    plan = FaultPlan(clock=lambda: now[0])
    plan.throttle_next(1, retry_after=5)

    def send() -> int:
        return plan.before(_req(), lambda r: FakeResponse.empty(204)).status

    assert send() == 429
    now[0] += 0.1  # another worker's request already on the wire: within the grace
    assert send() == 204
    assert plan.pauses.early_retries == 0
    now[0] += 2.0
    assert send() == 204
    assert plan.pauses.early_retries == 1
    assert plan.pauses.left_s() == pytest.approx(2.9)
    now[0] += 3.0  # the pause is over
    assert send() == 204
    assert plan.pauses.early_retries == 1
    plan.clear()
    assert (plan.pauses.early_retries, plan.pauses.left_s()) == (0, 0.0)


def test_pause_watch_keeps_the_longest_pause() -> None:
    now = [0.0]
    watch = PauseWatch(clock=lambda: now[0])
    watch.start(10)
    now[0] = 1.0
    watch.start(2)
    assert watch.left_s() == 9.0


def test_stats_over_the_control_plane() -> None:
    fake = FakeDataverse()
    fake.faults.throttle_next(1, retry_after=30)
    with fake.serve() as server, requests.Session() as session:
        session.headers["Authorization"] = "Bearer t"
        assert session.get(server.base_url + "leads").status_code == 429
        stats = session.get(server.url + "/_fake/stats").json()
    assert stats["requests"]["by_status"] == {"429": 1}
    assert stats["faults_fired"] == {"throttle": 1}
    assert stats["early_retries"]["total"] == 0
    assert 25 < stats["pause_left_s"] <= 30
