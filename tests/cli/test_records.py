"""``records ...``, ``query`` and ``leads show --related`` against both adapters of the fake."""

from __future__ import annotations

from typing import Any

import pytest
from cli_helpers import Cli, json_out


@pytest.fixture(params=["in-process", "server"])
def fake(request: pytest.FixtureRequest) -> Any:
    name = "fake_dataverse" if request.param == "in-process" else "fake_dataverse_server"
    return request.getfixturevalue(name)


@pytest.fixture
def cli(fake: Any) -> Cli:
    return Cli(getattr(fake, "url", None) or fake.org_url)


@pytest.fixture
def accounts(fake: Any) -> list[str]:
    return list(
        fake.seed(
            "account",
            [{"name": f"Account {n}", "accountnumber": f"A-{n}"} for n in range(7)],
        )
    )


def test_records_list_select_filter_top_all(cli: Cli, accounts: list[str]) -> None:
    rows = json_out(cli("records", "list", "accounts", "--select", "name", "--order-by", "name"))
    assert [r["name"] for r in rows] == [f"Account {n}" for n in range(7)]
    assert all("@odata.etag" not in r for r in rows)
    top = cli("records", "list", "account", "--top", "2", "--select", "name,accountnumber")
    assert (
        json_out(top)
        == [
            {"name": "Account 0", "accountnumber": "A-0"},
            {"name": "Account 1", "accountnumber": "A-1"},
        ]
        or len(json_out(top)) == 2
    )
    assert "--top N or --all" in top.stderr
    one = json_out(cli("records", "list", "accounts", "--filter", "accountnumber eq 'A-3'"))
    assert [r["accountid"] for r in one] == [accounts[3]]


def test_records_crud_roundtrip(cli: Cli, fake: Any) -> None:
    created = json_out(
        cli(
            "records",
            "create",
            "accounts",
            "--set",
            "name=Zed",
            "--data",
            '{"accountnumber": "Z-1"}',
        )
    )
    record_id = created["accountid"]
    assert fake.get("account", record_id)["accountnumber"] == "Z-1"
    got = json_out(cli("records", "get", "accounts", record_id, "--select", "name"))
    assert got["name"] == "Zed"
    json_out(cli("records", "update", "accounts", record_id, "--set", "name=Zed Ltd"))
    assert fake.get("account", record_id)["name"] == "Zed Ltd"
    refused = cli("records", "delete", "accounts", record_id)
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert fake.get("account", record_id) is not None
    deleted = cli("records", "delete", "accounts", record_id, "--yes")
    assert deleted.exit_code == 0, deleted.stderr
    assert fake.get("account", record_id) is None


def test_records_update_keeps_the_inactive_guard(cli: Cli, fake: Any) -> None:
    fake.options.enforce_inactive_edit_rule = False  # only the client guards
    (gone,) = fake.seed("contact", [{"lastname": "Old", "statecode": 1, "statuscode": 2}])
    refused = cli("records", "update", "contacts", gone, "--set", "lastname=New")
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert fake.get("contact", gone)["lastname"] == "Old"
    forced = cli("records", "update", "contacts", gone, "--set", "lastname=New", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert fake.get("contact", gone)["lastname"] == "New"


def test_records_bad_input(cli: Cli, fake: Any) -> None:
    before = len(fake.journal)
    assert cli("records", "list", "accounts;drop").exit_code == 2
    assert cli("records", "get", "accounts", "12").exit_code == 2
    empty = cli("records", "create", "accounts")
    assert empty.exit_code == 2 and "nothing to write" in empty.stderr
    assert cli("records", "create", "accounts", "--data", "[1]").exit_code == 2
    assert len(fake.journal) == before
    missing = cli("records", "get", "accounts", "00000000-0000-0000-0000-00000000abcd")
    assert missing.exit_code == 1 and "404" in missing.stderr


def test_query_collection_paging_and_single_record(cli: Cli, accounts: list[str]) -> None:
    rows = json_out(cli("query", "accounts?$select=name&$orderby=name desc&$top=5"))
    assert [r["name"] for r in rows] == [f"Account {n}" for n in (6, 5, 4, 3, 2)]
    assert all(set(r) <= {"name", "accountid"} for r in rows)
    spaced = json_out(cli("query", "accounts?$filter=name%20eq%20'Account%202'&$select=name"))
    assert [r["name"] for r in spaced] == ["Account 2"]
    one = json_out(cli("query", f"accounts({accounts[1]})?$select=name"))
    assert one["name"] == "Account 1"


def test_query_follows_next_links_only_with_all(cli: Cli, fake: Any, accounts: list[str]) -> None:
    env = {"D365_PAGE_SIZE": "3"}
    first = cli("query", "accounts?$select=name", env=env)
    assert len(json_out(first)) == 3 and "--all" in first.stderr
    every = json_out(cli("query", "accounts?$select=name", "--all", env=env))
    assert sorted(r["name"] for r in every) == [f"Account {n}" for n in range(7)]
    pages = [r for r in fake.journal if "accounts" in r[0].url]
    assert len(pages) == 1 + 3  # one page, then three pages of 3, 3 and 1


def test_query_bad_input(cli: Cli) -> None:
    assert cli("query", "?$top=1").exit_code == 2
    assert cli("query", "https://evil.example/x").exit_code == 2
    twice = cli("query", "accounts?$top=1&$top=2")
    assert twice.exit_code == 2 and "twice" in twice.stderr


def test_lead_show_related_both_directions(cli: Cli, fake: Any) -> None:
    (account,) = fake.seed("account", [{"name": "Contoso"}])
    (contact,) = fake.seed("contact", [{"firstname": "Ana", "lastname": "Lee"}])
    (lead,) = fake.seed(
        "lead",
        [
            {
                "subject": "Fleet",
                "lastname": "Lee",
                "parentaccountid": account,
                "parentcontactid": contact,
            }
        ],
    )
    json_out(cli("leads", "qualify", lead, "--no-account", "--no-contact"))
    (opp,) = fake.rows("opportunity")
    shown = json_out(cli("leads", "show", lead, "--related"))
    assert shown["lead"]["leadid"] == lead
    links = {(r["direction"], r["column"], r["table"], r["id"]) for r in shown["related"]}
    assert ("lead ->", "parentaccountid", "account", account) in links
    assert ("lead ->", "parentcontactid", "contact", contact) in links
    assert ("lead ->", "qualifyingopportunityid", "opportunity", opp["opportunityid"]) in links
    assert ("-> lead", "originatingleadid", "opportunity", opp["opportunityid"]) in links
    names = {r["id"]: r["name"] for r in shown["related"]}
    assert names[account] == "Contoso" and names[contact] == "Ana Lee"
    table = cli("leads", "show", lead, "--related", output="table")
    assert table.exit_code == 0 and "Related records" in table.stdout
    plain = json_out(cli("leads", "show", lead))
    assert "related" not in plain and plain["leadid"] == lead
