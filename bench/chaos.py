"""Chaos trials: seeded, reproducible kill -9 and fault runs of real ``d365leads`` jobs.

Run it from the repository root::

    python bench/chaos.py --trials 200           # prints the table, writes bench/results/chaos.md
    python bench/chaos.py --job qualify --seed 7  # replay one trial (printed by a failing one)
    python bench/chaos.py --trials 40 --job update --job assign   # the field jobs only

Each trial takes a seed, starts from a fresh org in a fake Dataverse run as a subprocess
(``python -m d365leads.fake``), seeds leads, scripts a random fault mix from the fake's fault plan
(429 storms, 5xx bursts, connection resets, responses lost after commit, timeouts, random
failures) and runs a real ``d365leads`` subprocess that it SIGKILLs at a random moment (while
the selection is read, at a random count of finished leads, or after a random delay, which
lands in journal commits too).  It then resumes (``--resume-last``; a plain rerun when the kill
came before the job existed, and for sync) until the job reports done.

Verification never uses the client's code: only raw HTTP against the fake (the Web API and
its ``/_fake/`` control plane) and ``sqlite3`` on the sync mirror.  Per trial it counts:

* lost: a selected lead not in its target state (or a mirror row missing or different);
* duplicated: a state change applied twice to one lead (a transition into the job's target
  state, or QualifyLead, counted by the fake per record: ``GET /_fake/applied``), more than
  one opportunity, account or contact from one qualified lead, a mirror row twice, or a
  pushed CSV row's lead created twice.  A resumed job that sends a transition again to a
  lead already in its target state is a no-op for the service (it changes no state): it is
  counted apart as "re-sent", not as duplicated;
* touched outside the selection: an unselected lead (or its children) changed;
* early retries: Web API requests sent while a ``Retry-After`` pause still ran (the fake
  counts them).

A trial survives when all four are zero and the job finished.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_bulk_fields import FIELD_JOBS, run_field_trial
from chaos_fake import FakeProcess
from chaos_push import JOB as PUSH_JOB
from chaos_push import push_trial
from chaos_runs import Trial, run_bulk_trial, run_sync_trial

__all__ = ["JOBS", "main", "run_trial"]

BULK_JOBS = ("reactivate", "disqualify", "qualify", *FIELD_JOBS)
SYNC_JOBS = ("sync-pull", "sync-fetchxml", PUSH_JOB)
JOBS = BULK_JOBS + SYNC_JOBS
RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = (
    "job",
    "trials",
    "kills",
    "faults injected",
    "survived",
    "lost",
    "duplicated",
    "touched outside the selection",
    "early retries",
)
FAKE_ARGS = ("--latency-ms", "4", "--dop-hint", "4")


def run_trial(fake: FakeProcess, job: str, seed: int, workdir: Path) -> Trial:
    """One seeded trial of ``job`` against a freshly reset fake."""
    fake.reset()
    if job == PUSH_JOB:
        return push_trial(fake, seed, workdir, Trial(job, seed))
    if job in SYNC_JOBS:
        return run_sync_trial(fake, seed, workdir, job)
    if job in FIELD_JOBS:
        return run_field_trial(fake, job, seed, workdir)
    return run_bulk_trial(fake, job, seed, workdir)


def replay_command(job: str, seed: int) -> str:
    """The exact command that runs one trial again."""
    return f"python bench/chaos.py --job {job} --seed {seed}"


def schedule(trials: int, jobs: Sequence[str], base_seed: int) -> list[tuple[str, int]]:
    """The trials to run: jobs in turn, each with its own seed derived from ``base_seed``."""
    rng = random.Random(base_seed)
    return [(jobs[i % len(jobs)], rng.randrange(1, 2**31)) for i in range(trials)]


def run_all(
    plan: list[tuple[str, int]],
    *,
    on_trial: Callable[[Trial], None] | None = None,
    keep: Path | None = None,
    workers: int = 1,
) -> list[Trial]:
    """Run the trials, each worker against its own fake subprocess (reset before each trial).

    ``keep`` keeps each trial's journal, mirror and stderr log there.  Results come back in
    ``plan`` order whatever the number of workers.
    """
    results: dict[int, Trial] = {}
    lock = threading.Lock()
    todo = list(enumerate(plan))

    def worker(tmp: Path) -> None:
        with FakeProcess(*FAKE_ARGS) as fake:
            while True:
                with lock:
                    if not todo:
                        return
                    i, (job, seed) = todo.pop(0)
                workdir = (keep or tmp) / f"t{i}-{job}-{seed}"
                workdir.mkdir(parents=True)
                trial = run_trial(fake, job, seed, workdir)
                with lock:
                    results[i] = trial
                    if on_trial is not None:
                        on_trial(trial)

    with tempfile.TemporaryDirectory() as tmp:
        threads = [
            threading.Thread(target=worker, args=(Path(tmp) / f"w{w}",))
            for w in range(max(1, workers))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return [results[i] for i in sorted(results)]


def table(results: Sequence[Trial]) -> list[dict[str, object]]:
    """One row per job and a total row, in :data:`COLUMNS` order."""
    rows: list[dict[str, object]] = []
    jobs = [j for j in JOBS if any(t.job == j for t in results)]
    for name, group in [(j, [t for t in results if t.job == j]) for j in jobs] + [
        ("all", list(results))
    ]:
        rows.append(
            {
                "job": name,
                "trials": len(group),
                "kills": sum(t.kills for t in group),
                "faults injected": sum(t.faults for t in group),
                "survived": sum(t.survived for t in group),
                "lost": sum(t.lost for t in group),
                "duplicated": sum(t.duplicated for t in group),
                "touched outside the selection": sum(t.touched for t in group),
                "early retries": sum(t.early_retries for t in group),
            }
        )
    return rows


def markdown(rows: Sequence[dict[str, object]]) -> str:
    """The table as GitHub markdown."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _describe_failure(trial: Trial) -> str:
    return (
        f"FAILED {trial.job} seed={trial.seed}: {trial.detail}\n"
        f"  replay: {replay_command(trial.job, trial.seed)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trials, print the table (and failures), write bench/results/chaos.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="number of trials (20)")
    parser.add_argument("--job", choices=JOBS, action="append", help="only this job (repeat)")
    parser.add_argument("--seed", type=int, help="run the one trial of --job with this seed")
    parser.add_argument("--base-seed", type=int, default=16, help="seed of the trial seeds (16)")
    parser.add_argument("--out", type=Path, help="markdown output (bench/results/chaos.md)")
    parser.add_argument("--keep", type=Path, help="keep journals, mirrors and logs here")
    parser.add_argument("--workers", type=int, default=1, help="trials run at once (1)")
    args = parser.parse_args(argv)
    jobs = tuple(args.job or JOBS)
    if args.seed is not None:
        if len(jobs) != 1:
            parser.error("--seed replays one trial: name its --job")
        plan = [(jobs[0], args.seed)]
    else:
        plan = schedule(args.trials, jobs, args.base_seed)
    started = time.monotonic()
    out = args.out or RESULTS / "chaos.md"
    done: list[Trial] = []

    def write(results: Sequence[Trial], complete: bool) -> None:
        elapsed = time.monotonic() - started
        command = f"python bench/chaos.py --trials {args.trials}" + (
            f" --base-seed {args.base_seed}" if args.base_seed != 16 else ""
        )
        status = "" if complete else f" (stopped after {len(results)} of {len(plan)} trials)"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            "# Chaos trials\n\n"
            f"`{command}`"
            + (f" (jobs: {', '.join(jobs)})" if args.job else "")
            + status
            + f", {elapsed:.0f} s with {args.workers} worker(s) on {platform.machine()} / "
            f"Python {platform.python_version()} ({os.cpu_count()} cores), load average "
            f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min) at the end.\n\n"
            + markdown(table(sorted(results, key=lambda t: JOBS.index(t.job))))
            + f"\nRe-sent state writes (a resumed job setting a state a lead already had: a "
            f"no-op for the service, not a duplicate): {sum(t.resent for t in results)}.\n",
            encoding="utf-8",
        )

    def show(trial: Trial) -> None:
        mark = "ok" if trial.survived else "FAILED"
        print(
            f"{trial.job:<11} seed={trial.seed:<11} kills={trial.kills} faults={trial.faults:<3}"
            f" runs={trial.runs} {trial.seconds:5.1f}s {mark}",
            flush=True,
        )
        if not trial.survived:
            print(_describe_failure(trial), flush=True)
        done.append(trial)
        if args.seed is None:
            write(done, complete=False)  # a stopped run still leaves the table so far

    results = run_all(plan, on_trial=show, keep=args.keep, workers=args.workers)
    text = markdown(table(results))
    print()
    print(text)
    failures = [t for t in results if not t.survived]
    for trial in failures:
        print(_describe_failure(trial))
    if args.seed is None:
        write(results, complete=True)
        print(f"written to {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
