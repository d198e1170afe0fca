"""sync against a customised org: tenant columns in pull, tenant alternate keys in push."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from d365leads.cli.app import cli
from d365leads.client import DataverseClient
from d365leads.errors import SyncError
from d365leads.fake import FakeDataverse, FakeOptions
from d365leads.fake.core.clock import ManualClock
from d365leads.sync import SyncTarget, pull
from d365leads.sync.push import CsvValidationError, push_csv


@pytest.fixture
def custom(fake: FakeDataverse) -> FakeDataverse:
    """The sync conftest's fake with a tenant column and a lead alternate key."""
    fake.add_column("lead", "new_score", "int")
    fake.add_column("lead", "new_segment", "string")
    fake.add_alternate_key("lead", "emailaddress1")
    # The client reads the new id from OData-EntityId; Dataverse answers an alternate-key
    # upsert in the key form (no GUID), so these tests use the fake's GUID answer.
    fake.options.alternate_key_entity_id = "guid"
    return fake


def _seed(fake: FakeDataverse, n: int) -> list[str]:
    return fake.seed(
        "lead",
        [
            {"subject": f"Inquiry {i}", "emailaddress1": f"l{i}@example.com", "new_score": i * 10}
            for i in range(n)
        ],
    )


def _column(target: SyncTarget, name: str) -> tuple[sa.Table, dict[str, Any]]:
    table = target.existing_table("lead")
    assert table is not None
    with target.connect() as conn:
        rows = conn.execute(sa.select(table.c.leadid, table.c[name]))
        return table, {r[0]: r[1] for r in rows}


def test_pull_select_adds_a_typed_tenant_column_and_carries_its_changes(
    custom: FakeDataverse, client: DataverseClient, db_url: str, clock: ManualClock
) -> None:
    ids = _seed(custom, 5)
    with SyncTarget(db_url) as target:
        pull(client, target, ["lead"], page_size=2)
        table = target.existing_table("lead")
        assert table is not None and "new_score" not in table.c
        # asking for the column later adds it to the mirror and reloads the table once
        result = pull(client, target, ["lead"], select=["lead.new_score:int"], page_size=2)
        assert result.tables[0].kind == "full"
        table, scores = _column(target, "new_score")
        assert isinstance(table.c.new_score.type, sa.Integer)
        assert scores == {lead_id: i * 10 for i, lead_id in enumerate(ids)}
        # the next run is incremental and carries a change of the tenant column
        clock.advance(60)
        client.records.update("leads", ids[3], {"new_score": 99})
        new_id = client.records.create("leads", {"subject": "New", "new_score": 7})
        before = len(custom.requests("GET", "leads"))
        result = pull(client, target, ["lead"], select=["lead.new_score:int"], page_size=2)
        [lead] = result.tables
        assert (lead.kind, lead.upserted) == ("incremental", 2)
        assert len(custom.requests("GET", "leads")) - before == 1
        _, scores = _column(target, "new_score")
    assert scores[ids[3]] == 99 and scores[new_id] == 7
    assert isinstance(scores[ids[0]], int)


def test_pull_select_of_an_untyped_tenant_column_stores_its_text(
    custom: FakeDataverse, client: DataverseClient, db_url: str
) -> None:
    [lead_id] = custom.seed("lead", [{"subject": "A", "new_score": 5, "new_segment": "SMB"}])
    with SyncTarget(db_url) as target:
        pull(client, target, ["lead"], select=["new_score,lead.new_segment"])
        _, scores = _column(target, "new_score")
        _, segments = _column(target, "new_segment")
    assert scores == {lead_id: "5"} and segments == {lead_id: "SMB"}


def test_pull_select_type_errors_are_refused_before_any_request(
    custom: FakeDataverse, client: DataverseClient, db_url: str
) -> None:
    with SyncTarget(db_url) as target:
        with pytest.raises(SyncError, match="unknown column type 'float64'"):
            pull(client, target, ["lead"], select=["lead.new_score:float64"])
        with pytest.raises(SyncError, match="modelled lead column"):
            pull(client, target, ["lead"], select=["lead.subject:int"])
    assert custom.requests("GET", "leads") == []


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def _check_batch_of_upserts(custom: FakeDataverse, paths: list[str]) -> None:
    # one $batch with one upsert per row, addressed by the key (quotes doubled, '#' and '%'
    # percent-encoded), with neither If-Match nor If-None-Match
    [batch] = custom.requests("POST", "$batch")
    text = batch.body.decode()
    lines = [line for line in text.splitlines() if line.startswith("PATCH ")]
    assert [line.split("/api/data/v9.2/")[1] for line in lines] == [
        f"{path} HTTP/1.1" for path in paths
    ]
    assert "If-Match" not in text and "If-None-Match" not in text


@pytest.mark.parametrize(
    "fake_options",
    [FakeOptions(), FakeOptions(bulk_message_tables=())],
    ids=["UpsertMultiple", "no-bulk-messages"],
)
def test_push_with_an_alternate_key_creates_and_updates_through_the_key(
    custom: FakeDataverse, client: DataverseClient, tmp_path: Path, fake_options: FakeOptions
) -> None:
    [existing] = custom.seed(
        "lead", [{"subject": "Old", "lastname": "Lee", "emailaddress1": "ana@example.com"}]
    )
    source = _csv(
        tmp_path,
        """
emailaddress1,subject,lastname,numberofemployees
ANA@example.com,Renewed interest,Lee,12
bo@example.com,New lead,Bo,3
o'neil@example.com,Quoted key,O'Neil,
a#b@example.com,Hash,Hash,
a%41@example.com,Percent,Percent,
""",
    )
    result = push_csv(client, source, alternate_key=True)
    assert result.ok and result.upserted == 5
    assert {r.action for r in result.rows} == {"upsert"}
    paths = [
        "leads(emailaddress1='ANA@example.com')",
        "leads(emailaddress1='bo@example.com')",
        "leads(emailaddress1='o''neil@example.com')",
        "leads(emailaddress1='a%23b@example.com')",
        "leads(emailaddress1='a%2541@example.com')",
    ]
    if "lead" in fake_options.bulk_message_tables:
        # one UpsertMultiple naming each record by its key in @odata.id; no $batch
        [bulk] = custom.requests("POST", "leads/Microsoft.Dynamics.CRM.UpsertMultiple")
        assert [t["@odata.id"] for t in bulk.json()["Targets"]] == paths
        assert custom.requests("POST", "$batch") == []
    else:
        _check_batch_of_upserts(custom, paths)
    rows = {r["emailaddress1"].lower(): r for r in custom.rows("lead")}
    assert set(rows) == {
        "ana@example.com",
        "bo@example.com",
        "o'neil@example.com",
        "a#b@example.com",
        "a%41@example.com",
    }
    assert rows["ana@example.com"]["leadid"] == existing
    assert rows["ana@example.com"]["subject"] == "Renewed interest"
    assert rows["ana@example.com"]["numberofemployees"] == 12
    assert rows["bo@example.com"]["subject"] == "New lead"
    assert rows["o'neil@example.com"]["lastname"] == "O'Neil"
    assert result.rows[0].id == existing
    assert result.rows[1].id == rows["bo@example.com"]["leadid"]


def test_push_with_an_alternate_key_still_guards_closed_leads(
    custom: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    custom.seed(
        "lead",
        [{"subject": "Gone", "emailaddress1": "gone@example.com", "statecode": 2, "statuscode": 6}],
    )
    source = _csv(tmp_path, "emailaddress1,subject\ngone@example.com,Edit\n")
    with pytest.raises(CsvValidationError, match="closed leads cannot be edited"):
        push_csv(client, source, alternate_key=True)
    assert custom.requests("PATCH") == [] and custom.requests("POST", "$batch") == []


def test_cli_push_alternate_key_against_a_seed_declared_key(
    clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("D365", "AZURE_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("D365LEADS_CONFIG_DIR", str(tmp_path / "config"))
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "$schema": {
                    "columns": [["lead", "new_score", "int"]],
                    "alternate_keys": [{"table": "lead", "columns": ["emailaddress1"]}],
                },
                "lead": [{"subject": "Old", "emailaddress1": "ana@example.com", "new_score": 1}],
            }
        ),
        encoding="utf-8",
    )
    fake = FakeDataverse(clock=clock, sleep=lambda _s: None)
    fake.seed_file(seed)
    source = _csv(tmp_path, "emailaddress1,subject\nana@example.com,Changed\nbo@example.com,New\n")
    with fake.mock():
        done = CliRunner().invoke(
            cli,
            [
                "--url",
                fake.org_url,
                "-o",
                "json",
                "sync",
                "push",
                str(source),
                "--alternate-key",
                "--yes",
            ],
            env={"D365_ACCESS_TOKEN": "cli-token"},
            catch_exceptions=False,
        )
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["upserted"] == 2
    rows = {r["emailaddress1"]: r for r in fake.rows("lead")}
    assert rows["ana@example.com"]["subject"] == "Changed"
    assert rows["ana@example.com"]["new_score"] == 1
    assert rows["bo@example.com"]["subject"] == "New"
    assert not fake.errors
