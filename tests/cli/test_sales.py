"""``d365leads accounts|contacts|opportunities ...`` against both adapters of the fake."""

from __future__ import annotations

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
def chain(fake: Any) -> dict[str, str]:
    """An account, its contact, an opportunity for the account, one inactive account."""
    acme, gone = fake.seed(
        "account",
        [
            {"name": "Acme", "accountnumber": "A-1", "createdon": "2026-01-02T10:00:00Z"},
            {
                "name": "Gone Ltd",
                "statecode": 1,
                "statuscode": 2,
                "createdon": "2026-01-01T10:00:00Z",
            },
        ],
    )
    contact = fake.seed(
        "contact",
        [{"firstname": "Ana", "lastname": "Lee", "parentcustomerid": acme}],
    )[0]
    opp = fake.seed(
        "opportunity", [{"name": "Fleet", "customerid": acme, "customeridtype": "account"}]
    )[0]
    return {"acme": acme, "gone": gone, "contact": contact, "opp": opp}


def test_accounts_list_show_and_options(cli: Cli, chain: dict[str, str]) -> None:
    rows = json_out(cli("accounts", "list"))
    assert [r["name"] for r in rows] == ["Acme", "Gone Ltd"]
    assert rows[0]["status"] == "Active/Active" and rows[1]["status"] == "Inactive/Inactive"
    picked = json_out(
        cli("accounts", "list", "--filter", "statecode eq 0", "--select", "name,accountnumber")
    )
    assert picked == [{"name": "Acme", "accountnumber": "A-1"}]
    top = cli("accounts", "list", "--top", "1", "--order-by", "name asc")
    assert [r["name"] for r in json_out(top)] == ["Acme"]
    assert "use --top N or --all" in top.stderr
    assert len(json_out(cli("accounts", "list", "--all"))) == 2
    shown = json_out(cli("accounts", "show", chain["acme"]))
    assert shown["accountid"] == chain["acme"] and shown["name"] == "Acme"


def test_contacts_and_opportunities_list_with_lookups_by_name(
    cli: Cli, chain: dict[str, str]
) -> None:
    (contact,) = json_out(cli("contacts", "list"))
    assert contact["fullname"] == "Ana Lee" and contact["parentcustomerid"] == "Acme"
    (opp,) = json_out(cli("opportunities", "list"))
    assert opp["name"] == "Fleet" and opp["customerid"] == "Acme"
    assert opp["status"] == "Open/In Progress"


def test_create_and_update_with_lookups(cli: Cli, fake: Any, chain: dict[str, str]) -> None:
    created = json_out(
        cli(
            "contacts",
            "create",
            "--lastname",
            "Ng",
            "--email",
            "ng@example.com",
            "--set",
            f"parentcustomerid=account:{chain['acme']}",
        )
    )
    stored = fake.get("contact", created["contactid"])
    assert stored["lastname"] == "Ng" and stored["parentcustomerid"] == chain["acme"]
    opp = json_out(
        cli("opportunities", "create", "--name", "Vans", "--customer", f"account:{chain['acme']}")
    )
    assert fake.get("opportunity", opp["opportunityid"])["name"] == "Vans"
    json_out(cli("accounts", "update", chain["acme"], "--set", "name=Acme Corp"))
    assert fake.get("account", chain["acme"])["name"] == "Acme Corp"


def test_bad_input_is_refused_before_sending(cli: Cli, fake: Any, chain: dict[str, str]) -> None:
    before = len(fake.journal)
    ambiguous = cli("opportunities", "create", "--name", "X", "--customer", chain["acme"])
    assert ambiguous.exit_code == 2 and "say which table" in ambiguous.stderr
    state = cli("accounts", "update", chain["acme"], "--set", "statecode:=1")
    assert state.exit_code == 2 and "deactivate or activate" in state.stderr
    bad_id = cli("contacts", "show", "nope")
    assert bad_id.exit_code == 2 and "contact id 'nope' is not a GUID" in bad_id.stderr
    assert len(fake.journal) == before


def test_inactive_guard_and_force(cli: Cli, fake: Any, chain: dict[str, str]) -> None:
    fake.options.enforce_inactive_edit_rule = False  # only the client guards
    refused = cli("accounts", "update", chain["gone"], "--set", "name=Back")
    assert refused.exit_code == 2
    assert "is inactive (Inactive)" in refused.stderr and "--force" in refused.stderr
    assert fake.get("account", chain["gone"])["name"] == "Gone Ltd"
    json_out(cli("accounts", "update", chain["gone"], "--set", "name=Back", "--force"))
    assert fake.get("account", chain["gone"])["name"] == "Back"


@pytest.mark.parametrize("table", ["account", "contact"])
def test_deactivate_and_activate(cli: Cli, fake: Any, chain: dict[str, str], table: str) -> None:
    record = chain["acme"] if table == "account" else chain["contact"]
    group = f"{table}s"
    off = json_out(cli(group, "deactivate", record))
    assert off["status"] == "Inactive/Inactive"
    assert (fake.get(table, record)["statecode"], fake.get(table, record)["statuscode"]) == (1, 2)
    again = cli(group, "deactivate", record)
    assert "already inactive" in again.stderr
    refused = cli(group, "update", record, "--set", "description=x")
    assert refused.exit_code == 2 and "--force" in refused.stderr
    on = json_out(cli(group, "activate", record))
    assert on["status"] == "Active/Active"
    assert fake.get(table, record)["statecode"] == 0


def test_win_lose_reopen(cli: Cli, fake: Any, chain: dict[str, str]) -> None:
    won = json_out(
        cli(
            "opportunities",
            "win",
            chain["opp"],
            "--revenue",
            "1200.5",
            "--close-date",
            "2026-02-01",
            "--subject",
            "Signed",
        )
    )
    assert won["status"] == "Won/Won"
    closes = fake.rows("opportunityclose")
    assert closes[-1]["subject"] == "Signed" and float(closes[-1]["actualrevenue"]) == 1200.5
    twice = cli("opportunities", "lose", chain["opp"])
    assert twice.exit_code == 2 and "inactive" in twice.stderr
    assert json_out(cli("opportunities", "reopen", chain["opp"]))["status"] == "Open/In Progress"
    lost = json_out(cli("opportunities", "lose", chain["opp"], "--status", "out-sold"))
    assert lost["status"] == "Lost/Out-Sold"
    assert fake.get("opportunity", chain["opp"])["statuscode"] == 5
    bad = cli("opportunities", "win", chain["opp"], "--status", "canceled")
    assert bad.exit_code == 2 and "'canceled' is not a known reason" in bad.stderr
