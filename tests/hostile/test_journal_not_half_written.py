"""A bulk job whose $batch answer is endless or trickling: stopped or verified, never resent.

The fake applies each batch for real before the hostile answer starts, as when a proxy breaks
the answer of a write that went through. The journal then holds the items as in flight, and
the runner (or a resume) re-reads them instead of sending the writes again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from d365leads import LeadStatus, RequestDeadlineError, ResponseTooLargeError
from d365leads.bulk import (
    JobSpec,
    Journal,
    Selection,
    create_bulk_job,
    plan_bulk_job,
    run_bulk_job,
)

from .conftest import DEADLINE, TICK, ClientFactory
from .hostile_server import Answer, HostileServer, Received, Wire

BATCH = r"^\$batch"


def applied_then_endless(server: HostileServer) -> Answer:
    def answer(request: Received, wire: Wire) -> None:
        server.ask_fake(request)
        headers = {
            "Content-Type": "multipart/mixed; boundary=batchresponse_x",
            "Transfer-Encoding": "chunked",
        }
        if not wire.head(200, headers):
            return
        block = b"--batchresponse_x\r\n" * 3000
        frame = f"{len(block):x}\r\n".encode() + block + b"\r\n"
        for _ in range(100_000):
            if not wire.write(frame):
                return

    return answer


def applied_then_trickle(server: HostileServer) -> Answer:
    def answer(request: Received, wire: Wire) -> None:
        status, headers, body = server.ask_fake(request)
        if not wire.head(status, {**headers, "Content-Length": str(len(body))}):
            return
        for byte in body:
            if not wire.pause(0.02) or not wire.write(bytes([byte])):
                return
            wire.tick(TICK)

    return answer


@pytest.fixture
def reactivation(server: HostileServer) -> list[str]:
    assert server.fake is not None
    rows = [
        {"subject": f"L{n}", "lastname": f"N{n}", "statecode": 2, "statuscode": 6}
        for n in range(10)
    ]
    return server.fake.seed("lead", rows)


def batches(server: HostileServer) -> int:
    return sum(1 for r in server.received if "$batch" in r.target)


def test_an_endless_batch_answer_stops_the_job_and_resume_verifies_without_resending(
    server: HostileServer, make_client: ClientFactory, tmp_path: Path, reactivation: list[str]
) -> None:
    server.route("POST", BATCH, applied_then_endless(server))
    client = make_client(max_response_mb=1)
    selection = Selection(filter="statecode eq 2")
    plan = plan_bulk_job(client.session, JobSpec.reactivate(LeadStatus.NEW), selection)
    with Journal(tmp_path / "jobs.sqlite") as journal:
        job = create_bulk_job(client.session, journal, plan, selection)
        with pytest.raises(ResponseTooLargeError):
            run_bulk_job(client.session, journal, job)
        assert batches(server) == 1
        summary = run_bulk_job(client.session, journal, job)
    assert summary.counts["done"] == 10 and summary.verified == 10
    assert batches(server) == 1  # the resume re-read the leads; nothing was sent twice
    assert server.fake is not None
    assert all(row["statecode"] == 0 for row in server.fake.rows("lead"))


def test_a_trickling_batch_answer_is_verified_by_reading_not_resending(
    server: HostileServer, make_client: ClientFactory, tmp_path: Path, reactivation: list[str]
) -> None:
    server.route("POST", BATCH, applied_then_trickle(server))
    # Honest reads and writes get DEADLINE on a loaded machine; the trickle runs it out.
    client = make_client(request_deadline=DEADLINE)
    selection = Selection(filter="statecode eq 2")
    plan = plan_bulk_job(client.session, JobSpec.reactivate(LeadStatus.NEW), selection)
    with Journal(tmp_path / "jobs.sqlite") as journal:
        job = create_bulk_job(client.session, journal, plan, selection)
        summary = run_bulk_job(client.session, journal, job)
    assert summary.counts["done"] == 10 and summary.verified == 10
    assert summary.errors == {RequestDeadlineError.__name__: 1}
    assert batches(server) == 1
