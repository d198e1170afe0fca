"""``d365leads sync pull --fetchxml FILE`` end to end, against both adapters of the fake."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from d365leads.cli.app import cli
from d365leads.fake import FakeDataverse

QUERY = (
    "<fetch>\n  <entity name='account'>\n    <attribute name='name'/>\n"
    "    <filter><condition attribute='statecode' operator='eq' value='0'/></filter>\n"
    "  </entity>\n</fetch>\n"
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("D365", "AZURE_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("D365LEADS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("NO_COLOR", "1")
    yield


@pytest.fixture(params=["in-process", "server"])
def org(request: pytest.FixtureRequest) -> Iterator[tuple[FakeDataverse, str]]:
    fake = FakeDataverse(sleep=lambda _s: None)
    if request.param == "in-process":
        with fake.mock():
            yield fake, fake.org_url
    else:
        with fake.serve() as server:
            yield fake, server.url


def _run(url: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["--url", url, "-o", "json", *args],
        env={"D365_ACCESS_TOKEN": "cli-token"},
        catch_exceptions=False,
    )


def _row(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    [row] = json.loads(result.stdout)
    assert isinstance(row, dict)
    return row


def test_sync_pull_fetchxml_full_incremental_reconcile(
    org: tuple[FakeDataverse, str], tmp_path: Path
) -> None:
    fake, url = org
    active = fake.seed("account", [{"name": f"A{i}"} for i in range(3)])
    fake.seed("account", [{"name": "Gone", "statecode": 1, "statuscode": 2}])
    query = tmp_path / "active.xml"
    query.write_text(QUERY)
    db = ["--db", str(tmp_path / "m.db")]
    first = _run(url, "sync", "pull", "--fetchxml", str(query), *db, "--page-size", "2")
    row = _row(first)
    assert (row["table"], row["mode"], row["written"], row["pages"]) == (
        "account",
        "watermark",
        3,
        2,
    )
    assert "no change tracking for a FetchXML mirror: watermark pass on modifiedon" in first.stderr
    fake.store.delete("account", active[0])
    plain = _row(_run(url, "sync", "pull", "--fetchxml", str(query), *db))
    assert (plain["pass"], plain["deleted"], plain["deletes_captured"]) == (
        "incremental",
        0,
        False,
    )
    rec = _row(_run(url, "sync", "pull", "--fetchxml", str(query), *db, "--reconcile"))
    assert (rec["deleted"], rec["deletes_captured"]) == (1, True)
    status = json.loads(_run(url, "sync", "status", *db).stdout)
    assert [(s["table"], s["rows"], s["tombstones"], s["mode"]) for s in status] == [
        ("account", 2, 1, "watermark")
    ]
    # The status names the query the mirror follows and how long since it last reconciled.
    assert re.fullmatch("[0-9a-f]{64}", status[0]["fetchxml_sha256"])
    assert status[0]["runs_since_reconcile"] == 0


def test_sync_pull_fetchxml_refusals(org: tuple[FakeDataverse, str], tmp_path: Path) -> None:
    fake, url = org
    fake.seed("account", [{"name": "A"}])
    query = tmp_path / "q.xml"
    query.write_text(QUERY)
    db = ["--db", str(tmp_path / "m.db")]
    broken = tmp_path / "broken.xml"
    broken.write_text("<fetch>\n<entity name='account'>\n</fetch>")
    before = len(fake.requests())
    bad = _run(url, "sync", "pull", "--fetchxml", str(broken), *db)
    assert bad.exit_code == 2 and "line 3" in bad.stderr
    wrong = _run(url, "sync", "pull", "--fetchxml", str(query), "--tables", "lead", *db)
    assert wrong.exit_code != 0 and "but the mirror is of 'lead'" in wrong.stderr
    both = _run(url, "sync", "pull", "--fetchxml", str(query), "--select", "name", *db)
    assert both.exit_code == 2 and "do not apply to a FetchXML mirror" in both.stderr
    alone = _run(url, "sync", "pull", "--reconcile", *db)
    assert alone.exit_code == 2 and "--fetchxml FILE" in alone.stderr
    assert len(fake.requests()) == before
    _row(_run(url, "sync", "pull", "--fetchxml", str(query), *db))
    query.write_text(QUERY.replace("value='0'", "value='1'"))
    changed = _run(url, "sync", "pull", "--fetchxml", str(query), *db)
    assert changed.exit_code != 0 and "--rebuild" in changed.stderr
    rebuilt = _row(_run(url, "sync", "pull", "--fetchxml", str(query), *db, "--rebuild"))
    assert rebuilt["full_reason"] == "the FetchXML changed (--rebuild)" and rebuilt["deleted"] == 1
