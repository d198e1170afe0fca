"""One chaos trial per job for ``bench/chaos.py``: seed, fault mix, kill, resume, verify.

Verification reads only the fake (raw HTTP) and the sync mirror (``sqlite3``).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos_fake import TOKEN, FakeProcess

__all__ = ["Trial", "run_bulk_trial", "run_sync_trial"]

RUN_TIMEOUT_S = 90.0
MAX_RUNS = 12
PICK = "chaos-pick"
KEEP = "chaos-keep"
# Dataverse lead states and status reasons (statecode, statuscode).
TARGETS = {"reactivate": (0, 1), "disqualify": (2, 5), "qualify": (1, 3)}
START = {"reactivate": (2, 6), "disqualify": (0, 1), "qualify": (0, 1)}
JOB_ARGS = {
    "reactivate": ["bulk", "reactivate", "--status", "new"],
    "disqualify": ["bulk", "disqualify", "--reason", "cannot-contact"],
    "qualify": ["bulk", "qualify"],
}


@dataclass
class Trial:
    """What one trial did and found."""

    job: str
    seed: int
    kills: int = 0
    faults: int = 0
    runs: int = 0
    lost: int = 0
    duplicated: int = 0
    touched: int = 0
    early_retries: int = 0
    resent: int = 0
    """State writes that found the record already in that state (no-op, not duplicated)."""
    finished: bool = False
    detail: str = ""
    seconds: float = 0.0

    @property
    def survived(self) -> bool:
        """Finished with nothing lost, duplicated or touched and no early retry."""
        return self.finished and not (
            self.lost or self.duplicated or self.touched or self.early_retries
        )


def _env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("D365", "AZURE_"))}
    env.update(
        D365_ACCESS_TOKEN=TOKEN,
        D365LEADS_CONFIG_DIR=str(workdir / "config"),
        D365_TIMEOUT="1",
        D365_MAX_RETRY_TIME="60",
        PYTHONUNBUFFERED="1",
    )
    return env


def fault_mix(rng: random.Random, seed: int) -> list[str]:
    """A random mix of the fake's faults; writes are the usual target (POST = $batch/actions)."""
    menu = [
        lambda: f"throttle:{rng.randint(1, 3)}:1@{rng.choice(['POST', '*'])}",
        lambda: f"5xx:{rng.randint(1, 2)}:{rng.choice([500, 502, 503, 504])}",
        lambda: f"5xx:{rng.randint(1, 2)}:503@POST",
        lambda: f"reset:{rng.randint(1, 3)}@{rng.choice(['POST', 'GET'])}",
        lambda: f"lost:{rng.randint(1, 3)}:as={rng.choice(['timeout', 'reset', '504'])}@POST",
        lambda: f"timeout:1@{rng.choice(['POST', 'GET'])}",
        lambda: f"random:0.03:seed={seed}:kinds=5xx+reset+throttle+timeout",
    ]
    picks = rng.sample(range(len(menu)), rng.randint(2, 3))
    return [menu[i]() for i in sorted(picks)]


def _journal_state(journal: Path) -> tuple[list[str], int]:
    """Job states and the number of done items in the bulk journal (read-only, tolerant)."""
    if not journal.exists():
        return [], 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=0.2) as db:
            states = [r[0] for r in db.execute("SELECT state FROM jobs")]
            done = db.execute("SELECT COUNT(*) FROM items WHERE status = 'done'").fetchone()[0]
            return states, int(done)
    except sqlite3.Error:
        return [], 0


KillWhen = Callable[[float], bool]


def run_cli(
    args: list[str], env: dict[str, str], kill_when: KillWhen | None, log: Path
) -> tuple[bool, int]:
    """Run ``d365leads ARGS`` (stderr to ``log``); SIGKILL it once ``kill_when(elapsed)`` says so.

    Returns ``(killed, exit code)``.
    """
    with log.open("ab") as err:
        err.write(("$ d365leads " + " ".join(args) + "\n").encode())
        err.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "d365leads", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    started = time.monotonic()
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - started
            if kill_when is not None and kill_when(elapsed):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True, -9
            if elapsed > RUN_TIMEOUT_S:
                proc.kill()
                proc.wait()
                return False, -1
            time.sleep(0.003)
        return False, proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_out_pause(fake: FakeProcess) -> None:
    # A killed process cannot know a Retry-After it was given; the rerun waits it out like an
    # operator would, so only requests of one process are judged for early retries.
    left = float(fake.stats()["pause_left_s"])
    if left > 0:
        time.sleep(left + 0.05)


def _kill_trigger(rng: random.Random, journal: Path | None, total: int) -> KillWhen:
    modes = ["time", "time"] + (["selecting", "progress"] if journal is not None else [])
    mode = rng.choice(modes)
    if mode == "selecting" and journal is not None:
        return lambda _elapsed: "selecting" in _journal_state(journal)[0]
    if mode == "progress" and journal is not None:
        target = rng.randint(0, max(0, total - 1))
        return lambda _elapsed: (
            _journal_state(journal)[1] >= target and bool(_journal_state(journal)[0])
        )
    delay = rng.uniform(0.3, 3.0)
    return lambda elapsed: elapsed >= delay


def _lead_snapshot(fake: FakeProcess) -> dict[str, dict[str, Any]]:
    rows = fake.rows("leads", "leadid,subject,statecode,statuscode,modifiedon,versionnumber")
    return {r["leadid"]: r for r in rows}


def run_bulk_trial(fake: FakeProcess, job: str, seed: int, workdir: Path) -> Trial:
    """Seed leads, script faults, run ``bulk JOB`` with kills and resumes, then verify."""
    started = time.monotonic()
    rng = random.Random(seed)
    trial = Trial(job, seed)
    n = rng.randint(20, 60)
    state, status = START[job]
    rows = [
        {
            "firstname": f"Chaos{i}",
            "lastname": f"Lead{i}",
            "companyname": f"Chaos Co {seed % 1000}-{i}",
            "subject": PICK if rng.random() < 0.7 else KEEP,
            "statecode": state,
            "statuscode": status,
        }
        for i in range(n)
    ]
    fake.seed("lead", rows)
    before = _lead_snapshot(fake)
    selected = {k for k, r in before.items() if r["subject"] == PICK}
    for spec in fault_mix(rng, seed):
        fake.add_fault(spec)
    journal = workdir / "jobs.sqlite"
    env = _env(workdir)
    first = [
        "--url",
        fake.url,
        *JOB_ARGS[job],
        "--filter",
        f"subject eq '{PICK}'",
        "--yes",
        "--journal",
        str(journal),
        "--batch-size",
        str(rng.choice([5, 10, 20])),
        "--concurrency",
        str(rng.choice([1, 2, 4])),
    ]
    resume = ["--url", fake.url, *JOB_ARGS[job][:2], "--resume-last", "--yes"]
    resume += ["--journal", str(journal)]
    last_rc = drive_bulk_job(fake, trial, rng, journal, (first, resume), env, len(selected))
    _verify_bulk(fake, job, trial, before, selected)
    note_unfinished(trial, last_rc, workdir / "stderr.log")
    trial.seconds = time.monotonic() - started
    return trial


def drive_bulk_job(
    fake: FakeProcess,
    trial: Trial,
    rng: random.Random,
    journal: Path,
    commands: tuple[list[str], list[str]],
    env: dict[str, str],
    selected: int,
) -> int:
    """Run a bulk job's first command, then its resume command, until the journal says it
    finished or it gives up, SIGKILLing it once or twice at random moments; returns the last
    exit code. ``selected`` (how many leads) places the progress kills."""
    first, resume = commands
    log = journal.parent / "stderr.log"
    kills_left = rng.choice([1, 1, 1, 2])
    last_rc = 0
    while trial.runs < MAX_RUNS:
        states, _ = _journal_state(journal)
        if states and all(s == "finished" for s in states):
            trial.finished = True  # killed after the job finished, before the process exited
            break
        args = resume if states else first
        trigger = _kill_trigger(rng, journal, selected) if kills_left else None
        if trial.runs:
            _wait_out_pause(fake)
        killed, last_rc = run_cli(args, env, trigger, log)
        trial.runs += 1
        if killed:
            trial.kills += 1
            kills_left -= 1
            continue
        if last_rc == 0:
            trial.finished = True
            break
        if last_rc != 5:  # 5 = stopped with a checkpoint: resume
            kills_left = 0
            if last_rc != 1:
                break
    return last_rc


def note_unfinished(trial: Trial, last_rc: int, log: Path) -> None:
    """Put the last exit code and stderr lines of a trial that did not finish in its detail."""
    if trial.finished:
        return
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    trial.detail = f"did not finish (last exit code {last_rc}: {' | '.join(tail)}); " + trial.detail


def _verify_bulk(
    fake: FakeProcess,
    job: str,
    trial: Trial,
    before: dict[str, dict[str, Any]],
    selected: set[str],
) -> None:
    stats = fake.stats()
    trial.faults = sum(stats["faults_fired"].values())
    trial.early_retries = int(stats["early_retries"]["total"])
    fake.clear_faults()  # the checks below must read the org, not meet its faults
    after = _lead_snapshot(fake)
    target = TARGETS[job]
    notes: list[str] = []
    for key, row in before.items():
        now = after.get(key)
        if key in selected:
            if now is None or (now["statecode"], now["statuscode"]) != target:
                trial.lost += 1
                notes.append(f"lead {key} not in {target}")
        elif now != row:
            trial.touched += 1
            notes.append(f"unselected lead {key} changed")
    _count_repeats(fake, job, trial, selected, notes)
    if job == "qualify":
        for entity_set in ("opportunities", "accounts", "contacts"):
            origins = Counter(
                r["_originatingleadid_value"]
                for r in fake.rows(entity_set, "_originatingleadid_value")
                if r["_originatingleadid_value"]
            )
            for lead, count in origins.items():
                if lead not in selected:
                    trial.touched += 1
                    notes.append(f"{entity_set} made from unselected lead {lead}")
                elif count > 1:
                    trial.duplicated += count - 1
                    notes.append(f"{count} {entity_set} from lead {lead}")
            if entity_set == "opportunities":
                missing = selected - set(origins)
                trial.lost += len(missing)
                notes += [f"no opportunity from lead {lead}" for lead in sorted(missing)]
    if trial.early_retries:
        notes.append(f"{trial.early_retries} early retries")
    trial.detail = "; ".join(notes[:5]) + (f" (+{len(notes) - 5} more)" if len(notes) > 5 else "")


def _count_repeats(
    fake: FakeProcess, job: str, trial: Trial, selected: set[str], notes: list[str]
) -> None:
    """Duplicates the org applied (``/_fake/applied``): per selected lead, a transition into
    the job's target state applied more than once, or (qualify) QualifyLead applied more
    than once.  A resumed job that sends a transition again to a lead already in the target
    state is a no-op for the service (``unchanged``): counted as re-sent, not duplicated."""
    target = "{}/{}".format(*TARGETS[job])
    applied = fake.applied("lead")["records"].get("lead", {})
    for lead in selected:
        counts: dict[str, int] = applied.get(lead, {})
        into = sum(n for what, n in counts.items() if what.endswith(f"->{target}"))
        extra = max(into - 1, counts.get("QualifyLead", 0) - 1, 0)
        if extra:
            trial.duplicated += extra
            notes.append(f"lead {lead}: applied {counts}")
        trial.resent += sum(n for what, n in counts.items() if what.startswith("unchanged "))


def run_sync_trial(fake: FakeProcess, seed: int, workdir: Path, job: str = "sync-pull") -> Trial:
    """Full pull, changes in the org, incremental pull; kills in both; mirror == org
    (``sync-fetchxml``: a FetchXML mirror, reconciled, == the org's matching rows)."""
    from chaos_sync import fetchxml_sync_trial, sync_trial

    trial = fetchxml_sync_trial if job == "sync-fetchxml" else sync_trial
    return trial(fake, seed, workdir, Trial(job, seed))
