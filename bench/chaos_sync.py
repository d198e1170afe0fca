"""The ``sync pull`` chaos trials: full pull, creates/updates/deletes, incremental pull.

Each pull runs under a random fault mix and is SIGKILLed at a random moment, then rerun until
it exits 0.  The mirror (read with ``sqlite3``) must then equal the org (read with raw HTTP)
row by row, with a tombstone for each deleted lead.

``sync-fetchxml`` does the same for a FetchXML mirror (``sync pull --fetchxml``, leads of one
company): between the pulls leads are also moved into and out of the filter, and the second
pull reconciles (``--reconcile``), so the mirror must equal the org's matching leads, with a
tombstone for each mirrored lead deleted or moved out.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from chaos_fake import FakeProcess
from chaos_runs import MAX_RUNS, KillWhen, Trial, _env, _wait_out_pause, fault_mix, run_cli

__all__ = ["fetchxml_sync_trial", "sync_trial"]

COLUMNS = ("leadid", "firstname", "lastname", "subject", "companyname", "statecode")
KEEP = "Kept Co"
FETCHXML = (
    "<fetch>\n  <entity name='lead'>\n"
    + "".join(f"    <attribute name='{c}'/>\n" for c in COLUMNS)
    + f"    <filter><condition attribute='companyname' operator='eq' value='{KEEP}'/></filter>\n"
    "  </entity>\n</fetch>\n"
)


def _lead(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "firstname": f"Sync{i}",
        "lastname": rng.choice(["Lee", "Ng", "Diaz", "Okafor"]) + str(i),
        "subject": f"Topic {rng.randint(1, 999)}",
        "companyname": f"Mirror Co {i}",
    }


def _pull_until_done(
    fake: FakeProcess,
    rng: random.Random,
    trial: Trial,
    args: list[str],
    workdir: Path,
    kills_left: int,
) -> bool:
    for spec in fault_mix(rng, trial.seed + trial.runs):
        fake.add_fault(spec)
    env = _env(workdir)
    ok = False
    for _ in range(MAX_RUNS):
        if trial.runs:
            _wait_out_pause(fake)
        trigger = _after(rng.uniform(0.2, 2.5)) if kills_left else None
        killed, rc = run_cli(args, env, trigger, workdir / "stderr.log")
        trial.runs += 1
        if killed:
            trial.kills += 1
            kills_left -= 1
            continue
        if rc == 0:
            ok = True
            break
    stats = fake.stats()
    trial.faults += sum(stats["faults_fired"].values())
    trial.early_retries += int(stats["early_retries"]["total"])
    fake.clear_faults()
    return ok


def _after(delay: float) -> KillWhen:
    return lambda elapsed: elapsed >= delay


def _org_leads(fake: FakeProcess) -> dict[str, tuple[Any, ...]]:
    return {
        r["leadid"]: tuple(r[c] for c in COLUMNS) for r in fake.rows("leads", ",".join(COLUMNS))
    }


def sync_trial(fake: FakeProcess, seed: int, workdir: Path, trial: Trial) -> Trial:
    """Run the trial and fill in ``trial``."""
    started = time.monotonic()
    rng = random.Random(seed)
    n = rng.randint(30, 120)
    ids = fake.seed("lead", [_lead(rng, i) for i in range(n)])
    mirror = workdir / "mirror.sqlite"
    page = str(rng.choice([20, 50]))
    base = ["--url", fake.url, "sync", "pull", "--tables", "lead", "--db", str(mirror)]
    base += ["--page-size", page]
    kill_full = rng.random() < 0.5  # one kill per trial: in the full or the incremental pull
    done = _pull_until_done(fake, rng, trial, [*base, "--full"], workdir, int(kill_full))
    deleted = set(rng.sample(ids, rng.randint(1, max(1, n // 10))))
    for key in deleted:
        fake.delete("leads", key)
    for key in rng.sample([i for i in ids if i not in deleted], rng.randint(1, n // 5)):
        fake.update("leads", key, {"subject": f"Changed {rng.randint(1, 999)}"})
    for i in range(rng.randint(1, 20)):
        fake.create("leads", _lead(rng, n + i))
    done = _pull_until_done(fake, rng, trial, base, workdir, int(not kill_full)) and done
    trial.finished = done
    _verify(fake, mirror, trial, deleted)
    trial.seconds = time.monotonic() - started
    return trial


def fetchxml_sync_trial(fake: FakeProcess, seed: int, workdir: Path, trial: Trial) -> Trial:
    """The FetchXML mirror trial (see the module docstring); fills in ``trial``."""
    started = time.monotonic()
    rng = random.Random(seed)
    n = rng.randint(30, 120)
    rows = [_lead(rng, i) for i in range(n)]
    for row in rows:
        row["companyname"] = KEEP if rng.random() < 0.6 else "Other Co"
    ids = fake.seed("lead", rows)
    kept = {key for key, row in zip(ids, rows, strict=True) if row["companyname"] == KEEP}
    query = workdir / "kept.xml"
    query.write_text(FETCHXML, encoding="utf-8")
    mirror = workdir / "mirror.sqlite"
    base = ["--url", fake.url, "sync", "pull", "--fetchxml", str(query), "--db", str(mirror)]
    base += ["--page-size", str(rng.choice([10, 25])), "--reconcile-every", "0"]
    kill_full = rng.random() < 0.5
    done = _pull_until_done(fake, rng, trial, base, workdir, int(kill_full))
    deleted = set(rng.sample(sorted(kept), rng.randint(1, max(1, len(kept) // 10))))
    for key in deleted:
        fake.delete("leads", key)
    alive = [key for key in ids if key not in deleted]
    moved_out = set(rng.sample(sorted(kept - deleted), rng.randint(0, len(kept - deleted) // 5)))
    for key in moved_out:
        fake.update("leads", key, {"companyname": "Moved Co"})
    for key in rng.sample(
        [k for k in alive if k not in kept], rng.randint(0, (n - len(kept)) // 4)
    ):
        fake.update("leads", key, {"companyname": KEEP})
    for key in rng.sample(sorted(kept - deleted - moved_out), rng.randint(0, len(kept) // 5)):
        fake.update("leads", key, {"subject": f"Changed {rng.randint(1, 999)}"})
    for i in range(rng.randint(1, 10)):
        fake.create("leads", {**_lead(rng, n + i), "companyname": KEEP})
    again = [*base, "--reconcile"]
    done = _pull_until_done(fake, rng, trial, again, workdir, int(not kill_full)) and done
    trial.finished = done
    _verify(fake, mirror, trial, deleted | moved_out, only=KEEP)
    trial.seconds = time.monotonic() - started
    return trial


def _verify(
    fake: FakeProcess, mirror: Path, trial: Trial, deleted: set[str], only: str | None = None
) -> None:
    org = _org_leads(fake)
    if only is not None:
        org = {key: values for key, values in org.items() if values[4] == only}
    notes: list[str] = []
    with sqlite3.connect(f"file:{mirror}?mode=ro", uri=True) as db:
        rows = db.execute(f"SELECT {', '.join(COLUMNS)}, _deleted_at FROM lead").fetchall()
        dupes = db.execute("SELECT COUNT(*) - COUNT(DISTINCT leadid) FROM lead").fetchone()[0]
    live = {r[0]: tuple(r[: len(COLUMNS)]) for r in rows if r[-1] is None}
    tombstones = {r[0] for r in rows if r[-1] is not None}
    trial.duplicated += int(dupes)
    for key, values in org.items():
        if live.get(key) != values:
            trial.lost += 1
            notes.append(f"lead {key}: mirror {live.get(key)} != org {values}")
    for key in deleted:
        if key not in tombstones:
            trial.lost += 1
            notes.append(f"deleted lead {key} has no tombstone")
    phantoms = set(live) - set(org)
    trial.touched += len(phantoms)
    notes += [f"mirror keeps {key}, gone from the org" for key in sorted(phantoms)]
    if trial.early_retries:
        notes.append(f"{trial.early_retries} early retries")
    if not trial.finished:
        notes.insert(0, "a pull did not finish")
    trial.detail = "; ".join(notes[:5]) + (f" (+{len(notes) - 5} more)" if len(notes) > 5 else "")
