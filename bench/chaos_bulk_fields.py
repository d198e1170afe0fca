"""Chaos trials of ``bulk update --set`` and ``bulk assign --owner`` for ``bench/chaos.py``.

Each trial seeds open leads (about 70% selected by subject) and, for assign, an owner team
and a decoy team with a near name; scripts a random fault mix; runs the real CLI with SIGKILLs
and ``--resume-last`` until the job reports done, as the state jobs' trials do. Verification
reads the fake over raw HTTP only:

* lost: a selected lead without the new values (or the new owner);
* touched outside the selection: an unselected lead whose row changed at all;
* duplicated: none can be seen for a field write (writing the same values twice leaves no
  trace), so it stays 0;
* early retries: requests sent while a ``Retry-After`` pause ran (counted by the fake).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from chaos_fake import FakeProcess
from chaos_runs import (
    KEEP,
    PICK,
    Trial,
    _env,
    drive_bulk_job,
    fault_mix,
    note_unfinished,
)

__all__ = ["FIELD_JOBS", "run_field_trial"]

FIELD_JOBS = ("update", "assign")
_COLUMNS = "leadid,subject,jobtitle,leadsourcecode,_ownerid_value,statecode,statuscode,modifiedon"


def _snapshot(fake: FakeProcess) -> dict[str, dict[str, Any]]:
    return {r["leadid"]: r for r in fake.rows("leads", _COLUMNS)}


def run_field_trial(fake: FakeProcess, job: str, seed: int, workdir: Path) -> Trial:
    """Seed, script faults, run ``bulk update``/``bulk assign`` with kills and resumes, verify."""
    started = time.monotonic()
    rng = random.Random(seed)
    trial = Trial(job, seed)
    n = rng.randint(20, 60)
    fake.seed(
        "lead",
        [
            {
                "firstname": f"Chaos{i}",
                "lastname": f"Lead{i}",
                "subject": PICK if rng.random() < 0.7 else KEEP,
                "jobtitle": "Before",
                "statecode": 0,
                "statuscode": 1,
            }
            for i in range(n)
        ],
    )
    title = f"After {seed}"
    if job == "assign":
        team, _decoy = fake.seed(
            "team",
            [{"name": f"Chaos Team {seed}", "teamtype": 0}, {"name": f"Chaos Team {seed}0"}],
        )
        change = ["--owner", f"Chaos Team {seed}", "--owner-type", "team"]
        wanted: dict[str, Any] = {"_ownerid_value": team}
    else:
        change = ["--set", f"jobtitle={title}", "--set", "leadsourcecode=Web"]
        wanted = {"jobtitle": title, "leadsourcecode": 8}
    before = _snapshot(fake)
    selected = {k for k, r in before.items() if r["subject"] == PICK}
    for spec in fault_mix(rng, seed):
        fake.add_fault(spec)
    journal = workdir / "jobs.sqlite"
    env = _env(workdir)
    first = [
        "--url", fake.url, "bulk", job, *change, "--filter", f"subject eq '{PICK}'", "--yes",
        "--journal", str(journal), "--batch-size", str(rng.choice([5, 10, 20])),
        "--concurrency", str(rng.choice([1, 2, 4])),
    ]  # fmt: skip
    resume = ["--url", fake.url, "bulk", job, "--resume-last", "--yes", "--journal", str(journal)]
    last_rc = drive_bulk_job(fake, trial, rng, journal, (first, resume), env, len(selected))
    _verify(fake, trial, before, selected, wanted)
    note_unfinished(trial, last_rc, workdir / "stderr.log")
    trial.seconds = time.monotonic() - started
    return trial


def _verify(
    fake: FakeProcess,
    trial: Trial,
    before: dict[str, dict[str, Any]],
    selected: set[str],
    wanted: dict[str, Any],
) -> None:
    stats = fake.stats()
    trial.faults = sum(stats["faults_fired"].values())
    trial.early_retries = int(stats["early_retries"]["total"])
    fake.clear_faults()  # the checks below must read the org, not meet its faults
    after = _snapshot(fake)
    notes: list[str] = []
    for key, row in before.items():
        now = after.get(key)
        if key in selected:
            if now is None or any(now.get(c) != v for c, v in wanted.items()):
                trial.lost += 1
                notes.append(f"lead {key} lacks {wanted}")
        elif now != row:
            trial.touched += 1
            notes.append(f"unselected lead {key} changed")
    if trial.early_retries:
        notes.append(f"{trial.early_retries} early retries")
    trial.detail = "; ".join(notes[:5]) + (f" (+{len(notes) - 5} more)" if len(notes) > 5 else "")
