"""``d365leads leads ...`` against the in-process fake: output, state changes, bad input."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from cli_helpers import Cli, json_out

MISSING = "00000000-0000-0000-0000-00000000abcd"


@pytest.fixture
def seeded(fake_dataverse: Any) -> dict[str, str]:
    """Three open leads of mine, one of someone else, one disqualified."""
    other = fake_dataverse.seed("systemuser", [{"firstname": "Olga", "lastname": "Other"}])[0]
    ids = fake_dataverse.seed(
        "lead",
        [
            {
                "subject": "Pilot for 10 vans",
                "firstname": "Ada",
                "lastname": "Lovelace",
                "companyname": "Analytical Engines",
                "createdon": "2026-01-03T10:00:00Z",
            },
            {
                "subject": "Price list",
                "lastname": "Nameonly",
                "createdon": "2026-01-02T10:00:00Z",
            },
            {"subject": "No customer at all", "createdon": "2026-01-01T10:00:00Z"},
            {
                "subject": "Someone else's",
                "lastname": "Theirs",
                "ownerid": other,
                "createdon": "2026-01-04T10:00:00Z",
            },
            {
                "subject": "Gone quiet",
                "lastname": "Quiet",
                "statecode": 2,
                "statuscode": 6,
                "createdon": "2025-06-01T10:00:00Z",
            },
        ],
    )
    names = ["ada", "nameonly", "nocustomer", "theirs", "quiet"]
    return dict(zip(names, ids, strict=True))


def test_list_default_columns_newest_first(run: Cli, seeded: dict[str, str]) -> None:
    rows = json_out(run("leads", "list"))
    assert [r["leadid"] for r in rows] == [
        seeded["theirs"],
        seeded["ada"],
        seeded["nameonly"],
        seeded["nocustomer"],
        seeded["quiet"],
    ]
    assert list(rows[0]) == [
        "leadid",
        "fullname",
        "companyname",
        "subject",
        "status",
        "owner",
        "createdon",
    ]
    assert rows[1]["status"] == "Open/New"
    assert rows[0]["owner"] == "Olga Other"
    assert rows[-1]["status"] == "Disqualified/No Longer Interested"


def test_list_views(run: Cli, seeded: dict[str, str]) -> None:
    opened = {r["leadid"] for r in json_out(run("leads", "list", "--open"))}
    assert opened == {seeded[k] for k in ("ada", "nameonly", "nocustomer", "theirs")}
    closed = [r["leadid"] for r in json_out(run("leads", "list", "--closed"))]
    assert closed == [seeded["quiet"]]
    mine = {r["leadid"] for r in json_out(run("leads", "list", "--mine"))}
    assert mine == {seeded[k] for k in ("ada", "nameonly", "nocustomer")}


def test_list_filter_select_top(run: Cli, seeded: dict[str, str]) -> None:
    result = run(
        "leads",
        "list",
        "--filter",
        "startswith(subject,'P')",
        "--select",
        "subject,owner",
        "--top",
        "1",
    )
    rows = json_out(result)
    assert rows == [{"subject": "Pilot for 10 vans", "owner": "Fake User"}]
    assert list(rows[0]) == ["subject", "owner"]
    assert "--top N or --all" in result.stderr


def test_list_csv_and_jsonl(run: Cli, seeded: dict[str, str]) -> None:
    result = run("leads", "list", "--open", "--select", "fullname,status", output="csv")
    parsed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.exit_code == 0
    assert {r["fullname"] for r in parsed} == {"Ada Lovelace", "Nameonly", "", "Theirs"}
    result = run("leads", "list", "--closed", output="jsonl")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["leadid"] for line in lines] == [seeded["quiet"]]


def test_list_table_output(run: Cli, seeded: dict[str, str]) -> None:
    result = run("leads", "list", "--mine", output="table")
    assert result.exit_code == 0
    assert "My open leads" in result.stdout
    assert "Ada Lovelace" in result.stdout
    assert "Theirs" not in result.stdout


def test_list_without_tty_defaults_to_json(run: Cli, seeded: dict[str, str]) -> None:
    result = run("leads", "list", output=None)
    assert isinstance(json.loads(result.stdout), list)


def test_list_bad_filter_is_reported(run: Cli, seeded: dict[str, str]) -> None:
    result = run("leads", "list", "--filter", "subject eq")
    assert result.exit_code == 1
    assert "Dataverse answered HTTP 400" in result.stderr
    assert "Traceback" not in result.stderr


def test_show(run: Cli, seeded: dict[str, str]) -> None:
    data = json_out(run("leads", "show", seeded["ada"]))
    assert data["leadid"] == seeded["ada"]
    assert data["companyname"] == "Analytical Engines"
    assert data["status"] == "Open/New"
    assert data["ownerid"]["name"] == "Fake User"


def test_show_bad_guid_and_missing(run: Cli) -> None:
    result = run("leads", "show", "not-a-guid")
    assert result.exit_code == 2
    assert "GUID" in result.stderr
    result = run("leads", "show", MISSING)
    assert result.exit_code == 1
    assert "0x80040217" in result.stderr
    assert "leads list" in result.stderr


def test_create(run: Cli, fake_dataverse: Any) -> None:
    result = run(
        "leads",
        "create",
        "--subject",
        "Demo request",
        "--firstname",
        "Grace",
        "--lastname",
        "Hopper",
        "--company",
        "Navy",
        "--email",
        "grace@example.com",
        "--phone",
        "+1 555 0100",
        "--set",
        "jobtitle=Admiral",
        "--set",
        "leadsourcecode:=8",
    )
    data = json_out(result)
    stored = fake_dataverse.get("lead", data["leadid"])
    assert stored["fullname"] == "Grace Hopper"
    assert stored["emailaddress1"] == "grace@example.com"
    assert stored["jobtitle"] == "Admiral"
    assert stored["leadsourcecode"] == 8
    assert stored["statecode"] == 0
    assert f"Created lead {data['leadid']}" in result.stderr


def test_create_with_owner(run: Cli, fake_dataverse: Any) -> None:
    other = fake_dataverse.seed("systemuser", [{"firstname": "Ole", "lastname": "Owner"}])[0]
    data = json_out(run("leads", "create", "--subject", "Owned", "--owner", other))
    assert fake_dataverse.get("lead", data["leadid"])["ownerid"] == other
    result = run("leads", "create", "--subject", "x", "--owner", "queue:" + other)
    assert result.exit_code == 2
    assert "user or a team" in result.stderr


def test_create_needs_subject(run: Cli) -> None:
    result = run("leads", "create", "--lastname", "X")
    assert result.exit_code == 2
    assert "--subject" in result.stderr


def test_update(run: Cli, seeded: dict[str, str], fake_dataverse: Any) -> None:
    result = run(
        "leads", "update", seeded["ada"], "--set", "jobtitle=Countess", "--set", "companyname="
    )
    data = json_out(result)
    assert data["jobtitle"] == "Countess"
    stored = fake_dataverse.get("lead", seeded["ada"])
    assert stored["jobtitle"] == "Countess"
    assert stored.get("companyname") is None


def test_update_closed_lead_needs_force(
    run: Cli, seeded: dict[str, str], fake_dataverse: Any
) -> None:
    fake_dataverse.options.enforce_inactive_edit_rule = False  # only the client guards
    result = run("leads", "update", seeded["quiet"], "--set", "jobtitle=CEO")
    assert result.exit_code == 2
    assert "--force" in result.stderr
    assert "force=True" not in result.stderr  # the library's keyword, not a CLI word
    assert fake_dataverse.get("lead", seeded["quiet"]).get("jobtitle") is None
    result = run("leads", "update", seeded["quiet"], "--set", "jobtitle=CEO", "--force")
    assert result.exit_code == 0, result.stderr
    assert fake_dataverse.get("lead", seeded["quiet"])["jobtitle"] == "CEO"


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("jobtitle", "is not column=value"),
        ("leadsourcecode:=[oops", "must be JSON"),
        ("statuscode=5", "disqualify or reactivate"),
        ("bad column=1", "not a column name"),
    ],
)
def test_update_bad_assignments(
    run: Cli, seeded: dict[str, str], assignment: str, message: str
) -> None:
    result = run("leads", "update", seeded["ada"], "--set", assignment)
    assert result.exit_code == 2
    assert message in result.stderr


def test_qualify_prints_created_records_and_links(
    run: Cli, seeded: dict[str, str], fake_dataverse: Any
) -> None:
    data = json_out(run("leads", "qualify", seeded["ada"]))
    assert data["lead"]["status"] == "Qualified/Qualified"
    assert data["account"]["name"] == "Analytical Engines"
    assert data["contact"]["fullname"] == "Ada Lovelace"
    assert data["opportunity"]["name"] == "Pilot for 10 vans"
    links = {(link["from"], link["column"]): link for link in data["links"]}
    assert links[("opportunity", "originatingleadid")]["to_id"] == seeded["ada"]
    assert links[("opportunity", "customerid")]["to_id"] in (
        data["account"]["accountid"],
        data["contact"]["contactid"],
    )
    assert all(link["ok"] is not False for link in data["links"])
    assert fake_dataverse.get("lead", seeded["ada"])["statecode"] == 1
    assert len(fake_dataverse.rows("opportunity")) == 1


def test_qualify_table_output(run: Cli, seeded: dict[str, str]) -> None:
    result = run("leads", "qualify", seeded["ada"], output="table")
    assert result.exit_code == 0, result.stderr
    assert "Created records" in result.stdout
    assert "Links" in result.stdout
    assert "originatingleadid" in result.stdout
    assert "created account, contact, opportunity" in result.stderr


def test_qualify_options(run: Cli, seeded: dict[str, str], fake_dataverse: Any) -> None:
    data = json_out(run("leads", "qualify", seeded["nameonly"], "--no-account"))
    assert data["account"] is None
    assert data["contact"]["fullname"] == "Nameonly"
    assert not fake_dataverse.rows("account")


def test_qualify_with_existing_customer(
    run: Cli, seeded: dict[str, str], fake_dataverse: Any
) -> None:
    account = fake_dataverse.seed("account", [{"name": "Existing Customer Ltd"}])[0]
    data = json_out(
        run("leads", "qualify", seeded["nocustomer"], "--customer", f"account:{account}")
    )
    assert data["opportunity"]["customerid"]["id"] == account


def test_qualify_refusals(run: Cli, seeded: dict[str, str], fake_dataverse: Any) -> None:
    result = run("leads", "qualify", seeded["nocustomer"])
    assert result.exit_code == 2
    assert "no customer" in result.stderr
    result = run("leads", "qualify", seeded["quiet"])
    assert result.exit_code == 2
    assert "closed" in result.stderr
    assert "leads reactivate" in result.stderr
    result = run("leads", "qualify", seeded["ada"], "--customer", "someone")
    assert result.exit_code == 2
    assert "account:ID" in result.stderr
    assert not fake_dataverse.rows("opportunity")


@pytest.mark.parametrize(
    ("reason", "code"),
    [("lost", 4), ("cannot-contact", 5), ("no-longer-interested", 6), ("canceled", 7), ("5", 5)],
)
def test_disqualify_reasons(
    run: Cli, seeded: dict[str, str], fake_dataverse: Any, reason: str, code: int
) -> None:
    data = json_out(run("leads", "disqualify", seeded["ada"], "--reason", reason))
    assert data["statuscode"] == code
    stored = fake_dataverse.get("lead", seeded["ada"])
    assert (stored["statecode"], stored["statuscode"]) == (2, code)


def test_disqualify_bad_input(run: Cli, seeded: dict[str, str], fake_dataverse: Any) -> None:
    result = run("leads", "disqualify", seeded["ada"], "--reason", "bored")
    assert result.exit_code == 2
    assert "not a known reason" in result.stderr
    assert "cannot-contact" in result.stderr
    result = run("leads", "disqualify", seeded["ada"], "--reason", "1")
    assert result.exit_code == 2
    assert fake_dataverse.get("lead", seeded["ada"])["statecode"] == 0
    result = run("leads", "disqualify", seeded["quiet"], "--reason", "lost")
    assert result.exit_code == 2
    assert "already closed" in result.stderr
    result = run("leads", "disqualify", "12345", "--reason", "lost")
    assert result.exit_code == 2
    assert "GUID" in result.stderr


def test_reactivate(run: Cli, seeded: dict[str, str], fake_dataverse: Any) -> None:
    data = json_out(run("leads", "reactivate", seeded["quiet"], "--status", "contacted"))
    assert data["status"] == "Open/Contacted"
    stored = fake_dataverse.get("lead", seeded["quiet"])
    assert (stored["statecode"], stored["statuscode"]) == (0, 2)
    result = run("leads", "reactivate", seeded["ada"], "--status", "lost")
    assert result.exit_code == 2


def test_lifecycle_round_trip(run: Cli, seeded: dict[str, str]) -> None:
    lead = seeded["ada"]
    assert run("leads", "disqualify", lead, "--reason", "cannot-contact").exit_code == 0
    assert lead in {r["leadid"] for r in json_out(run("leads", "list", "--closed"))}
    assert run("leads", "reactivate", lead).exit_code == 0
    assert lead in {r["leadid"] for r in json_out(run("leads", "list", "--mine"))}
    assert json_out(run("leads", "qualify", lead))["opportunity"] is not None


def test_list_views_are_exclusive(run: Cli) -> None:
    result = run("leads", "list", "--open", "--closed")
    assert result.exit_code == 2
    assert "--open and --closed" in result.stderr
    result = run("leads", "list", "--top", "5", "--all")
    assert result.exit_code == 2


def test_list_all_pages_through(run: Cli, fake_dataverse: Any) -> None:
    fake_dataverse.seed("lead", [{"subject": f"s{i}", "lastname": f"L{i}"} for i in range(120)])
    result = run("leads", "list", "--all", "--select", "subject")
    assert len(json_out(result)) == 120
    assert "--top N" not in result.stderr
    assert len(json_out(run("leads", "list"))) == 100


def test_show_table_renders_lookups_by_name(run: Cli, seeded: dict[str, str]) -> None:
    result = run("leads", "show", seeded["ada"], output="table")
    assert result.exit_code == 0, result.stderr
    assert "Fake User (systemuser " in result.stdout
    assert '"table"' not in result.stdout
