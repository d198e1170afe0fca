"""``d365leads bulk update --set`` and ``bulk assign --owner`` against the in-process fake."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from d365leads.cli.app import cli
from d365leads.fake import FakeDataverse
from d365leads.fake.core.options import FakeOptions

TEAM = "39e0dbe4-131b-e111-ba7e-78e7d1620f5e"


@pytest.fixture
def fake() -> Iterator[FakeDataverse]:
    fake = FakeDataverse(options=FakeOptions(dop_hint=2))
    with fake.mock():
        yield fake
    assert not fake.errors, fake.errors


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "jobs.sqlite"


@pytest.fixture
def run(fake: FakeDataverse, tmp_path: Path, journal: Path):  # type: ignore[no-untyped-def]
    env = {
        "D365_URL": fake.org_url,
        "D365_ACCESS_TOKEN": "cli-fields-token",
        "D365LEADS_CONFIG_DIR": str(tmp_path / "config"),
        "D365_PROFILE": "",
    }

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli, [*args, "--journal", str(journal)], env=env)

    return invoke


def _jobs(journal: Path) -> int:
    if not journal.exists():
        return 0
    with sqlite3.connect(journal) as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


def _seed(fake: FakeDataverse, n: int, company: str = "Sel", **extra: Any) -> list[str]:
    return list(
        fake.seed(
            "lead", [{"lastname": f"L{i}", "companyname": company, **extra} for i in range(n)]
        )
    )


def test_update_dry_run_then_run_with_a_report(
    fake: FakeDataverse, run: Any, tmp_path: Path
) -> None:
    ids = _seed(fake, 7)
    other = _seed(fake, 2, company="Other")
    args = ["bulk", "update", "--filter", "companyname eq 'Sel'", "--set", "jobtitle=Buyer"]

    dry = run("-o", "json", *args, "--set", "leadsourcecode=8", "--dry-run")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["action"] == "update" and plan["to_write"] == 7
    assert plan["changes"] == {"jobtitle": "Buyer", "leadsourcecode": 8}
    assert fake.requests("POST") == [] and fake.requests("PATCH") == []

    report = tmp_path / "report.csv"
    done = run(*args, "--set", "leadsourcecode=Web", "--yes", "--report", str(report))
    assert done.exit_code == 0, done.output
    assert [fake.get("lead", i)["jobtitle"] for i in ids] == ["Buyer"] * 7
    assert [fake.get("lead", i)["leadsourcecode"] for i in ids] == [8] * 7
    assert all(fake.get("lead", i).get("jobtitle") is None for i in other)
    with report.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["outcome"], r["path"]) for r in rows} == {("done", "UpdateMultiple")}


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("statecode=1", "bulk reactivate"),
        ("jobtitel=x", "did you mean jobtitle"),
        ("createdon=2026-01-01", "read-only"),
        ("leadsourcecode=99", "no choice '99'"),
        ("jobtitle", "write column=value"),
    ],
)
def test_bad_set_values_fail_before_a_job_is_journalled(
    fake: FakeDataverse, run: Any, journal: Path, setting: str, words: str
) -> None:
    _seed(fake, 2)
    result = run("bulk", "update", "--filter", "companyname eq 'Sel'", "--set", setting, "--yes")
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert _jobs(journal) == 0
    assert fake.requests("POST") == [] and fake.requests("PATCH") == []


def test_assign_to_a_team_and_resume_last(fake: FakeDataverse, run: Any, journal: Path) -> None:
    fake.seed("team", [{"teamid": TEAM, "name": "Sales West", "teamtype": 0}])
    ids = _seed(fake, 5)
    result = run(
        "bulk", "assign", "--owner", "Sales West", "--filter", "companyname eq 'Sel'", "--yes"
    )
    assert result.exit_code == 0, result.output
    assert all(fake.get("lead", i)["owningteam"] == TEAM for i in ids)
    listed = run("-o", "json", "bulk", "jobs")
    assert json.loads(listed.stdout)[0]["action"] == "assign"
    nothing = run("bulk", "assign", "--resume-last", "--yes")
    assert nothing.exit_code != 0 and "no unfinished job" in nothing.output


def test_assign_with_an_unknown_owner_names_near_matches(
    fake: FakeDataverse, run: Any, journal: Path
) -> None:
    fake.seed("team", [{"name": "Sales West", "teamtype": 0}])
    _seed(fake, 2)
    result = run("bulk", "assign", "--owner", "Sales Wst", "--filter", "companyname eq 'Sel'")
    assert result.exit_code == 2, result.output
    assert "did you mean 'Sales West'" in result.output
    assert _jobs(journal) == 0


def test_bypass_custom_logic_help_names_the_privilege(run: Any) -> None:
    for command in ("update", "assign", "reactivate"):
        text = CliRunner().invoke(cli, ["bulk", command, "--help"]).output
        assert "prvBypassCustomBusinessLogic" in " ".join(text.split()), command
