"""WAL checkpoints of an SQLite mirror run on their own thread, after the commits."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from d365leads.client import DataverseClient
from d365leads.fake import FakeDataverse
from d365leads.sync import SyncTarget, pull
from d365leads.sync.checkpoint import WAL_PAGES_BEFORE_CHECKPOINT, BackgroundCheckpoint


def _wal_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT)")
    conn.executemany("INSERT INTO t (text) VALUES (?)", [("x" * 2000,) for _ in range(500)])
    return conn


def test_the_committed_pages_reach_the_database_file_after_a_poke(tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    writer = _wal_database(path)
    try:
        before = os.path.getsize(path)
        checkpoint = BackgroundCheckpoint(str(path))
        checkpoint.poke()
        checkpoint.close()  # joins the thread after its last checkpoint
        assert os.path.getsize(path) > before + 500 * 2000
        # Nothing was left in the WAL to copy.
        busy, frames, copied = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert (busy, frames) == (0, copied)
    finally:
        writer.close()


def test_without_a_poke_nothing_is_checkpointed_and_close_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    writer = _wal_database(path)
    try:
        before = os.path.getsize(path)
        BackgroundCheckpoint(str(path)).close()
        assert os.path.getsize(path) == before
    finally:
        writer.close()


def test_a_pull_into_sqlite_leaves_the_safety_net_and_a_checkpointed_file(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    fake.seed("lead", [{"lastname": f"Lee{i}", "description": "d" * 500} for i in range(40)])
    path = tmp_path / "mirror.db"
    with SyncTarget(f"sqlite:///{path}") as target:
        pull(client, target, ["lead"], page_size=10)
        with target.connect() as conn:
            [(pages,)] = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").fetchall()
        assert pages == WAL_PAGES_BEFORE_CHECKPOINT
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM lead").fetchone() == (40,)
