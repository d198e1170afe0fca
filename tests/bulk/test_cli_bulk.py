"""``d365leads bulk ...`` against the in-process fake."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from d365leads.cli import bulk_run as bulk_cli  # where a job command plans and runs
from d365leads.cli.app import cli
from d365leads.fake import FakeDataverse

from .conftest import seed_leads


@pytest.fixture
def run(fake: FakeDataverse, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "D365_URL": fake.org_url,
        "D365_ACCESS_TOKEN": "cli-bulk-token",
        "D365LEADS_CONFIG_DIR": str(tmp_path / "config"),
        "D365_PROFILE": "",
    }
    journal = tmp_path / "jobs.sqlite"

    def invoke(*args: str, **extra_env: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, [*args, "--journal", str(journal)], env={**env, **extra_env})

    return invoke


def _writes(fake: FakeDataverse) -> int:
    return len(fake.requests("POST", "$batch"))


def test_dry_run_plans_without_writing(fake: FakeDataverse, run) -> None:  # type: ignore[no-untyped-def]
    seed_leads(fake, 12)
    seed_leads(fake, 4, state=2, status=4)
    seed_leads(fake, 2, state=0, status=1)
    result = run(
        "-o",
        "json",
        "bulk",
        "reactivate",
        "--reason",
        "no-longer-interested",
        "--dry-run",
        "--batch-size",
        "5",
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["to_write"] == 12 and plan["requests"] == 3
    assert plan["transitions"] == {"Disqualified/No Longer Interested -> Open/New": 12}
    assert len(plan["sample"]) == 5 and plan["estimated_seconds"] >= 0
    assert _writes(fake) == 0


def test_dry_run_lists_skip_reasons(fake: FakeDataverse, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    closed = seed_leads(fake, 2, state=2, status=4)
    nobody = fake.seed("lead", [{"subject": "anonymous", "statecode": 0, "statuscode": 1}])
    good = seed_leads(fake, 1, state=0, status=2)
    ids = tmp_path / "ids.csv"
    ids.write_text(
        "leadid,note\n"
        + "".join(f"{i},x\n" for i in [*closed, *nobody, *good])
        + "00000000-0000-0000-0000-00000000abcd,missing\n"
    )
    result = run("-o", "json", "bulk", "qualify", "--ids-file", str(ids), "--dry-run")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["to_write"] == 1
    skipped = plan["skipped"]
    assert skipped["not found"] == 1
    assert skipped["closed lead (disqualified): reactivate it before qualifying"] == 2
    assert any(k.startswith("no customer possible") for k in skipped)


def test_confirmation_needed_when_not_interactive(fake: FakeDataverse, run) -> None:  # type: ignore[no-untyped-def]
    seed_leads(fake, 3)
    result = run("bulk", "reactivate", "--reason", "no-longer-interested")
    assert result.exit_code == 2
    assert "--yes" in result.output
    assert _writes(fake) == 0


def test_run_writes_report_and_exits_zero(fake: FakeDataverse, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = seed_leads(fake, 25)
    report = tmp_path / "out" / "report.csv"
    result = run(
        "bulk",
        "reactivate",
        "--reason",
        "no-longer-interested",
        "--yes",
        "--report",
        str(report),
        "--batch-size",
        "10",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(report.open()))
    assert {r["id"] for r in rows} == set(ids)
    assert {(r["outcome"], r["before"], r["after"]) for r in rows} == {
        ("done", "Disqualified/No Longer Interested", "Open/New")
    }
    assert all(fake.get("lead", i)["statecode"] == 0 for i in ids)  # type: ignore[index]
    again = run("bulk", "reactivate", "--resume-last", "--yes")
    assert again.exit_code == 2 and "no unfinished job" in again.output
    listed = run("-o", "json", "bulk", "jobs")
    assert listed.exit_code == 0, listed.output
    (job,) = json.loads(listed.stdout)
    assert (job["action"], job["state"], job["done"], job["left"]) == (
        "reactivate",
        "finished",
        25,
        0,
    )


def test_failures_exit_4_with_codes_in_report(fake: FakeDataverse, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake.options.disqualify_requires_no_open_opportunity = True
    ids = seed_leads(fake, 4, state=0, status=1)
    account = fake.seed("account", [{"name": "Contoso"}])[0]
    fake.seed(
        "opportunity",
        [
            {
                "name": "Deal",
                "originatingleadid": ids[0],
                "customerid": account,
                "customeridtype": "account",
            }
        ],
    )
    report = tmp_path / "report.json"
    result = run(
        "bulk",
        "disqualify",
        "--filter",
        "statecode eq 0",
        "--reason",
        "cannot-contact",
        "--yes",
        "--report",
        str(report),
    )
    assert result.exit_code == 4, result.output
    assert "1 of 4 leads failed" in result.output
    data = json.loads(report.read_text())
    outcomes = {r["id"]: (r["outcome"], r["error_code"]) for r in data["records"]}
    assert outcomes == {
        ids[0]: ("failed", "0x80040203"),
        **{i: ("done", "") for i in ids[1:]},
    }
    assert data["summary"]["counts"]["failed"] == 1


def test_bad_usage_is_exit_2(fake: FakeDataverse, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("bulk", "reactivate", "--yes").exit_code == 2  # no selection
    assert run("bulk", "reactivate", "--reason", "soon").exit_code == 2
    unknown = run("bulk", "disqualify", "--filter", "statecode eq 0", "--reason", "99", "--yes")
    assert unknown.exit_code == 2 and "99 is not a status reason of lead" in unknown.output
    assert run("bulk", "reactivate", "--older-than", "soon", "--yes").exit_code == 2
    assert run("bulk", "reactivate", "--resume", "x", "--filter", "a eq 1").exit_code == 2
    assert run("bulk", "reactivate", "--resume", "nope", "--yes").exit_code == 2
    result = run("bulk", "reactivate", "--reason", "lost", "--report", str(tmp_path / "r.txt"))
    assert result.exit_code == 2 and ".csv or .json" in result.output
    assert _writes(fake) == 0


def test_outage_stops_with_checkpoint_then_resume_by_id(
    fake: FakeDataverse, run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ids = seed_leads(fake, 30)
    real_create = bulk_cli.create_bulk_job

    def create_then_go_down(*args: Any, **kwargs: Any) -> str:
        job_id = real_create(*args, **kwargs)
        fake.faults.reset_next(10_000)  # the org becomes unreachable once the job is planned
        return job_id

    monkeypatch.setattr(bulk_cli, "create_bulk_job", create_then_go_down)
    # D365_MAX_RETRIES=0: the session gives up at once, so the test never waits on backoff.
    report = tmp_path / "partial.csv"
    result = run(
        "bulk",
        "reactivate",
        "--reason",
        "no-longer-interested",
        "--yes",
        "--report",
        str(report),
        D365_MAX_RETRIES="0",
    )
    assert result.exit_code == 5, result.output
    assert "--resume" in result.output
    assert {r["outcome"] for r in csv.DictReader(report.open())} == {"unfinished"}
    job_id = result.output.split("--resume ")[1].split()[0]
    assert all(fake.get("lead", i)["statecode"] == 2 for i in ids)  # type: ignore[index]
    fake.faults.clear()
    assert run("bulk", "disqualify", "--resume", job_id, "--yes").exit_code == 2
    resumed = run("bulk", "reactivate", "--resume", job_id, "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert all(fake.get("lead", i)["statecode"] == 0 for i in ids)  # type: ignore[index]


def test_bulk_drops_the_affinity_cookie(fake: FakeDataverse, run) -> None:  # type: ignore[no-untyped-def]
    fake.options.affinity_cookie = True
    ids = seed_leads(fake, 12)
    result = run("bulk", "reactivate", "--reason", "no-longer-interested", "--yes")
    assert result.exit_code == 0, result.output
    assert all(fake.get("lead", i)["statecode"] == 0 for i in ids)  # type: ignore[index]
    assert len(fake.journal) > 2
    assert all("ARRAffinity" not in (request.header("Cookie") or "") for request, _ in fake.journal)
