"""A PostgreSQL server for the shared-journal tests, and a fresh database per test.

``D365LEADS_TEST_PG_URL`` names a server to use; without it the session starts a throwaway one
with ``scripts/pg-test-server.sh`` (stopped at the end).  When neither works the tests skip,
except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-test-server.sh"


def _admin(url: str) -> sa.Engine:
    parsed = sa.make_url(url).set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def bulk_pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server (skips, or fails under CI, when there is none)."""
    url = os.environ.get("D365LEADS_TEST_PG_URL")
    if url:
        yield url
        return
    state = tmp_path_factory.mktemp("bulk-pg") / "server.state"
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", str(state)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        problem = started.stderr.strip()[-400:] if started.returncode else ""
    except (OSError, subprocess.TimeoutExpired) as exc:
        started, problem = None, str(exc)
    if started is None or problem or not started.stdout.strip():
        message = f"the shared-journal tests need PostgreSQL ({problem or 'no URL printed'})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(
            ["bash", str(SCRIPT), "stop", str(state)], capture_output=True, timeout=60, check=False
        )


@pytest.fixture
def pg_journal_url(bulk_pg_server: str) -> Iterator[str]:
    """A URL of a fresh, empty database on the server, dropped after the test."""
    admin = _admin(bulk_pg_server)
    name = f"bulk_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(bulk_pg_server).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
