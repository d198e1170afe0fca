"""Database URLs for the sync tests: SQLite always, PostgreSQL when one can be had.

PostgreSQL comes from ``D365LEADS_TEST_PG_URL``; without it the session starts a throwaway
server with ``scripts/pg-test-server.sh`` (stopped at the end). When neither works the
PostgreSQL cases skip with the reason, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from d365leads.auth import StaticTokenProvider
from d365leads.client import DataverseClient
from d365leads.fake import FakeDataverse, FakeOptions, ManualClock


def _psycopg_url(url: str) -> sa.URL:
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _fresh_pg_database(server_url: str) -> tuple[str, sa.Engine, str]:
    admin = sa.create_engine(_psycopg_url(server_url), isolation_level="AUTOCOMMIT")
    name = f"sync_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = _psycopg_url(server_url).set(database=name)
    return url.render_as_string(hide_password=False), admin, name


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: an SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mirror.db'}"
        return
    pg_server_url = request.getfixturevalue("pg_server_required")
    url, admin, name = _fresh_pg_database(pg_server_url)
    try:
        yield url
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


# --- the fake and a client bound to it ---------------------------------------------------------

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> ManualClock:
    """The fake's clock; tests advance it by hand (nothing waits)."""
    return ManualClock(T0)


@pytest.fixture
def fake_options() -> FakeOptions:
    """Options of the fake (override in a test module to change them)."""
    return FakeOptions()


@pytest.fixture
def fake(clock: ManualClock, fake_options: FakeOptions) -> Iterator[FakeDataverse]:
    """A fresh fake org installed in-process, on the manual clock."""
    dv = FakeDataverse(options=fake_options, clock=clock, sleep=lambda _s: None)
    with dv.mock():
        yield dv
    assert not dv.errors, f"the fake raised: {dv.errors!r}"


@pytest.fixture
def client(fake: FakeDataverse) -> Iterator[DataverseClient]:
    """A client for the fake with a static token and a sleep that never waits."""
    with DataverseClient(
        fake.org_url, token_provider=StaticTokenProvider("test-token"), sleep=lambda _s: None
    ) as dv_client:
        yield dv_client
