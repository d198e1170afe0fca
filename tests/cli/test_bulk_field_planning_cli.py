"""``bulk update``/``bulk assign`` plans: inactive and unchanged leads, --include-inactive, and
the one line saying which check the values went through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from d365leads.bulk.changes import CHECKED_BY_MODEL, CHECKED_BY_ORG
from d365leads.cli.app import cli
from d365leads.fake import FakeDataverse
from d365leads.fake.core.options import FakeOptions

TEAM = "39e0dbe4-131b-e111-ba7e-78e7d1620f5e"
INACTIVE = "inactive (disqualified): reactivate it first, or pass --include-inactive"


@pytest.fixture
def options() -> FakeOptions:
    return FakeOptions(dop_hint=2)


@pytest.fixture
def fake(options: FakeOptions) -> Iterator[FakeDataverse]:
    fake = FakeDataverse(options=options)
    with fake.mock():
        yield fake
    assert not fake.errors, fake.errors


@pytest.fixture
def run(fake: FakeDataverse, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "D365_URL": fake.org_url,
        "D365_ACCESS_TOKEN": "cli-plan-token",
        "D365LEADS_CONFIG_DIR": str(tmp_path / "config"),
        "D365_PROFILE": "",
    }

    def invoke(*args: str) -> Any:
        journal = str(tmp_path / "jobs.sqlite")
        return CliRunner().invoke(cli, [*args, "--journal", journal], env=env)

    return invoke


def _seed(fake: FakeDataverse, n: int, **extra: Any) -> list[str]:
    rows = [{"lastname": f"L{i}", "companyname": "Sel", **extra} for i in range(n)]
    return list(fake.seed("lead", rows))


UPDATE = ["bulk", "update", "--filter", "companyname eq 'Sel'", "--set", "jobtitle=Buyer"]


def test_the_dry_run_counts_inactive_and_unchanged_leads(fake: FakeDataverse, run: Any) -> None:
    _seed(fake, 3)
    _seed(fake, 2, statecode=2, statuscode=6)
    _seed(fake, 1, jobtitle="Buyer")

    dry = run("-o", "json", *UPDATE, "--dry-run")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert (plan["selected"], plan["to_write"]) == (6, 3)
    assert plan["skipped"] == {INACTIVE: 2, "unchanged: already holds every new value": 1}
    assert dry.stderr.count(CHECKED_BY_ORG) == 1

    table = run("-o", "table", "--wide", *UPDATE, "--dry-run")
    assert table.exit_code == 0, table.output
    assert INACTIVE in table.output and "Skipped" in table.output
    assert fake.requests("POST") == [] and fake.requests("PATCH") == []


def test_include_inactive_sends_them_and_reports_each_refusal(
    fake: FakeDataverse, run: Any, tmp_path: Path
) -> None:
    open_ids = _seed(fake, 3)
    closed = _seed(fake, 2, statecode=2, statuscode=6)
    report = tmp_path / "report.json"

    done = run(*UPDATE, "--include-inactive", "--yes", "--report", str(report))
    assert done.exit_code != 0  # two leads failed: the org refuses edits of inactive leads
    rows = {r["id"]: r for r in json.loads(report.read_text())["records"]}
    assert {rows[i]["outcome"] for i in closed} == {"failed"}
    assert {rows[i]["outcome"] for i in open_ids} == {"done"}


def test_without_it_the_run_succeeds_and_reports_them_skipped(
    fake: FakeDataverse, run: Any, tmp_path: Path
) -> None:
    _seed(fake, 3)
    closed = _seed(fake, 2, statecode=2, statuscode=6)
    report = tmp_path / "report.json"
    done = run(*UPDATE, "--yes", "--report", str(report))
    assert done.exit_code == 0, done.output
    rows = {r["id"]: r for r in json.loads(report.read_text())["records"]}
    assert {(rows[i]["outcome"], rows[i]["message"]) for i in closed} == {("skipped", INACTIVE)}
    assert done.stderr.count(CHECKED_BY_ORG) == 1


def test_a_resumed_job_refuses_include_inactive(run: Any) -> None:
    result = run("bulk", "assign", "--resume-last", "--include-inactive", "--yes")
    assert result.exit_code != 0 and "--include-inactive" in result.output


class TestWithoutColumnDefinitions:
    @pytest.fixture
    def options(self) -> FakeOptions:
        return FakeOptions(dop_hint=2, serve_column_definitions=False)

    def test_the_cli_says_once_that_the_model_was_used(self, fake: FakeDataverse, run: Any) -> None:
        ids = _seed(fake, 4)
        done = run(*UPDATE, "--set", "leadsourcecode=8", "--yes")
        assert done.exit_code == 0, done.output
        assert done.stderr.count(CHECKED_BY_MODEL) == 1 and CHECKED_BY_ORG not in done.stderr
        assert [fake.get("lead", i)["jobtitle"] for i in ids] == ["Buyer"] * 4

    def test_assign_says_it_once_too(self, fake: FakeDataverse, run: Any) -> None:
        fake.seed("team", [{"teamid": TEAM, "name": "Sales West", "teamtype": 0}])
        _seed(fake, 2)
        dry = run(
            "bulk", "assign", "--owner", "Sales West", "--filter", "lastname ne null", "--dry-run"
        )
        assert dry.exit_code == 0, dry.output
        assert dry.stderr.count(CHECKED_BY_MODEL) == 1

    def test_a_refused_column_names_the_model(self, fake: FakeDataverse, run: Any) -> None:
        _seed(fake, 1)
        result = run(*UPDATE, "--set", "donotemail=true", "--yes")
        assert result.exit_code != 0
        assert "no column 'donotemail'" in result.output and "Lead model" in result.output
        assert fake.requests("POST") == [] and fake.requests("PATCH") == []
