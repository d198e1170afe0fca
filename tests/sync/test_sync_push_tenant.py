"""sync push of tenant columns: checked against the org's column definitions, typed, by line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from d365leads.cli.app import cli
from d365leads.client import DataverseClient
from d365leads.fake import FakeDataverse
from d365leads.fake.wire.messages import FakeRequest, FakeResponse, Handler
from d365leads.sync.push import CsvValidationError, push_csv

METADATA = "EntityDefinitions(LogicalName='lead')/Attributes"


@pytest.fixture
def custom(fake: FakeDataverse) -> FakeDataverse:
    """The sync conftest's fake with typed tenant columns on lead."""
    fake.add_column("lead", "new_score", "int")
    fake.add_column("lead", "new_segment", "string")
    fake.add_column("lead", "new_budget", "money")
    fake.add_column("lead", "new_vip", "bool")
    fake.add_column("lead", "new_nextcall", "datetime")
    fake.add_column("lead", "new_since", "date")
    fake.add_column("lead", "new_regionid", "lookup:account")
    return fake


def _csv(tmp_path: Path, text: str, name: str = "leads.csv") -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def _writes(fake: FakeDataverse) -> list[FakeRequest]:
    return [r for r, _ in fake.journal if r.method != "GET"]


def test_tenant_columns_create_and_update_leads_with_typed_values(
    custom: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    [existing] = custom.seed(
        "lead",
        [{"lastname": "Lee", "emailaddress1": "ana@example.com", "new_score": 1, "new_vip": False}],
    )
    source = _csv(
        tmp_path,
        """
emailaddress1,lastname,new_score,new_segment,new_budget,new_vip,new_nextcall,new_since
ana@example.com,Lee,42,Enterprise,1250.5,yes,2026-02-01T09:30:00+01:00,2025-12-31
bo@example.com,Bo,-7,SMB,0.25,false,2026-03-04T05:06:07Z,
cy@example.com,Cy,,,,,,
""",
    )
    result = push_csv(client, source)
    assert (result.created, result.updated, result.failed) == (2, 1, 0)
    rows = {r["emailaddress1"]: r for r in custom.rows("lead")}
    ana = rows["ana@example.com"]
    assert ana["leadid"] == existing
    assert ana["new_score"] == 42 and isinstance(ana["new_score"], int)
    assert ana["new_segment"] == "Enterprise"
    assert ana["new_budget"] == pytest.approx(1250.5)
    assert ana["new_vip"] is True
    assert ana["new_nextcall"] == "2026-02-01T08:30:00Z"
    assert ana["new_since"] == "2025-12-31"
    bo = rows["bo@example.com"]
    assert (bo["new_score"], bo["new_segment"], bo["new_vip"]) == (-7, "SMB", False)
    assert bo["new_budget"] == pytest.approx(0.25)
    assert bo["new_nextcall"] == "2026-03-04T05:06:07Z"
    assert rows["cy@example.com"].get("new_score") is None  # empty cells set nothing
    # the column definitions were read exactly once for the whole file
    assert len(custom.requests("GET", METADATA)) == 1
    # a file of modelled columns only does not read them at all
    plain = _csv(tmp_path, "emailaddress1,lastname\ndy@example.com,Dy\n", "plain.csv")
    assert push_csv(client.session, plain).created == 1
    assert len(custom.requests("GET", METADATA)) == 1


def test_bad_tenant_values_are_reported_by_line_and_nothing_is_written(
    custom: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    custom.seed("lead", [{"lastname": "Lee", "emailaddress1": "ana@example.com", "new_score": 1}])
    source = _csv(
        tmp_path,
        """
emailaddress1,new_score,new_budget,new_vip,new_nextcall
ana@example.com,5,1,yes,2026-01-01
b@example.com,12abc,1,no,2026-01-01
c@example.com,3,1.2.3,no,2026-01-01
d@example.com,3,1,maybe,2026-01-01
e@example.com,3,1,no,2026-01-05T10:00:00
f@example.com,99999999999,1,no,2026-13-01
""",
    )
    with pytest.raises(CsvValidationError) as caught:
        push_csv(client, source)
    errors = {(e.line, e.column) for e in caught.value.errors}
    assert errors == {
        (3, "new_score"),
        (4, "new_budget"),
        (5, "new_vip"),
        (6, "new_nextcall"),
        (7, "new_score"),
        (7, "new_nextcall"),
    }
    text = str(caught.value)
    assert "5 of 6 rows are invalid; nothing was written" in text
    assert "line 3, column new_score: '12abc' is not a whole number" in text
    assert "line 4, column new_budget: '1.2.3' is not a number" in text
    assert "line 5, column new_vip: 'maybe' is not true/false" in text
    assert "line 6, column new_nextcall: '2026-01-05T10:00:00' has no time zone" in text
    assert "line 7, column new_score: 99999999999 is out of range" in text
    assert _writes(custom) == []
    assert [r["new_score"] for r in custom.rows("lead")] == [1]


def test_dry_run_with_tenant_columns_plans_without_writing(
    custom: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    custom.seed("lead", [{"lastname": "Lee", "emailaddress1": "ana@example.com", "new_score": 1}])
    source = _csv(tmp_path, "emailaddress1,new_score\nana@example.com,2\nnew@example.com,3\n")
    result = push_csv(client, source, dry_run=True)
    assert result.dry_run and (result.updated, result.created) == (1, 1)
    assert _writes(custom) == []
    assert [r["new_score"] for r in custom.rows("lead")] == [1]


def test_unknown_and_unsupported_org_columns_are_still_refused(
    custom: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    account = custom.seed("account", [{"name": "Contoso"}])[0]
    source = _csv(
        tmp_path,
        f"emailaddress1,new_scroe,new_whatever,new_regionid\na@example.com,1,x,{account}\n",
    )
    with pytest.raises(CsvValidationError) as caught:
        push_csv(client, source)
    text = str(caught.value)
    # the hint comes from the org's columns
    assert "line 1, column new_scroe: unknown lead column; did you mean 'new_score'?" in text
    assert "line 1, column new_whatever: unknown lead column" in text
    assert "no such column either" in text
    assert "line 1, column new_regionid: is a Lookup column of the org" in text
    assert _writes(custom) == [] and custom.rows("lead") == []


def test_org_write_flags_are_checked_per_row(
    custom: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    """An org column valid for update only (the org says so in its definitions)."""

    def update_only(request: FakeRequest, call_next: Handler) -> FakeResponse:
        response = call_next(request)
        if request.path == METADATA and response.status == 200:
            body = json.loads(response.body)
            for row in body["value"]:
                if row["LogicalName"] == "new_score":
                    row["IsValidForCreate"] = False
            response = FakeResponse.json_body(200, body)
        return response

    custom.hooks.append(update_only)
    custom.seed("lead", [{"lastname": "Lee", "emailaddress1": "ana@example.com"}])
    source = _csv(tmp_path, "emailaddress1,new_score\nana@example.com,2\nnew@example.com,3\n")
    with pytest.raises(CsvValidationError) as caught:
        push_csv(client, source)
    assert [(e.line, e.column) for e in caught.value.errors] == [(3, "new_score")]
    assert "does not allow setting it when a lead is created" in str(caught.value)
    assert _writes(custom) == []
    fixed = _csv(tmp_path, "emailaddress1,new_score\nana@example.com,2\n", "fixed.csv")
    assert push_csv(client, fixed).updated == 1
    assert custom.rows("lead")[0]["new_score"] == 2


@pytest.mark.parametrize("status", [404, 501])
def test_without_column_definitions_the_column_is_refused_as_unchecked(
    custom: FakeDataverse, client: DataverseClient, tmp_path: Path, status: int
) -> None:
    def no_metadata(request: FakeRequest, call_next: Handler) -> FakeResponse:
        if request.path.startswith("EntityDefinitions"):
            code = "0x80060888" if status == 404 else "0x8006088a"
            return FakeResponse.json_body(
                status, {"error": {"code": code, "message": "Resource not found"}}
            )
        return call_next(request)

    custom.hooks.append(no_metadata)
    source = _csv(tmp_path, "emailaddress1,lastname,new_score\na@example.com,A,1\n")
    with pytest.raises(CsvValidationError) as caught:
        push_csv(client, source)
    text = str(caught.value)
    assert "line 1, column new_score: unknown lead column: it could not be checked" in text
    assert f"(HTTP {status})" in text
    assert _writes(custom) == [] and custom.rows("lead") == []
    # modelled columns still push as before
    plain = _csv(tmp_path, "emailaddress1,lastname\na@example.com,A\n", "plain.csv")
    assert push_csv(client, plain).created == 1


def _cli(fake: FakeDataverse, *args: str) -> tuple[int, str, str]:
    with fake.mock():
        done = CliRunner().invoke(
            cli,
            ["--url", fake.org_url, "-o", "json", "sync", "push", *args],
            env={"D365_ACCESS_TOKEN": "cli-token"},
            catch_exceptions=False,
        )
    return done.exit_code, done.stdout, done.stderr


def test_cli_push_with_tenant_columns(
    fake: FakeDataverse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("D365", "AZURE_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("D365LEADS_CONFIG_DIR", str(tmp_path / "config"))
    fake.add_column("lead", "new_score", "int")
    fake.add_column("lead", "new_segment", "string")
    fake.seed("lead", [{"lastname": "Lee", "emailaddress1": "ana@example.com", "new_score": 1}])
    source = _csv(
        tmp_path,
        "emailaddress1,new_score,new_segment\nana@example.com,7,Gold\nbo@example.com,8,Silver\n",
    )
    code, out, err = _cli(fake, str(source), "--dry-run")
    assert code == 0, err
    assert json.loads(out)["created"] == 1 and json.loads(out)["updated"] == 1
    assert _writes(fake) == []
    code, out, err = _cli(fake, str(source), "--yes")
    assert code == 0, err
    rows = {r["emailaddress1"]: r for r in fake.rows("lead")}
    assert (rows["ana@example.com"]["new_score"], rows["ana@example.com"]["new_segment"]) == (
        7,
        "Gold",
    )
    assert (rows["bo@example.com"]["new_score"], rows["bo@example.com"]["new_segment"]) == (
        8,
        "Silver",
    )
    bad = _csv(tmp_path, "emailaddress1,new_score\nana@example.com,seven\n", "bad.csv")
    code, _out, err = _cli(fake, str(bad), "--yes")
    assert code == 2, err
    assert "line 2, column new_score: 'seven' is not a whole number" in err
    assert fake.get("lead", rows["ana@example.com"]["leadid"])["new_score"] == 7  # type: ignore[index]
