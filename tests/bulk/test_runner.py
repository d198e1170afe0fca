"""Bulk jobs through the public API against the in-process fake, with injected faults."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from d365leads.auth import AccessToken, StaticTokenProvider
from d365leads.bulk import (
    JobSpec,
    Journal,
    RunOptions,
    Selection,
    create_bulk_job,
    plan_bulk_job,
    report_rows,
    run_bulk_job,
    write_report,
)
from d365leads.client import DataverseClient
from d365leads.errors import BulkJobError, InvalidStatusError
from d365leads.fake import FakeDataverse
from d365leads.fake.core.options import FakeOptions
from d365leads.fake.wire.messages import FakeRequest, FakeResponse, Handler

from .conftest import make_client, no_wait, seed_leads

REACTIVATABLE = Selection(filter="statecode eq 2 and statuscode eq 6")


def _batch_bodies(fake: FakeDataverse) -> list[str]:
    return [r.body.decode() for r in fake.requests("POST", "$batch")]


def _sends_per_lead(fake: FakeDataverse, ids: list[str]) -> Counter[str]:
    bodies = _batch_bodies(fake)
    return Counter({i: sum(f"leads({i})" in b for b in bodies) for i in ids})


def _start(
    fake: FakeDataverse,
    journal: Journal,
    spec: JobSpec,
    selection: Selection,
    batch_size: int = 100,
) -> tuple[object, str]:
    client = make_client(fake)
    plan = plan_bulk_job(client.session, spec, selection, batch_size=batch_size)
    return client, create_bulk_job(client.session, journal, plan, selection)


def test_reactivate_survives_storms_and_accounts_for_every_record(
    fake: FakeDataverse, journal: Journal, tmp_path: Path
) -> None:
    ids = seed_leads(fake, 400)
    open_ids = seed_leads(fake, 3, state=0, status=1)
    client = make_client(fake)
    selection = Selection(ids=tuple(ids + open_ids))
    plan = plan_bulk_job(client.session, JobSpec.reactivate(), selection, batch_size=40)
    job_id = create_bulk_job(client.session, journal, plan, selection)
    fake.faults.throttle_next(6, retry_after=2, path=r"\$batch")
    fake.faults.server_errors(3, 503, path=r"\$batch")
    fake.faults.reset_next(2, path=r"\$batch")
    fake.faults.server_errors(2, 500, path=r"\$batch")
    fake.faults.lose_response_after_commit(2, as_="reset", path=r"\$batch")
    summary = run_bulk_job(
        client.session, journal, job_id, options=RunOptions(batch_size=40, concurrency=4)
    )
    assert summary.counts == {"pending": 0, "inflight": 0, "done": 400, "failed": 0, "skipped": 3}
    assert summary.ok and summary.throttled >= 6
    assert summary.verified > 0  # lost answers, resets and 500s were re-read, not re-sent
    for lead_id in ids:
        row = fake.get("lead", lead_id)
        assert row is not None and (row["statecode"], row["statuscode"]) == (0, 1)
    rows = report_rows(journal, job_id)
    assert len(rows) == 403
    assert Counter(r.outcome for r in rows) == {"done": 400, "skipped": 3}
    done = next(r for r in rows if r.outcome == "done")
    assert (done.before, done.after) == ("Disqualified/No Longer Interested", "Open/New")
    path = write_report(tmp_path / "r.json", rows, summary=summary.to_json())
    data = json.loads(path.read_text())
    assert data["summary"]["counts"]["done"] == 400 and len(data["records"]) == 403
    assert journal.job(job_id).state == "finished"


def test_lost_answers_are_re_read_not_re_sent(fake: FakeDataverse, journal: Journal) -> None:
    ids = seed_leads(fake, 30)
    client, job_id = _start(fake, journal, JobSpec.reactivate(), REACTIVATABLE, batch_size=10)
    fake.faults.lose_response_after_commit(1, as_="timeout", path=r"\$batch")
    summary = run_bulk_job(
        client.session, journal, job_id, options=RunOptions(batch_size=10, concurrency=1)
    )
    assert summary.counts["done"] == 30
    assert summary.verified == 10
    # The batch whose answer was lost had been applied: each lead was sent exactly once.
    assert set(_sends_per_lead(fake, ids).values()) == {1}


def test_qualify_never_runs_twice_for_a_lead(fake: FakeDataverse, journal: Journal) -> None:
    ids = seed_leads(fake, 60, state=0, status=1)
    client, job_id = _start(
        fake, journal, JobSpec.qualify(), Selection(ids=tuple(ids)), batch_size=10
    )
    fake.faults.lose_response_after_commit(2, as_="timeout", path=r"\$batch")
    fake.faults.reset_next(1, path=r"\$batch")
    fake.faults.throttle_next(4, retry_after=1, path=r"\$batch")
    fake.faults.lose_response_after_commit(1, as_="504", path=r"\$batch")
    summary = run_bulk_job(
        client.session, journal, job_id, options=RunOptions(batch_size=10, concurrency=3)
    )
    assert summary.counts["done"] == 60 and summary.ok
    origins = Counter(o["originatingleadid"] for o in fake.rows("opportunity"))
    assert all(origins[i] == 1 for i in ids), origins
    assert all(fake.get("lead", i)["statecode"] == 1 for i in ids)  # type: ignore[index]


def test_parts_missing_from_an_answer_are_re_read_not_re_sent(
    fake: FakeDataverse, journal: Journal
) -> None:
    # With continue-on-error Dataverse answers every part, so an operation without an answer
    # means the answer was incomplete, not that the operation was skipped: it may be applied.
    ids = seed_leads(fake, 20, state=0, status=1)
    client, job_id = _start(
        fake, journal, JobSpec.qualify(), Selection(ids=tuple(ids)), batch_size=10
    )
    cut: list[bool] = []

    def drop_last_part(request: FakeRequest, handler: Handler) -> FakeResponse:
        response = handler(request)
        if request.path != "$batch" or cut:
            return response
        cut.append(True)
        boundary = response.headers["Content-Type"].split("boundary=")[1].strip('"')
        delimiter = b"--" + boundary.encode()
        chunks = response.body.split(delimiter)  # preamble, parts..., closing "--"
        body = delimiter.join(chunks[:-2] + chunks[-1:])
        return FakeResponse(response.status, dict(response.headers), body)

    fake.hooks.append(drop_last_part)
    summary = run_bulk_job(
        client.session, journal, job_id, options=RunOptions(batch_size=10, concurrency=1)
    )
    assert cut and summary.counts["done"] == 20 and summary.ok
    assert summary.verified == 1
    assert set(_sends_per_lead(fake, ids).values()) == {1}  # QualifyLead sent once per lead


def test_business_failures_are_recorded_and_the_job_goes_on(
    fake: FakeDataverse, journal: Journal
) -> None:
    ids = seed_leads(fake, 20)
    client, job_id = _start(fake, journal, JobSpec.reactivate(), REACTIVATABLE, batch_size=100)
    gone = ids[:3]
    for lead_id in gone:  # deleted after planning: the job meets "record gone"
        client.records.delete("leads", lead_id)
    summary = run_bulk_job(client.session, journal, job_id)
    assert summary.counts["done"] == 17 and summary.counts["failed"] == 3
    assert not summary.ok
    failed = {r.id: r for r in report_rows(journal, job_id) if r.outcome == "failed"}
    assert set(failed) == set(gone)
    assert {r.error_code for r in failed.values()} == {"0x80040217"}
    assert all("Does Not Exist" in r.message for r in failed.values())


def test_unknown_status_reason_is_refused_before_any_write(fake: FakeDataverse) -> None:
    seed_leads(fake, 5, state=0, status=1)
    client = make_client(fake)
    with pytest.raises(InvalidStatusError, match="99 is not a status reason of lead"):
        plan_bulk_job(client.session, JobSpec.disqualify(99), Selection(filter="statecode eq 0"))
    assert not fake.requests("POST")


def test_tenant_defined_reason_from_org_metadata(journal: Journal) -> None:
    fake = FakeDataverse(options=FakeOptions(custom_status_reasons=(("lead", 100, "Budget", 2),)))
    with fake.mock():
        ids = seed_leads(fake, 4, state=0, status=1)
        client, job_id = _start(fake, journal, JobSpec.disqualify(100), Selection(ids=tuple(ids)))
        summary = run_bulk_job(client.session, journal, job_id)  # type: ignore[attr-defined]
    assert summary.counts["done"] == 4
    assert {fake.get("lead", i)["statuscode"] for i in ids} == {100}  # type: ignore[index]


def test_write_time_refusals_are_recorded_with_dataverse_code(journal: Journal) -> None:
    fake = FakeDataverse(options=FakeOptions(disqualify_requires_no_open_opportunity=True))
    with fake.mock():
        ids = seed_leads(fake, 6, state=0, status=1)
        account = fake.seed("account", [{"name": "Contoso"}])[0]
        fake.seed(
            "opportunity",
            [
                {
                    "name": "Deal",
                    "originatingleadid": i,
                    "customerid": account,
                    "customeridtype": "account",
                }
                for i in ids[:2]
            ],
        )
        client, job_id = _start(fake, journal, JobSpec.disqualify(4), Selection(ids=tuple(ids)))
        summary = run_bulk_job(client.session, journal, job_id)  # type: ignore[attr-defined]
    assert summary.counts["done"] == 4 and summary.counts["failed"] == 2
    failed = [r for r in report_rows(journal, job_id) if r.outcome == "failed"]
    assert {r.id for r in failed} == set(ids[:2])
    assert {r.error_code for r in failed} == {"0x80040203"}
    assert all("no open opportunity" in r.message for r in failed)
    assert all(r.after == "Open/New" for r in failed)


def test_batch_size_halves_on_429_and_grows_when_calm(
    fake: FakeDataverse, journal: Journal
) -> None:
    seed_leads(fake, 700)
    client, job_id = _start(fake, journal, JobSpec.reactivate(), REACTIVATABLE)
    fake.faults.throttle_next(1, retry_after=1, path=r"\$batch")
    run_bulk_job(
        client.session,
        journal,
        job_id,
        options=RunOptions(batch_size=100, concurrency=1, calm_batches=1),
    )
    sizes = [b.count("PATCH ") for b in _batch_bodies(fake)]
    # The throttled batch goes back to the queue (the session does not resend it); the size is
    # cut to three quarters, then grows by a tenth of the starting size per calm batch.
    assert sizes[:4] == [100, 75, 85, 95]


def test_workers_follow_the_dop_hint_capped_by_concurrency(
    fake: FakeDataverse, journal: Journal
) -> None:
    seed_leads(fake, 50)
    fake.options.dop_hint = 3
    client, job_id = _start(fake, journal, JobSpec.reactivate(), REACTIVATABLE, batch_size=5)
    summary = run_bulk_job(
        client.session, journal, job_id, options=RunOptions(batch_size=5, min_batch_size=5)
    )
    assert summary.workers == 3
    seed_leads(fake, 10)
    client, job_id = _start(fake, journal, JobSpec.reactivate(), REACTIVATABLE, batch_size=5)
    summary = run_bulk_job(
        client.session, journal, job_id, options=RunOptions(batch_size=5, concurrency=2)
    )
    assert summary.workers == 2


class RotatingTokens:
    """A provider whose tokens expire after a few requests; expired ones are refused."""

    def __init__(self, fake: FakeDataverse, lifetime: int = 7) -> None:
        self.fake = fake
        self.lifetime = lifetime
        self.calls = 0
        self.issued: list[str] = []
        self._current = ""
        self._new()

    def _new(self) -> None:
        self.fake.accepted_tokens.discard(self._current)
        self._current = f"token-{len(self.issued)}"
        self.issued.append(self._current)
        self.fake.accepted_tokens.add(self._current)

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        self.calls += 1
        if force_refresh or self.calls % self.lifetime == 0:
            self._new()
        return AccessToken(self._current, float("inf"))


def test_tokens_refresh_mid_job(fake: FakeDataverse, journal: Journal) -> None:
    seed_leads(fake, 200)
    fake.options.strict_auth = True
    provider = RotatingTokens(fake, lifetime=3)
    client = make_client(fake, provider)
    plan = plan_bulk_job(client.session, JobSpec.reactivate(), REACTIVATABLE, batch_size=5)
    job_id = create_bulk_job(client.session, journal, plan, REACTIVATABLE)
    summary = run_bulk_job(
        client.session, journal, job_id, options=RunOptions(batch_size=5, concurrency=2)
    )
    assert summary.counts["done"] == 200
    assert len(provider.issued) > 5
    used = {r.header("Authorization") for r in fake.requests("POST", "$batch")}
    assert len(used) > 5


def test_resume_refuses_another_org(fake: FakeDataverse, journal: Journal) -> None:
    seed_leads(fake, 2)
    _client, job_id = _start(fake, journal, JobSpec.reactivate(), REACTIVATABLE)
    other = FakeDataverse("https://other-org.crm.dynamics.com")
    with other.mock(), pytest.raises(BulkJobError, match="resume it against the same org"):
        run_bulk_job(make_client(other).session, journal, job_id)


def test_qualify_storms_against_the_http_server(journal: Journal) -> None:
    fake = FakeDataverse(options=FakeOptions(dop_hint=4))
    ids = seed_leads(fake, 120, state=0, status=1)
    with fake.serve() as server:
        client = DataverseClient(
            server.url, token_provider=StaticTokenProvider("srv"), sleep=no_wait
        )
        selection = Selection(ids=tuple(ids))
        plan = plan_bulk_job(client.session, JobSpec.qualify(), selection, batch_size=10)
        job_id = create_bulk_job(client.session, journal, plan, selection)
        fake.faults.throttle_next(5, retry_after=1, path=r"\$batch")
        fake.faults.server_errors(3, 502, path=r"\$batch")
        fake.faults.reset_next(2, path=r"\$batch")
        fake.faults.lose_response_after_commit(2, as_="reset", path=r"\$batch")
        fake.faults.lose_response_after_commit(1, as_="504", path=r"\$batch")
        summary = run_bulk_job(
            client.session, journal, job_id, options=RunOptions(batch_size=10, concurrency=4)
        )
        client.close()
    assert not fake.errors
    assert summary.counts["done"] == 120 and summary.ok
    assert summary.verified >= 30  # 3 lost answers + 502s and resets were re-read
    origins = Counter(o["originatingleadid"] for o in fake.rows("opportunity"))
    assert len(origins) == 120 and set(origins.values()) == {1}
    assert {r.outcome for r in report_rows(journal, job_id)} == {"done"}


def test_large_id_lists_are_read_with_batched_gets(fake: FakeDataverse) -> None:
    ids = seed_leads(fake, 1030)
    missing = "00000000-0000-0000-0000-00000000beef"
    client = make_client(fake)
    selection = Selection(ids=(*ids, missing))
    plan = plan_bulk_job(client.session, JobSpec.reactivate(), selection)
    assert len(plan.to_write) == 1030 and plan.skipped == {"not found": 1}
    reads = [r for r in fake.requests() if "leads" in r.path or "$batch" in r.path]
    assert len(fake.requests("POST", "$batch")) == 2  # 21 GETs of up to 50 ids
    assert len(reads) == 2


def test_lead_closed_by_someone_else_counts_as_done(fake: FakeDataverse, journal: Journal) -> None:
    ids = seed_leads(fake, 5, state=0, status=1)
    client, job_id = _start(fake, journal, JobSpec.qualify(), Selection(ids=tuple(ids)))
    other = make_client(fake).batch()  # another user qualifies one lead meanwhile
    other.post(
        f"leads({ids[2]})/Microsoft.Dynamics.CRM.QualifyLead",
        {"CreateAccount": True, "CreateContact": True, "CreateOpportunity": True, "Status": 3},
    )
    assert other.execute().ok
    summary = run_bulk_job(client.session, journal, job_id)  # type: ignore[attr-defined]
    assert summary.counts["done"] == 5 and summary.ok
    origins = Counter(o["originatingleadid"] for o in fake.rows("opportunity"))
    assert set(origins.values()) == {1} and len(origins) == 5
