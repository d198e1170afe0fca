"""A bulk job selected by a saved view or a FetchXML file: dry run, kill -9, resume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from d365leads.cli.app import cli
from d365leads.fake import FakeDataverse, FakeServer

from .conftest import seed_leads
from .processes import cli_env
from .test_crash_resume import (
    KILL_POINTS,
    _counts,
    _kill_when,
    _received_per_lead,
    _resume,
    served,
)

__all__ = ["served"]  # the fixture, shared with the crash tests

N = 240
TARGET_XML = (
    "<fetch><entity name='lead'><attribute name='leadid'/><filter>"
    "<condition attribute='companyname' operator='begins-with' value='Target'/>"
    "<condition attribute='statecode' operator='eq' value='0'/>"
    "</filter></entity></fetch>"
)


def _seed(fake: FakeDataverse) -> tuple[list[str], list[str]]:
    targets = seed_leads(fake, N, state=0, status=1, companyname="Target Co")
    others = seed_leads(fake, 20, state=0, status=1, companyname="Other Co")
    fake.seed(
        "userquery",
        {
            "name": "Target leads",
            "returnedtypecode": "lead",
            "querytype": 0,
            "fetchxml": TARGET_XML,
        },
    )
    return targets, others


def _cli(server: FakeServer, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"D365_URL": server.url, **cli_env(tmp_path, "crash-test-token")}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_disqualify_by_view_dry_run_kill_and_resume(
    served: tuple[FakeDataverse, FakeServer], tmp_path: Path
) -> None:
    fake, server = served
    targets, others = _seed(fake)
    journal = tmp_path / "jobs.sqlite"
    common = ["--journal", str(journal), "--batch-size", "5", "--concurrency", "2"]
    version = fake.store.version

    code, out, err = _cli(
        server, tmp_path, "-o", "json", "bulk", "disqualify", "--view", "Target leads",
        "--dry-run", *common,
    )  # fmt: skip
    assert code == 0, err
    plan = json.loads(out)
    assert plan["to_write"] == N
    assert plan["transitions"] == {"Open/New -> Disqualified/Lost": N}
    assert fake.store.version == version  # reads only ($batch GETs of the selected leads)
    assert not journal.exists() or _counts(journal) == Counter()

    args = ["--url", server.url, "bulk", "disqualify", "--view", "Target leads", "--yes"]
    at_kill = _kill_when(
        [*args, *common],
        cli_env(tmp_path, "crash-test-token"),
        journal,
        KILL_POINTS["a-third-done"],
    )
    assert N // 3 <= at_kill["done"] < N
    # The view's answer changes after the kill; the job keeps the leads it selected.
    fake.seed("lead", {"lastname": "Late", "companyname": "Target Late", "statecode": 0})
    _resume("disqualify", server.url, cli_env(tmp_path, "crash-test-token"), journal)
    assert _counts(journal) == Counter({"done": N})
    assert all(fake.get("lead", i)["statecode"] == 2 for i in targets)  # type: ignore[index]
    assert all(fake.get("lead", i)["statecode"] == 0 for i in others)  # type: ignore[index]
    assert fake.rows("lead", lastname="Late")[0]["statecode"] == 0
    assert set(_received_per_lead(fake, targets).values()) == {1}


def test_selection_by_fetchxml_file_and_refusals(
    served: tuple[FakeDataverse, FakeServer], tmp_path: Path
) -> None:
    fake, server = served
    _seed(fake)
    version = fake.store.version
    query = tmp_path / "target.xml"
    query.write_text(TARGET_XML)
    journal = ["--journal", str(tmp_path / "jobs.sqlite")]
    code, out, err = _cli(
        server, tmp_path, "-o", "json", "bulk", "qualify", "--fetchxml", str(query),
        "--dry-run", *journal,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["to_write"] == N

    broken = tmp_path / "broken.xml"
    broken.write_text("<fetch><entity name='lead'>")
    code, _, err = _cli(
        server, tmp_path, "bulk", "qualify", "--fetchxml", str(broken), "--yes", *journal
    )
    assert code == 2 and "not well-formed" in err
    code, _, err = _cli(
        server, tmp_path, "bulk", "qualify", "--view", "Target leads", "--filter",
        "statecode eq 0", "--yes", *journal,
    )  # fmt: skip
    assert code == 2 and "--view or --fetchxml is the whole selection" in err
    code, _, err = _cli(
        server, tmp_path, "bulk", "qualify", "--view", "Targett leads", "--yes", *journal
    )
    assert code == 2 and "did you mean: 'Target leads'" in err
    assert fake.store.version == version
