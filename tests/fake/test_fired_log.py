"""The bounded record of fired faults: a ring of the newest, exact counts of all."""

from __future__ import annotations

import pytest
import requests

from d365leads.fake import FakeDataverse
from d365leads.fake.core.options import FakeOptions
from d365leads.fake.pipeline.faults import FaultPlan
from d365leads.fake.pipeline.fired import FiredFault, FiredLog

ROOT = "https://fake-org.crm.dynamics.com/api/data/v9.2/"


def test_the_log_keeps_the_newest_records_and_counts_them_all() -> None:
    log = FiredLog(limit=3)
    for i in range(5):
        log.append(FiredFault("5xx" if i % 2 else "reset", "GET", f"{ROOT}leads?n={i}"))
    assert len(log) == 3 and log.total == 5 and log.dropped == 2
    assert [f.url[-1] for f in log] == ["2", "3", "4"]
    assert log[-1].kind == "reset" and [f.kind for f in log[:2]] == ["reset", "5xx"]
    assert log.counts() == {"reset": 3, "5xx": 2}
    log.clear()
    assert log == [] and not log and log.total == 0 and log.counts() == {}


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FiredLog(limit=0)
    with pytest.raises(ValueError, match="fired_limit"):
        FakeOptions(fired_limit=0)
    assert FiredLog(limit=None).limit is None


def test_a_long_run_keeps_memory_bounded_and_stats_exact() -> None:
    fake = FakeDataverse(options=FakeOptions(fired_limit=5))
    fake.faults.fail_randomly(1.0, seed=3, kinds=("5xx",))
    with fake.mock():
        for _ in range(40):
            requests.get(ROOT + "leads", headers={"Authorization": "Bearer t"})
    assert len(fake.faults.fired) == 5
    stats = fake.stats()
    assert stats["faults_fired"] == {"5xx": 40}
    assert stats["faults_log"] == {"kept": 5, "limit": 5, "dropped": 35}


def test_a_plan_built_alone_is_bounded_by_default() -> None:
    plan = FaultPlan()
    assert plan.fired.limit == FakeOptions().fired_limit == 1_000
