"""``d365leads views list`` and ``d365leads leads list --view / --fetchxml`` against the fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli_helpers import Cli, json_out

CLOSED = "a8c48085-222b-5622-8fd5-133e1345b23a"
TARGET_XML = (
    "<fetch><entity name='lead'><attribute name='fullname'/><attribute name='companyname'/>"
    "<filter><condition attribute='companyname' operator='eq' value='Target'/></filter>"
    "</entity></fetch>"
)


def _seed(fake: Any) -> dict[str, list[str]]:
    return {
        "target": fake.seed(
            "lead", [{"lastname": f"T{i}", "companyname": "Target"} for i in range(3)]
        ),
        "closed": fake.seed(
            "lead",
            [{"lastname": "C", "companyname": "Other", "statecode": 2, "statuscode": 4}],
        ),
    }


def test_views_list_shows_system_and_personal_views(run: Cli, fake_dataverse: Any) -> None:
    fake_dataverse.seed(
        "userquery",
        {"name": "Target", "returnedtypecode": "lead", "querytype": 0, "fetchxml": TARGET_XML},
    )
    rows = json_out(run("views", "list", "--table", "lead"))
    assert [(r["name"], r["kind"]) for r in rows] == [
        ("All Leads", "system"),
        ("Closed Leads", "system"),
        ("Leads Opened Last Week", "system"),
        ("My Open Leads", "system"),
        ("Open Leads", "system"),
        ("Target", "personal"),
    ]
    assert {r["id"] for r in rows if r["name"] == "Closed Leads"} == {CLOSED}
    system = json_out(run("views", "list", "--system-only"))
    assert all(r["kind"] == "system" for r in system) and len(system) == 5


def test_leads_list_by_view_and_by_fetchxml(run: Cli, fake_dataverse: Any, tmp_path: Path) -> None:
    seeded = _seed(fake_dataverse)
    closed = json_out(run("leads", "list", "--view", "Closed Leads"))
    assert [r["leadid"] for r in closed] == seeded["closed"]
    query = tmp_path / "target.xml"
    query.write_text(TARGET_XML)
    target = json_out(
        run("leads", "list", "--fetchxml", str(query), "--select", "leadid,companyname")
    )
    assert sorted(r["leadid"] for r in target) == sorted(seeded["target"])
    assert {r["companyname"] for r in target} == {"Target"}


def test_bad_view_and_bad_fetchxml_are_usage_errors_before_any_lead_read(
    run: Cli, fake_dataverse: Any, tmp_path: Path
) -> None:
    _seed(fake_dataverse)
    unknown = run("leads", "list", "--view", "Clossed Leads")
    assert unknown.exit_code == 2
    assert "did you mean: 'Closed Leads'" in unknown.stderr
    broken = tmp_path / "broken.xml"
    broken.write_text("<fetch>\n  <entity name='lead'>\n</fetch>")
    before = len(fake_dataverse.requests("GET", "leads"))
    result = run("leads", "list", "--fetchxml", str(broken))
    assert result.exit_code == 2
    assert "line 3" in result.stderr
    assert len(fake_dataverse.requests("GET", "leads")) == before
    both = run("leads", "list", "--view", "Closed Leads", "--closed")
    assert both.exit_code == 2 and "choose one view" in both.stderr
    filtered = run("leads", "list", "--view", "Closed Leads", "--filter", "statecode eq 0")
    assert filtered.exit_code == 2 and "drop --filter/--order-by" in filtered.stderr
    ordered = run("leads", "list", "--fetchxml", str(broken), "--order-by", "fullname")
    assert ordered.exit_code == 2 and "drop --filter/--order-by" in ordered.stderr
