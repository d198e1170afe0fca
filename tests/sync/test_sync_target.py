"""The SQLAlchemy target on its own: schema create/extend, upserts, deletes, per dialect."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql

from d365leads.errors import SyncError
from d365leads.sync import SyncTarget
from d365leads.sync.tables import LEAD
from d365leads.sync.target import build_mirror_table, mssql_merge_sql

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
ID1 = "00000000-0000-0000-0000-000000000001"
ID2 = "00000000-0000-0000-0000-000000000002"


def _row(rid: str, subject: str, gen: int = 1) -> dict[str, object]:
    cols = LEAD.with_extras([])
    out: dict[str, object] = {}
    wire = {
        "leadid": rid,
        "subject": subject,
        "statecode": 0,
        "statecode@OData.Community.Display.V1.FormattedValue": "Open",
        "_parentaccountid_value": "AAAAAAAA-0000-0000-0000-000000000009",
        "modifiedon": "2026-01-05T08:00:00Z",
        "revenue": 12.5,
    }
    for col in cols:
        out.update(col.values(wire))
    out.update(_raw=wire, _synced_at=NOW, _deleted_at=None, _sync_gen=gen)
    return out


def test_upsert_is_idempotent_and_updates(db_url: str) -> None:
    with SyncTarget(db_url) as target:
        table = target.mirror_table(LEAD, LEAD.with_extras([]))
        with target.begin() as conn:
            target.upsert(conn, table, [_row(ID1, "first"), _row(ID2, "second")])
        with target.begin() as conn:
            target.upsert(conn, table, [_row(ID1, "changed")])
        with target.connect() as conn:
            rows = conn.execute(
                sa.select(
                    table.c.leadid,
                    table.c.subject,
                    table.c.statecode_label,
                    table.c.parentaccountid,
                    table.c.revenue,
                ).order_by(table.c.leadid)
            ).all()
        assert [tuple(r) for r in rows] == [
            (ID1, "changed", "Open", "aaaaaaaa-0000-0000-0000-000000000009", 12.5),
            (ID2, "second", "Open", "aaaaaaaa-0000-0000-0000-000000000009", 12.5),
        ]
        assert target.count("lead") == (2, 0)


def test_schema_is_extended_with_a_new_selected_column(db_url: str) -> None:
    with SyncTarget(db_url) as target:
        table = target.mirror_table(LEAD, LEAD.with_extras([]))
        with target.begin() as conn:
            target.upsert(conn, table, [_row(ID1, "kept")])
        assert "new_score" not in table.c
        wider = target.mirror_table(LEAD, LEAD.with_extras(["new_score"]))
        assert "new_score" in wider.c
        insp_cols = {c["name"] for c in sa.inspect(target.engine).get_columns("lead")}
        assert "new_score" in insp_cols
        with target.connect() as conn:
            assert conn.execute(sa.select(wider.c.subject, wider.c.new_score)).one() == (
                "kept",
                None,
            )


def test_tombstone_remove_and_sweep(db_url: str) -> None:
    with SyncTarget(db_url) as target:
        table = target.mirror_table(LEAD, LEAD.with_extras([]))
        with target.begin() as conn:
            target.upsert(conn, table, [_row(ID1, "a", gen=1), _row(ID2, "b", gen=2)])
            assert target.delete_ids(conn, table, [ID1], at=NOW, remove=False) == 1
            # already a tombstone: not counted twice
            assert target.delete_ids(conn, table, [ID1], at=NOW, remove=False) == 0
        assert target.count("lead") == (1, 1)
        with target.begin() as conn:
            assert target.sweep_unseen(conn, table, 3, at=NOW, remove=False) == 1
        assert target.count("lead") == (0, 2)
        with target.begin() as conn:
            assert target.delete_ids(conn, table, [ID1, ID2], at=NOW, remove=True) == 2
        assert target.count("lead") == (0, 0)


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    with SyncTarget(f"sqlite:///{tmp_path / 'x.db'}") as target:
        target.prepare()
        with target.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_sql_server_upsert_is_a_merge() -> None:
    table = build_mirror_table(LEAD, LEAD.with_extras([]))
    sql = mssql_merge_sql(table, ["leadid", "subject", "_raw"], "leadid", mssql.dialect())
    assert sql.startswith("MERGE INTO lead WITH (HOLDLOCK) AS tgt USING (SELECT :leadid AS ")
    assert "WHEN MATCHED THEN UPDATE SET tgt.subject = src.subject, tgt._raw = src._raw" in sql
    assert "WHEN NOT MATCHED THEN INSERT (leadid, subject, _raw)" in sql
    assert "tgt.leadid = src.leadid" in sql
    ddl = str(sa.schema.CreateTable(table).compile(dialect=mssql.dialect()))
    assert "subject NVARCHAR(max) NULL" in ddl and "NTEXT" not in ddl
    assert "leadid VARCHAR(36) NOT NULL" in ddl


def test_bad_urls_are_explained_and_passwords_hidden(tmp_path: Path) -> None:
    with pytest.raises(SyncError, match="not a database URL"):
        SyncTarget("no-such-scheme")
    with pytest.raises(SyncError, match="folder of the SQLite file"):
        SyncTarget(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    target = SyncTarget("postgresql://user:s3cret-pw@127.0.0.1:1/db")
    assert "s3cret-pw" not in repr(target)
    assert "s3cret-pw" not in target.url
    target.close()
