"""A PostgreSQL server for the shared-journal tests, and a fresh database per test.

The server is the session's one (``pg_server_required`` in tests/conftest.py): it skips, or
fails under ``CI=true``, when there is none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa


def _admin(url: str) -> sa.Engine:
    parsed = sa.make_url(url).set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def bulk_pg_server(pg_server_required: str) -> str:
    """URL of the session's PostgreSQL server (tests/conftest.py), shared with the sync tests."""
    return pg_server_required


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
