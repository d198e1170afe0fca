"""The short, seeded form of ``bench/chaos.py`` run in CI: every job survives kills and faults.

The trials run the real ``d365leads`` CLI against the fake as a subprocess and check the org
(and the sync mirror) with raw HTTP and ``sqlite3`` only; the full 200-trial table is in
``bench/results/chaos.md``.  Two trials per job (bulk reactivate, disqualify, qualify, update,
assign; sync pull, a FetchXML mirror, sync push), three at a time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _chaos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )


def test_short_seeded_chaos_run(tmp_path: Path) -> None:
    out = tmp_path / "chaos.md"
    done = _chaos("--trials", "16", "--base-seed", "2026", "--workers", "3", "--out", str(out))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    table = out.read_text(encoding="utf-8")
    total = next(line for line in table.splitlines() if line.startswith("| all |"))
    cells = [c.strip() for c in total.strip("|").split("|")]
    trials, kills, _faults, survived, lost, duplicated, touched, early = map(int, cells[1:])
    assert trials == survived == 16
    for job in ("reactivate", "qualify", "update", "assign", "sync-fetchxml", "sync-push"):
        assert f"| {job} | 2 |" in table
    assert kills > 0
    assert (lost, duplicated, touched, early) == (0, 0, 0, 0)
