"""``accounts|contacts|opportunities list`` and ``records list TABLE`` with ``--view`` and
``--fetchxml``, against both adapters of the fake (the org's Sales system views)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Cli, json_out


@pytest.fixture(params=["in-process", "server"])
def fake(request: pytest.FixtureRequest) -> Any:
    """The fake, installed in-process or served over HTTP on 127.0.0.1."""
    name = "fake_dataverse" if request.param == "in-process" else "fake_dataverse_server"
    return request.getfixturevalue(name)


@pytest.fixture
def cli(fake: Any) -> Cli:
    return Cli(getattr(fake, "url", None) or fake.org_url)


@pytest.fixture
def rows(fake: Any) -> dict[str, list[str]]:
    """Per table: two active rows of the caller, one active row of another user, one
    inactive (or closed) row."""
    other = fake.seed("systemuser", {"fullname": "Other", "domainname": "o@example.com"})[0]
    accounts = fake.seed(
        "account",
        [
            {"name": "Acme"},
            {"name": "Beta"},
            {"name": "Theirs", "ownerid": other},
            {"name": "Gone", "statecode": 1, "statuscode": 2},
        ],
    )
    contacts = fake.seed(
        "contact",
        [
            {"lastname": "Ana"},
            {"lastname": "Bo"},
            {"lastname": "Their", "ownerid": other},
            {"lastname": "Gone", "statecode": 1, "statuscode": 2},
        ],
    )
    opportunities = fake.seed(
        "opportunity",
        [
            {"name": "Fleet", "estimatedclosedate": "2026-03-01"},
            {"name": "Vans", "estimatedclosedate": "2026-02-01"},
            {"name": "Theirs", "ownerid": other},
            {"name": "Won deal", "statecode": 1, "statuscode": 3},
        ],
    )
    return {"accounts": accounts, "contacts": contacts, "opportunities": opportunities}


VIEWS = {
    # table: (active view, inactive/closed view, my view, id column)
    "accounts": ("Active Accounts", "Inactive Accounts", "My Active Accounts", "accountid"),
    "contacts": ("Active Contacts", "Inactive Contacts", "My Active Contacts", "contactid"),
    "opportunities": (
        "Open Opportunities",
        "Closed Opportunities",
        "My Open Opportunities",
        "opportunityid",
    ),
}


def _ids(result: Any, key: str) -> list[str]:
    return [row[key] for row in json_out(result)]


@pytest.mark.parametrize("table", sorted(VIEWS))
def test_list_by_the_tables_system_views(cli: Cli, rows: dict[str, list[str]], table: str) -> None:
    active, inactive, mine, key = VIEWS[table]
    mine_ids, theirs, closed = rows[table][:2], rows[table][2], rows[table][3]
    assert sorted(_ids(cli(table, "list", "--view", active), key)) == sorted([*mine_ids, theirs])
    assert _ids(cli(table, "list", "--view", inactive), key) == [closed]
    assert sorted(_ids(cli(table, "list", "--view", mine), key)) == sorted(mine_ids)
    # the view's own order: opportunities by estimated close date, the others by name
    ordered = _ids(cli(table, "list", "--view", mine), key)
    expected = [mine_ids[1], mine_ids[0]] if table == "opportunities" else mine_ids
    assert ordered == expected
    # --select picks the shown columns, --top limits the rows
    top = cli(table, "list", "--view", active, "--select", key, "--top", "1")
    assert len(json_out(top)) == 1 and list(json_out(top)[0]) == [key]
    assert "use --top N or --all" in top.stderr


@pytest.mark.parametrize("table", sorted(VIEWS))
def test_list_by_fetchxml(cli: Cli, rows: dict[str, list[str]], table: str, tmp_path: Path) -> None:
    key = VIEWS[table][3]
    logical = key[: -len("id")]
    query = tmp_path / "q.xml"
    query.write_text(
        f"<fetch>\n  <entity name='{logical}'>\n    <attribute name='{key}'/>\n"
        "    <filter><condition attribute='statecode' operator='ne' value='0'/></filter>\n"
        "  </entity>\n</fetch>\n"
    )
    result = cli(table, "list", "--fetchxml", str(query))
    assert _ids(result, key) == [rows[table][3]]
    plain = cli("records", "list", table, "--fetchxml", str(query))
    assert _ids(plain, key) == [rows[table][3]]


@pytest.mark.parametrize("table", sorted(VIEWS))
def test_unknown_view_mismatched_entity_and_conflicting_options_are_refused(
    cli: Cli, rows: dict[str, list[str]], table: str, tmp_path: Path
) -> None:
    active = VIEWS[table][0]
    typo = cli(table, "list", "--view", active.replace("Active", "Actve").replace("Open", "Opn"))
    assert typo.exit_code == 2
    assert f"did you mean: '{active}'" in typo.stderr
    # a view of another table is not a view of this one
    other = cli(table, "list", "--view", "Closed Leads")
    assert other.exit_code == 2 and "has no view named 'Closed Leads'" in other.stderr
    leads = tmp_path / "leads.xml"
    leads.write_text("<fetch><entity name='lead'><attribute name='leadid'/></entity></fetch>")
    mismatch = cli(table, "list", "--fetchxml", str(leads))
    assert mismatch.exit_code == 2
    assert "queries the 'lead' table" in mismatch.stderr and "not sent" in mismatch.stderr
    both = cli(table, "list", "--view", active, "--fetchxml", str(leads))
    assert both.exit_code == 2 and "choose one of --view and --fetchxml" in both.stderr
    filtered = cli(table, "list", "--view", active, "--filter", "statecode eq 0")
    assert filtered.exit_code == 2 and "drop --filter/--order-by" in filtered.stderr
    broken = tmp_path / "broken.xml"
    broken.write_text("<fetch>\n  <entity name='account'>\n</fetch>")
    bad = cli(table, "list", "--fetchxml", str(broken))
    assert bad.exit_code == 2 and "line 3" in bad.stderr


def test_records_list_by_view_for_entity_set_and_logical_name(
    cli: Cli, rows: dict[str, list[str]]
) -> None:
    by_set = cli("records", "list", "accounts", "--view", "Inactive Accounts")
    assert _ids(by_set, "accountid") == [rows["accounts"][3]]
    by_name = cli("records", "list", "contact", "--view", "inactive contacts")
    assert _ids(by_name, "contactid") == [rows["contacts"][3]]
    leads = cli("records", "list", "leads", "--view", "Open Leads")
    assert json_out(leads) == []
    typo = cli("records", "list", "opportunities", "--view", "Won Opportunitys")
    assert typo.exit_code == 2 and "has no view named" in typo.stderr
    # a table the library does not model: its logical name comes from the org's metadata
    tasks = cli("records", "list", "tasks", "--view", "Foo")
    assert tasks.exit_code == 2 and "'task' has no view named 'Foo'" in tasks.stderr
    unknown = cli("records", "list", "nosuchthings", "--view", "Foo")
    assert (
        unknown.exit_code == 2 and "no table whose entity set is 'nosuchthings'" in unknown.stderr
    )


def test_views_list_names_the_sales_views(cli: Cli, rows: dict[str, list[str]]) -> None:
    for table, names in (
        ("account", ["Active Accounts", "Inactive Accounts", "My Active Accounts"]),
        ("contact", ["Active Contacts", "Inactive Contacts", "My Active Contacts"]),
        (
            "opportunity",
            [
                "All Opportunities",
                "Closed Opportunities",
                "My Open Opportunities",
                "Open Opportunities",
            ],
        ),
    ):
        listed = json_out(cli("views", "list", "--table", table, "--system-only"))
        assert [view["name"] for view in listed] == names
        assert sum(1 for view in listed if view["isdefault"]) == 1
