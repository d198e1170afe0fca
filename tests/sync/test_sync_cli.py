"""The ``d365leads sync`` commands end to end against the in-process fake."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from d365leads.cli.app import cli
from d365leads.fake import FakeDataverse, FakeOptions, ManualClock


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("D365", "AZURE_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("D365LEADS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("NO_COLOR", "1")
    yield


def _run(fake: FakeDataverse, *args: str) -> Result:
    runner = CliRunner()
    return runner.invoke(
        cli,
        ["--url", fake.org_url, "-o", "json", *args],
        env={"D365_ACCESS_TOKEN": "cli-token"},
        catch_exceptions=False,
    )


def _leads(fake: FakeDataverse, n: int) -> list[str]:
    return fake.seed(
        "lead",
        [{"lastname": f"L{i}", "emailaddress1": f"l{i}@example.com"} for i in range(n)],
    )


def test_pull_then_status(fake: FakeDataverse, tmp_path: Path) -> None:
    ids = _leads(fake, 7)
    db = tmp_path / "mirror.db"
    first = _run(fake, "sync", "pull", "--db", str(db), "--tables", "lead", "--page-size", "3")
    assert first.exit_code == 0, first.stderr
    [row] = json.loads(first.stdout)
    assert (row["table"], row["mode"], row["written"], row["pages"]) == ("lead", "delta", 7, 3)
    fake.store.delete("lead", ids[0])
    second = _run(fake, "sync", "pull", "--db", f"sqlite:///{db}", "--tables", "lead")
    assert second.exit_code == 0, second.stderr
    assert json.loads(second.stdout)[0]["deleted"] == 1
    status = _run(fake, "sync", "status", "--db", str(db))
    assert status.exit_code == 0, status.stderr
    [st] = json.loads(status.stdout)
    assert (st["table"], st["rows"], st["tombstones"], st["mode"]) == ("lead", 6, 1, "delta")
    assert st["last_sync_at"]


def test_pull_says_plainly_when_deletes_are_not_captured(tmp_path: Path) -> None:
    fake = FakeDataverse(options=FakeOptions(change_tracking_tables=("account",)))
    _leads(fake, 2)
    with fake.mock():
        result = _run(fake, "sync", "pull", "--db", str(tmp_path / "m.db"), "--tables", "lead")
    assert result.exit_code == 0, result.stderr
    assert "deletes are NOT captured" in result.stderr
    assert json.loads(result.stdout)[0]["deletes_captured"] is False


def test_status_of_an_empty_database(fake: FakeDataverse, tmp_path: Path) -> None:
    result = _run(fake, "sync", "status", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "There is no database at" in result.stderr
    assert not (tmp_path / "none.db").exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    result = _run(fake, "sync", "status", "--db", str(empty))
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    assert "holds no synced table yet" in result.stderr


def test_push_validates_confirms_writes_and_reports(fake: FakeDataverse, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("emailaddress1,lastname\nnope,A\n", encoding="utf-8")
    refused = _run(fake, "sync", "push", str(bad))
    assert refused.exit_code == 2
    assert "line 2, column emailaddress1: 'nope' is not an e-mail address" in refused.stderr
    good = tmp_path / "good.csv"
    good.write_text("emailaddress1,lastname\na@example.com,A\nb@example.com,B\n", encoding="utf-8")
    unconfirmed = _run(fake, "sync", "push", str(good))
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr
    assert fake.rows("lead") == []
    dry = _run(fake, "sync", "push", str(good), "--dry-run")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["created"] == 2
    assert fake.rows("lead") == []
    report = tmp_path / "report.json"
    done = _run(fake, "sync", "push", str(good), "--yes", "--report", str(report))
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 2
    assert len(fake.rows("lead")) == 2
    assert json.loads(report.read_text(encoding="utf-8"))["created"] == 2


def test_push_with_rows_dataverse_refuses_exits_4(fake: FakeDataverse, tmp_path: Path) -> None:
    source = tmp_path / "p.csv"
    source.write_text(
        "emailaddress1,parentaccountid\nx@example.com,00000000-0000-0000-0000-0000000000ab\n",
        encoding="utf-8",
    )
    result = _run(fake, "sync", "push", str(source), "--yes")
    assert result.exit_code == 4
    assert "line 2:" in result.stderr and "1 of 1 rows failed" in result.stderr


def test_expired_token_with_no_auto_resync_exits_5(tmp_path: Path) -> None:
    clock = ManualClock()
    fake = FakeDataverse(clock=clock)
    _leads(fake, 2)
    db = str(tmp_path / "m.db")
    with fake.mock():
        assert _run(fake, "sync", "pull", "--db", db).exit_code == 0
        clock.advance(8 * 86400)
        stopped = _run(fake, "sync", "pull", "--db", db, "--tables", "lead", "--no-auto-resync")
        assert stopped.exit_code == 5
        assert "expired" in stopped.stderr and "--full" in stopped.stderr
        resynced = _run(fake, "sync", "pull", "--db", db, "--tables", "lead")
        assert resynced.exit_code == 0
        assert "running a full resync" in resynced.stderr
        assert json.loads(resynced.stdout)[0]["pass"] == "full"


def test_pull_raw_none_leaves_raw_null_and_is_refused_for_a_fetchxml_mirror(
    fake: FakeDataverse, tmp_path: Path
) -> None:
    _leads(fake, 4)
    db = tmp_path / "narrow.db"
    done = _run(fake, "sync", "pull", "--db", str(db), "--tables", "lead", "--raw", "none")
    assert done.exit_code == 0, done.stderr
    with sqlite3.connect(db) as conn:
        counts = conn.execute("SELECT count(*), count(_raw), count(lastname) FROM lead").fetchone()
    conn.close()
    assert counts == (4, 0, 4)
    query = tmp_path / "q.xml"
    query.write_text("<fetch><entity name='lead'><attribute name='lastname'/></entity></fetch>")
    refused = _run(fake, "sync", "pull", "--db", str(db), "--fetchxml", str(query), "--raw", "none")
    assert refused.exit_code == 2 and "--raw none is for whole-table mirrors" in refused.stderr
