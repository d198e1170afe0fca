"""Kill -9 a real ``d365leads bulk`` process mid-job, then ``--resume`` it to the end."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from d365leads.fake import FakeDataverse, FakeServer
from d365leads.fake.core.options import FakeOptions

from .conftest import seed_leads
from .processes import cli_env, serve_fake

pytestmark = pytest.mark.slow

N = 240


@pytest.fixture
def served() -> Iterator[tuple[FakeDataverse, FakeServer]]:
    # A little latency so the job is still running when the test kills it.
    yield from serve_fake(FakeOptions(dop_hint=2, latency_ms=40, op_cost_ms=1))


def _counts(journal: Path) -> Counter[str]:
    if not journal.exists():
        return Counter()
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as db:
            return Counter(dict(db.execute("SELECT status, COUNT(*) FROM items GROUP BY status")))
    except sqlite3.OperationalError:  # schema not created yet
        return Counter()


def _kill_when(
    args: list[str], env: dict[str, str], journal: Path, ready: Callable[[Counter[str]], bool]
) -> Counter[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "d365leads", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            counts = _counts(journal)
            if ready(counts):
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                return _counts(journal)
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the job ended (exit {proc.returncode}) before the kill: {err}")
            time.sleep(0.005)
        pytest.fail("the kill point was never reached")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    raise AssertionError("unreachable")


def _resume(action: str, url: str, env: dict[str, str], journal: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "d365leads",
            "--url",
            url,
            "bulk",
            action,
            "--resume-last",
            "--yes",
            "--journal",
            str(journal),
        ],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()


def _received_per_lead(fake: FakeDataverse, ids: list[str]) -> Counter[str]:
    """How many $batch requests that reached the fake's store carried each lead."""
    bodies = [r.body.decode() for r in fake.requests("POST", "$batch")]
    return Counter({i: sum(f"leads({i})" in b for b in bodies) for i in ids})


KILL_POINTS = {
    "first-in-flight": lambda c: c["inflight"] > 0,
    "a-third-done": lambda c: c["done"] >= N // 3,
    "two-thirds-done": lambda c: c["done"] >= 2 * N // 3,
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_reactivate_killed_then_resumed(
    served: tuple[FakeDataverse, FakeServer], tmp_path: Path, point: str
) -> None:
    fake, server = served
    ids = seed_leads(fake, N)
    journal = tmp_path / "jobs.sqlite"
    env = cli_env(tmp_path, "crash-test-token")
    args = [
        "--url",
        server.url,
        "bulk",
        "reactivate",
        "--reason",
        "no-longer-interested",
        "--yes",
        "--journal",
        str(journal),
        "--batch-size",
        "5",
        "--concurrency",
        "2",
    ]
    at_kill = _kill_when(args, env, journal, KILL_POINTS[point])
    assert at_kill["done"] < N
    _resume("reactivate", server.url, env, journal)
    assert _counts(journal) == Counter({"done": N})
    assert all(fake.get("lead", i)["statecode"] == 0 for i in ids)  # type: ignore[index]
    # Items in flight at the kill were re-read, not re-sent: no lead reached the org twice.
    assert set(_received_per_lead(fake, ids).values()) == {1}


@pytest.mark.parametrize("point", ["first-in-flight", "a-third-done"])
def test_qualify_killed_then_resumed_creates_one_opportunity_per_lead(
    served: tuple[FakeDataverse, FakeServer], tmp_path: Path, point: str
) -> None:
    fake, server = served
    ids = seed_leads(fake, N, state=0, status=1)
    journal = tmp_path / "jobs.sqlite"
    env = cli_env(tmp_path, "crash-test-token")
    args = [
        "--url",
        server.url,
        "bulk",
        "qualify",
        "--filter",
        "statecode eq 0",
        "--yes",
        "--journal",
        str(journal),
        "--batch-size",
        "5",
        "--concurrency",
        "2",
    ]
    _kill_when(args, env, journal, KILL_POINTS[point])
    _resume("qualify", server.url, env, journal)
    assert _counts(journal) == Counter({"done": N})
    assert all(fake.get("lead", i)["statecode"] == 1 for i in ids)  # type: ignore[index]
    origins = Counter(o["originatingleadid"] for o in fake.rows("opportunity"))
    assert len(origins) == N and set(origins.values()) == {1}
