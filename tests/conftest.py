"""Suite-wide pytest setup: pytester, and one throwaway PostgreSQL server for the session.

``pytester`` (pytest's own fixture for running pytest on generated test files) is enabled here:
``pytest_plugins`` is only honoured in a top-level conftest, and the cassette plugin's end-to-end
tests (tests/cassette/test_pytest_plugin.py) need it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pg-test-server.sh"
_PG_PROBLEMS: list[str] = []


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """URL of a PostgreSQL server for the tests, or ``None`` (with the reason recorded)."""
    url = os.environ.get("D365LEADS_TEST_PG_URL")
    if url:
        yield url
        return
    state = tmp_path_factory.mktemp("pg") / "server.state"
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", str(state)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _PG_PROBLEMS.append(f"starting {SCRIPT.name} failed: {exc}")
        yield None
        return
    if started.returncode != 0 or not started.stdout.strip():
        _PG_PROBLEMS.append(
            f"{SCRIPT.name} could not start PostgreSQL: {started.stderr.strip()[-500:]}"
        )
        yield None
        return
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(
            ["bash", str(SCRIPT), "stop", str(state)], capture_output=True, timeout=60, check=False
        )


@pytest.fixture(scope="session")
def pg_server_required(pg_server_url: str | None) -> str:
    """The PostgreSQL server's URL; the test skips without one (fails under ``CI=true``).

    One throwaway server serves the whole session (sync mirrors and shared bulk journals).
    """
    if pg_server_url is None:
        reason = "; ".join(_PG_PROBLEMS) or "no PostgreSQL server"
        message = (
            "PostgreSQL tests need a server: set D365LEADS_TEST_PG_URL or make "
            f"scripts/pg-test-server.sh work ({reason})"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return pg_server_url
