"""A job selected by a view or FetchXML is journalled before the view is run (issue 16)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from d365leads.bulk import JobSpec, Journal, Selection, plan_bulk_job
from d365leads.errors import InvalidInputError
from d365leads.fake import FakeDataverse, FakeServer
from d365leads.fake.core.options import FakeOptions

from .conftest import make_client, seed_leads
from .processes import cli_env, serve_fake
from .test_resume_while_selecting import _job_states
from .test_view_selection import TARGET_XML

N = 40


@pytest.fixture
def served() -> Iterator[tuple[FakeDataverse, FakeServer]]:
    yield from serve_fake(FakeOptions(dop_hint=2))


@pytest.mark.slow
def test_kill_while_the_view_is_read_then_resume_last(
    served: tuple[FakeDataverse, FakeServer], tmp_path: Path
) -> None:
    fake, server = served
    ids = seed_leads(fake, N, state=0, status=1, companyname="Target Co")
    others = seed_leads(fake, 5, state=0, status=1, companyname="Other Co")
    fake.seed(
        "userquery",
        {"name": "Targets", "returnedtypecode": "lead", "querytype": 0, "fetchxml": TARGET_XML},
    )
    # The view's first page is throttled for a minute: the process is killed while it waits.
    fake.faults.throttle_next(1, retry_after=60, method="GET", path=r"^leads$")
    journal = tmp_path / "jobs.sqlite"
    base = [sys.executable, "-m", "d365leads", "--url", server.url, "bulk", "update"]
    proc = subprocess.Popen(
        [
            *base,
            "--view",
            "Targets",
            "--set",
            "jobtitle=Picked",
            "--yes",
            "--journal",
            str(journal),
        ],
        env=cli_env(tmp_path, "t"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not fake.faults.fired and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake.faults.fired, "the view was never run"
        assert _job_states(journal) == [("selecting", 0)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    done = subprocess.run(
        [*base, "--resume-last", "--yes", "--journal", str(journal)],
        env=cli_env(tmp_path, "t"),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert _job_states(journal) == [("finished", N)]
    assert all(fake.get("lead", i)["jobtitle"] == "Picked" for i in ids)  # type: ignore[index]
    assert all(fake.get("lead", i).get("jobtitle") is None for i in others)  # type: ignore[union-attr]


def test_a_fetchxml_selection_is_stored_as_a_query_and_run_when_planned(
    fake: FakeDataverse, tmp_path: Path
) -> None:
    client = make_client(fake)
    targets = seed_leads(fake, 3, state=0, status=1, companyname="Target Co")
    seed_leads(fake, 2, state=0, status=1, companyname="Other Co")
    selection = Selection(fetchxml=TARGET_XML, description="targets")
    spec = JobSpec.disqualify(4)
    with Journal(tmp_path / "j.sqlite") as journal:
        job_id = journal.open_job(client.session.org_url, spec, selection)
        assert fake.requests("GET", "leads") == []  # journalled before a lead was read
        assert journal.job(job_id).selection == selection
        plan = plan_bulk_job(client.session, spec, journal.job(job_id).selection)
    assert sorted(i.lead_id for i in plan.items) == sorted(targets)
    empty = Selection(fetchxml=TARGET_XML.replace("Target", "Nobody"), description="nobody")
    with pytest.raises(InvalidInputError, match="nobody returns no leads"):
        plan_bulk_job(client.session, spec, empty)
    with pytest.raises(InvalidInputError, match="a bulk job selects leads"):
        plan_bulk_job(
            client.session, spec, Selection(fetchxml="<fetch><entity name='account'/></fetch>")
        )
