"""One bulk job run by several identities: independent throttling, dealing by admitted rate."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from d365leads.auth import StaticTokenProvider
from d365leads.bulk import JobSpec, Journal, RunOptions, Selection, create_bulk_job, plan_bulk_job
from d365leads.bulk.identities import Identity, run_bulk_job_as
from d365leads.cli.app import cli
from d365leads.client import DataverseClient
from d365leads.config import Settings
from d365leads.errors import BulkJobError
from d365leads.fake import FakeDataverse, ManualClock
from d365leads.fake.core.options import FakeOptions

from .conftest import seed_leads

REACTIVATABLE = Selection(filter="statecode eq 2 and statuscode eq 6")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@dataclass
class Served:
    """The fake and the org URL a client uses to reach it (in-process mock, or HTTP server)."""

    fake: FakeDataverse
    url: str


@pytest.fixture(params=["in-process", "server"])
def served(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[Served]:
    # 30 requests per caller per minute: enough for one identity's share of the jobs below.
    fake = FakeDataverse(
        options=FakeOptions(dop_hint=2, max_requests=30, window_s=60.0), clock=clock
    )
    if request.param == "in-process":
        with fake.mock():
            yield Served(fake, fake.org_url)
    else:
        with fake.serve() as server:
            yield Served(fake, server.url)
    assert not fake.errors, fake.errors


@pytest.fixture
def limited(served: Served) -> FakeDataverse:
    return served.fake


@pytest.fixture
def mocked(clock: ManualClock) -> Iterator[Served]:
    """In-process only: the app sign-ins go to the fake's login endpoint, which the mock serves."""
    fake = FakeDataverse(
        options=FakeOptions(dop_hint=2, max_requests=30, window_s=60.0), clock=clock
    )
    with fake.mock():
        yield Served(fake, fake.org_url)
    assert not fake.errors, fake.errors


def _client(
    fake: FakeDataverse | Served,
    token: str,
    clock: ManualClock,
    sleep: Callable[[float], None] | None = None,
) -> DataverseClient:
    # Waiting out a Retry-After moves the fake's clock instead of the test's. These tests are
    # about 429 pauses, so the budget-header pacing (tests/client/test_budget_pacing.py) is off:
    # _pause_until's real-time wait would otherwise also hold each paced request.
    url = fake.url if isinstance(fake, Served) else fake.org_url
    return DataverseClient(
        url,
        token_provider=StaticTokenProvider(token),
        sleep=sleep or clock.advance,
        keep_affinity=False,
        settings=Settings(url=url, limit_window=0),
    )


def _pause_until(fake: FakeDataverse, clock: ManualClock, batches: int) -> Callable[[float], None]:
    """A sleep whose pause lasts, in real time, until ``batches`` batches reached the fake.

    It stands for a Retry-After that takes a while: the other identities keep working during it.
    """

    def sleep(seconds: float) -> None:
        deadline = time.monotonic() + 10
        while len(fake.requests("POST", "$batch")) < batches and time.monotonic() < deadline:
            time.sleep(0.005)
        clock.advance(seconds)

    return sleep


def test_a_throttled_identity_pauses_alone_and_the_other_takes_the_work(
    served: Served, limited: FakeDataverse, clock: ManualClock, tmp_path: Path
) -> None:
    ids = seed_leads(limited, 200)
    slow = _client(served, "token-slow", clock, _pause_until(limited, clock, 12))
    fast = _client(served, "token-fast", clock)
    # The slow identity has used up its window before the job starts.
    limited.protection.reset()
    for _ in range(30):
        slow.session.get_json("WhoAmI")
    with Journal(tmp_path / "jobs.sqlite") as journal:
        plan = plan_bulk_job(fast.session, JobSpec.reactivate(), REACTIVATABLE, batch_size=10)
        job_id = create_bulk_job(fast.session, journal, plan, REACTIVATABLE)
        fast_before = fast.session.throttle.snapshot()
        result = run_bulk_job_as(
            [Identity("slow", slow.session), Identity("fast", fast.session)],
            journal,
            job_id,
            options=RunOptions(batch_size=10, max_batch_size=10, min_batch_size=5),
        )
        by_identity = journal.counts_by_identity(job_id)
        assert journal.job(job_id).state == "finished"
    assert result.ok and result.counts["done"] == 200
    assert all(limited.get("lead", i)["statecode"] == 0 for i in ids)
    # Only the slow identity was refused and paused; the fast one never waited.
    assert result.by_identity["slow"].throttled >= 1
    assert slow.session.throttle.throttled >= 1
    assert fast.session.throttle.throttled == fast_before.throttled == 0
    assert fast.session.throttle.waited_s == 0
    # Work went by admitted rate: the fast identity took most of it.
    assert sum(result.dealt.values()) == 200
    assert result.dealt["fast"] > result.dealt["slow"]
    assert sum(c["done"] for c in by_identity.values()) == 200
    assert by_identity["fast"]["done"] > by_identity.get("slow", {"done": 0})["done"]
    json_form = result.to_json()
    assert set(json_form["identities"]) == {"slow", "fast"}


def test_identities_with_equal_limits_share_the_job(
    served: Served, limited: FakeDataverse, clock: ManualClock, tmp_path: Path
) -> None:
    ids = seed_leads(limited, 300)
    clients = [_client(served, f"token-{n}", clock) for n in range(3)]
    with Journal(tmp_path / "jobs.sqlite") as journal:
        plan = plan_bulk_job(clients[0].session, JobSpec.reactivate(), REACTIVATABLE)
        job_id = create_bulk_job(clients[0].session, journal, plan, REACTIVATABLE)
        result = run_bulk_job_as(
            [Identity(f"app-{n}", c.session) for n, c in enumerate(clients)],
            journal,
            job_id,
            options=RunOptions(batch_size=10, max_batch_size=10, min_batch_size=5),
        )
        rows = journal.items(job_id)
    assert result.ok and result.counts["done"] == 300
    assert all(limited.get("lead", i)["statecode"] == 0 for i in ids)
    assert sum(result.dealt.values()) == 300
    assert {r.status for r in rows} == {"done"}


def test_identity_names_must_be_unique(
    served: Served, limited: FakeDataverse, clock: ManualClock, tmp_path: Path
) -> None:
    client = _client(served, "token", clock)
    with Journal(tmp_path / "jobs.sqlite") as journal, pytest.raises(BulkJobError, match="unique"):
        run_bulk_job_as(
            [Identity("a", client.session), Identity("a", client.session)], journal, "x"
        )
    with pytest.raises(BulkJobError, match="at least one"):
        run_bulk_job_as([], Journal(tmp_path / "j2.sqlite"), "x")


def test_cli_runs_one_job_as_two_app_registrations(mocked: Served, tmp_path: Path) -> None:
    served, limited = mocked, mocked.fake
    ids = seed_leads(limited, 60)
    journal = tmp_path / "jobs.sqlite"
    env = {
        "D365_URL": served.url,
        "D365LEADS_CONFIG_DIR": str(tmp_path / "config"),
        "D365_PROFILE": "",
        "AZURE_TENANT_ID": "11111111-2222-3333-4444-555555555555",
        "APP1_SECRET": "s3cret-one",
        "APP2_SECRET": "s3cret-two",
    }
    app1, app2 = "aaaaaaaa-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000002"
    args = [
        "-o", "json", "bulk", "reactivate", "--reason", "no-longer-interested", "--yes",
        "--batch-size", "10", "--journal", str(journal),
        "--identity", f"{app1}=env:APP1_SECRET", "--identity", f"{app2}=env:APP2_SECRET",
        "--report", str(tmp_path / "report.json"),
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert all(limited.get("lead", i)["statecode"] == 0 for i in ids)
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["summary"]["identities"]) == {app1, app2}
    listed = CliRunner().invoke(
        cli, ["-o", "json", "bulk", "jobs", "--journal", str(journal)], env=env
    )
    assert listed.exit_code == 0, listed.output
    (job,) = json.loads(listed.stdout)
    assert job["done"] == 60 and job["state"] == "finished"
    assert app1 in job["by_identity"] or app2 in job["by_identity"]
    # Each app registration signed in for itself: two distinct callers reached the fake.
    tokens = {r.header("Authorization") for r in limited.requests()}
    assert len(tokens) == 2


def test_cli_identity_with_a_missing_secret_fails_clearly(mocked: Served, tmp_path: Path) -> None:
    served, limited = mocked, mocked.fake
    seed_leads(limited, 2)
    env = {
        "D365_URL": served.url,
        "D365LEADS_CONFIG_DIR": str(tmp_path / "c"),
        "D365_PROFILE": "",
    }
    result = CliRunner().invoke(
        cli,
        ["bulk", "reactivate", "--reason", "lost", "--yes", "--journal", str(tmp_path / "j.sqlite"),
         "--identity", "abc=env:NOPE"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "NOPE" in result.output and "not set" in result.output
    bad = CliRunner().invoke(
        cli,
        ["bulk", "reactivate", "--reason", "lost", "--yes", "--identity", "abc=secret:x"],
        env=env,
    )
    assert bad.exit_code == 2 and "CLIENT_ID=env:VAR" in bad.output
