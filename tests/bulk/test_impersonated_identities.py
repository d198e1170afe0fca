"""One app registration acting as several users (``CallerObjectId``), in the client and the CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from d365leads.auth import StaticTokenProvider
from d365leads.bulk import JobSpec, Journal, RunOptions, Selection, create_bulk_job, plan_bulk_job
from d365leads.bulk.identities import Identity, run_bulk_job_as
from d365leads.cli.app import cli
from d365leads.cli.errors import UsageProblem
from d365leads.cli.identities import parse_identity
from d365leads.client import DataverseClient
from d365leads.errors import BulkJobError
from d365leads.fake import FakeDataverse, ManualClock
from d365leads.fake.core.options import FakeOptions
from d365leads.http import Caller

from .conftest import seed_leads

REACTIVATABLE = Selection(filter="statecode eq 2 and statuscode eq 6")


@dataclass
class Org:
    fake: FakeDataverse
    url: str
    clock: ManualClock
    users: dict[str, tuple[str, str]]  # name -> (systemuserid, Entra object id)

    def client(self) -> DataverseClient:
        # Waiting out a Retry-After moves the fake's clock instead of the test's.
        return DataverseClient(
            self.url,
            token_provider=StaticTokenProvider("one-app"),
            sleep=self.clock.advance,
            keep_affinity=False,
        )


def _org(fake: FakeDataverse, clock: ManualClock, url: str) -> Org:
    oids = {name: str(uuid.uuid4()) for name in ("ana", "ben")}
    ids = fake.seed(
        "systemuser",
        [{"fullname": n, "azureactivedirectoryobjectid": oid} for n, oid in oids.items()],
    )
    users = {name: (uid, oids[name]) for name, uid in zip(oids, ids, strict=True)}
    return Org(fake, url, clock, users)


@pytest.fixture(params=["in-process", "server"])
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _serve(adapter: str, spreads: bool, latency_ms: float = 0.0) -> Iterator[Org]:
    clock = ManualClock()
    fake = FakeDataverse(
        options=FakeOptions(
            dop_hint=2,
            max_requests=30,
            window_s=60.0,
            impersonation_spreads_limits=spreads,
            latency_ms=latency_ms,
            sleep_in_process=latency_ms > 0,
        ),
        clock=clock,
    )
    if adapter == "in-process":
        with fake.mock():
            yield _org(fake, clock, fake.org_url)
    else:
        with fake.serve() as server:
            yield _org(fake, clock, server.url)
    assert not fake.errors, fake.errors


@pytest.mark.parametrize("spreads", [True, False], ids=["spreads", "shares"])
def test_impersonated_callers_throttle_apart_only_when_the_switch_spreads_limits(
    adapter: str, spreads: bool
) -> None:
    for org in _serve(adapter, spreads):
        client = org.client()
        ana = Identity("ana", client.session, caller_object_id=org.users["ana"][1])
        ben = Identity("ben", client.session, caller_object_id=org.users["ben"][1])
        assert (
            ana.session is not client.session and ana.session.throttle is not ben.session.throttle
        )
        # Ana uses up a window's worth of requests.
        for _ in range(30):
            assert ana.session.get_json("WhoAmI")["UserId"] == org.users["ana"][0]
        who = ben.session.get_json("WhoAmI")
        assert who["UserId"] == org.users["ben"][0]
        # With the switch on Ben has limits of his own; off, he waits out Ana's budget.
        assert ben.session.throttle.throttled == (0 if spreads else 1)
        assert ana.session.throttle.throttled == 0
        sent = org.fake.requests("GET", "WhoAmI")[-1]
        assert sent.header("CallerObjectId") == org.users["ben"][1]
        assert client.session.get_json("WhoAmI")["UserId"] == org.fake.default_caller_id
        client.close()


def test_a_job_run_as_two_impersonated_users_writes_as_each(adapter: str, tmp_path: Path) -> None:
    for org in _serve(adapter, spreads=True):
        ids = seed_leads(org.fake, 100)
        client = org.client()
        identities = [
            Identity("ana", client.session, caller_object_id=org.users["ana"][1]),
            Identity("ben", client.session, caller_systemuser_id=org.users["ben"][0]),
        ]
        with Journal(tmp_path / f"{adapter}.sqlite") as journal:
            plan = plan_bulk_job(client.session, JobSpec.reactivate(), REACTIVATABLE)
            job_id = create_bulk_job(client.session, journal, plan, REACTIVATABLE)
            result = run_bulk_job_as(
                identities, journal, job_id, options=RunOptions(batch_size=10, max_batch_size=10)
            )
        assert result.ok and result.counts["done"] == 100
        assert all(org.fake.get("lead", i)["statecode"] == 0 for i in ids)
        batches = org.fake.requests("POST", "$batch")
        assert {b.header("CallerObjectId") for b in batches} >= {org.users["ana"][1]}
        assert {b.header("MSCRMCallerID") for b in batches} >= {org.users["ben"][0]}
        client.close()


def test_an_identity_names_one_caller() -> None:
    client = DataverseClient("https://org.example.com", token_provider=StaticTokenProvider("t"))
    with pytest.raises(BulkJobError, match="not both"):
        Identity(
            "x",
            client.session,
            caller_object_id=str(uuid.uuid4()),
            caller_systemuser_id=str(uuid.uuid4()),
        )
    with pytest.raises(BulkJobError, match="caller object id"):
        Identity("x", client.session, caller_object_id="ana")
    oid = uuid.uuid4()
    assert Caller(object_id=str(oid).upper()).header == ("CallerObjectId", str(oid))
    assert Caller(systemuser_id=str(oid)).header == ("MSCRMCallerID", str(oid))
    client.close()


def test_identity_option_parses_the_caller_suffix() -> None:
    oid = str(uuid.uuid4())
    spec = parse_identity(f"app1=env:APP1_SECRET@caller={oid.upper()}")
    assert (spec.name, spec.client_id, spec.secret_env) == (f"app1@{oid}", "app1", "APP1_SECRET")
    assert (spec.caller_object_id, spec.caller_systemuser_id) == (oid, None)
    spec = parse_identity(f"sales@systemuser={oid}")
    assert (spec.profile, spec.caller_systemuser_id) == ("sales", oid)
    # An @ that names no caller belongs to the profile name.
    assert parse_identity("me@contoso.com").profile == "me@contoso.com"
    with pytest.raises(UsageProblem, match="caller"):
        parse_identity("app1=env:S@caller=not-a-guid")
    with pytest.raises(UsageProblem, match="needs a value"):
        parse_identity(f"@caller={oid}")


def test_cli_runs_one_app_registration_as_two_users(tmp_path: Path) -> None:
    # Work goes to whichever identity asks first; 50 ms per request and 12 chunks keep the first
    # identity busy long enough that the second always gets some, however loaded the machine.
    for org in _serve("in-process", spreads=True, latency_ms=50):
        ids = seed_leads(org.fake, 60)
        journal = tmp_path / "jobs.sqlite"
        env = {
            "D365_URL": org.url,
            "D365LEADS_CONFIG_DIR": str(tmp_path / "config"),
            "D365_PROFILE": "",
            "AZURE_TENANT_ID": "11111111-2222-3333-4444-555555555555",
            "APP_SECRET": "s3cret-app",
        }
        app = "aaaaaaaa-0000-0000-0000-000000000001"
        ana, ben = org.users["ana"][1], org.users["ben"][1]
        args = [
            "-o", "json", "bulk", "reactivate", "--reason", "no-longer-interested", "--yes",
            "--batch-size", "5", "--journal", str(journal),
            "--identity", f"{app}=env:APP_SECRET@caller={ana}",
            "--identity", f"{app}=env:APP_SECRET@caller={ben}",
            "--report", str(tmp_path / "report.json"),
        ]  # fmt: skip
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        assert "s3cret" not in result.output
        assert all(org.fake.get("lead", i)["statecode"] == 0 for i in ids)
        report = json.loads((tmp_path / "report.json").read_text())
        assert set(report["summary"]["identities"]) == {f"{app}@{ana}", f"{app}@{ben}"}
        sent = {r.header("CallerObjectId") for r in org.fake.requests("POST", "$batch")}
        assert sent == {ana, ben}
