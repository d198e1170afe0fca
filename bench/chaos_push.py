"""The ``sync push`` chaos trial: a seeded CSV pushed under faults and SIGKILLs until it is done.

The CSV mixes rows that create leads, rows that update existing leads (by ``leadid``, or by the
match column: ``emailaddress1`` looked up, or an alternate key on ``telephone1`` upserted with
``--alternate-key``) and invalid rows (a malformed e-mail address, a malformed ``leadid``).
``d365leads sync push --skip-invalid`` runs as a subprocess under a random fault mix and is
SIGKILLed at a random moment, then rerun with the same file until it exits 0.

Verification reads the org with raw HTTP only (the Web API and ``/_fake/applied``):

* lost: a valid row whose lead is missing or whose values differ from the CSV, or an invalid
  row the final report does not list as invalid;
* duplicated: more than one lead for a row's match value, or a key value created more than
  once (``/_fake/applied`` counts creates per alternate-key value);
* touched outside the selection: an invalid row written, or a lead the CSV does not name
  changed (its ``versionnumber`` moved), or a lead that no row explains.
"""

from __future__ import annotations

import csv
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from chaos_fake import FakeProcess
from chaos_runs import Trial
from chaos_sync import _pull_until_done

__all__ = ["JOB", "push_trial"]

JOB = "sync-push"
KEY = "telephone1"
"""The alternate key of lead the ``--alternate-key`` trials upsert by (declared once per fake)."""
HEADER = ("leadid", "emailaddress1", KEY, "firstname", "lastname", "companyname", "subject")


def _ensure_key(fake: FakeProcess) -> None:
    # An alternate key survives /_fake/reset (it is schema, not data): declare it once.  The
    # e-mail trials leave the key column empty, so the key cannot hide a duplicate create.
    if ("lead", KEY) not in fake.alternate_keys:
        fake.declare_alternate_key("lead", KEY)


Row = tuple[dict[str, str], str]


def _columns(by_key: bool) -> tuple[str, ...]:
    return HEADER if by_key else tuple(c for c in HEADER if c != KEY)


def _plan(rng: random.Random, seed: int, existing: list[dict[str, Any]], by_key: bool) -> list[Row]:
    """The CSV rows: ``(cells, kind)`` with kind ``create``, ``update-id``, ``update-match``,
    ``invalid``; without ``by_key`` the key column stays empty."""
    tag = f"{seed % 100000}"
    rows: list[tuple[dict[str, str], str]] = []
    targets = rng.sample(existing, rng.randint(1, max(1, len(existing) * 2 // 3)))
    for i, lead in enumerate(targets):
        kind = rng.choice(["update-id", "update-match"])
        cells = {
            "leadid": lead["leadid"] if kind == "update-id" else "",
            "emailaddress1": lead["emailaddress1"],
            KEY: lead[KEY] or "",
            "firstname": f"Upd{i}",
            "lastname": f"Pushed{tag}",
            "companyname": f"Updated Co {rng.randint(1, 999)}",
            "subject": f"Update {i} of {tag}",
        }
        rows.append((cells, kind))
    for i in range(rng.randint(5, 40)):
        cells = {
            "leadid": "",
            "emailaddress1": f"new{i}.{tag}@chaos.example.org",
            KEY: f"+1-555-{tag}-{i:04d}",
            "firstname": f"New{i}",
            "lastname": f"Pushed{tag}",
            "companyname": f"New Co {i}",
            "subject": f"Create {i} of {tag}",
        }
        rows.append((cells, "create"))
    for i in range(rng.randint(1, 5)):
        bad_email = rng.random() < 0.5 or by_key
        cells = {
            "leadid": "" if bad_email else f"not-a-guid-{i}",
            "emailaddress1": f"broken{i}.{tag}" if bad_email else f"bad{i}.{tag}@chaos.example.org",
            KEY: f"+1-666-{tag}-{i:04d}",
            "firstname": f"Invalid{i}",
            "lastname": f"Pushed{tag}",
            "companyname": "Never Written",
            "subject": f"Invalid {i} of {tag}",
        }
        rows.append((cells, "invalid"))
    if not by_key:
        for cells, _ in rows:
            del cells[KEY]
    rng.shuffle(rows)
    return rows


def _write_csv(path: Path, rows: list[Row], by_key: bool) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=_columns(by_key))
        writer.writeheader()
        writer.writerows(cells for cells, _ in rows)


def _leads(fake: FakeProcess) -> dict[str, dict[str, Any]]:
    select = "leadid,versionnumber," + ",".join(HEADER[1:])
    return {r["leadid"]: r for r in fake.rows("leads", select)}


def push_trial(fake: FakeProcess, seed: int, workdir: Path, trial: Trial) -> Trial:
    """Run one push trial and fill in ``trial``."""
    started = time.monotonic()
    rng = random.Random(seed)
    by_key = rng.random() < 0.5
    _ensure_key(fake)
    tag = seed % 100000
    existing_rows = [
        {
            "firstname": f"Old{i}",
            "lastname": f"Existing{tag}",
            "companyname": f"Old Co {i}",
            "subject": f"Existing {i}",
            "emailaddress1": f"old{i}.{tag}@chaos.example.org",
            **({KEY: f"+1-444-{tag}-{i:04d}"} if by_key else {}),
        }
        for i in range(rng.randint(10, 40))
    ]
    fake.seed("lead", existing_rows)
    before = _leads(fake)
    rows = _plan(rng, seed, list(before.values()), by_key)
    source = workdir / "push.csv"
    _write_csv(source, rows, by_key)
    report = workdir / "report.json"
    args = ["--url", fake.url, "sync", "push", str(source), "--skip-invalid", "--yes"]
    args += ["--report", str(report), "--batch-size", str(rng.choice([5, 10, 25]))]
    args += ["--match-on", KEY, "--alternate-key"] if by_key else ["--match-on", "emailaddress1"]
    # The same loop as each sync pull: faults, a kill, reruns until it exits 0.
    trial.finished = _pull_until_done(fake, rng, trial, args, workdir, rng.choice([1, 1, 1, 2]))
    _verify(fake, trial, before, rows, report, by_key)
    if not trial.finished:
        tail = (workdir / "stderr.log").read_text(errors="replace").strip().splitlines()[-3:]
        trial.detail = f"did not finish ({' | '.join(tail)}); " + trial.detail
    trial.seconds = time.monotonic() - started
    return trial


def _verify(
    fake: FakeProcess,
    trial: Trial,
    before: dict[str, dict[str, Any]],
    rows: list[Row],
    report: Path,
    by_key: bool,
) -> None:
    after = _leads(fake)
    match = KEY if by_key else "emailaddress1"
    checked = _columns(by_key)[1:]
    notes: list[str] = []
    holders: dict[str, list[str]] = {}
    for key, lead in after.items():
        holders.setdefault(str(lead[match]).lower(), []).append(key)
    explained: set[str] = set()
    for cells, kind in rows:
        if kind == "invalid":
            continue
        found = holders.get(cells[match].lower(), [])
        if kind == "update-id" and cells["leadid"] not in found:
            found = [cells["leadid"], *found]
        explained.update(found)
        if len(found) > 1:
            trial.duplicated += len(found) - 1
            notes.append(f"{len(found)} leads for {match}={cells[match]}")
        lead = after.get(found[0]) if found else None
        if lead is None or any(lead[c] != (cells[c] or None) for c in checked):
            trial.lost += 1
            notes.append(f"{kind} row {match}={cells[match]} not applied as written")
    applied = fake.applied("lead")["creates_by_key"].get("lead", {})
    for key_value, count in applied.items():
        if count > 1:
            trial.duplicated += count - 1
            notes.append(f"key {key_value} created {count} times")
    invalid_values = {cells["firstname"] for cells, kind in rows if kind == "invalid"}
    for key, lead in after.items():
        if lead["firstname"] in invalid_values:
            trial.touched += 1
            notes.append(f"invalid row {lead['firstname']} written as lead {key}")
        elif key in before and key not in explained and lead != before[key]:
            trial.touched += 1
            notes.append(f"lead {key} not in the CSV changed")
        elif key not in before and key not in explained:
            trial.touched += 1
            notes.append(f"lead {key} created from no row")
    if trial.finished:
        reported = Counter(r["action"] for r in json.loads(report.read_text())["rows"])
        invalid = sum(1 for _, kind in rows if kind == "invalid")
        if reported["invalid"] != invalid:
            trial.lost += abs(invalid - reported["invalid"])
            notes.append(f"report lists {reported['invalid']} invalid rows, not {invalid}")
    if trial.early_retries:
        notes.append(f"{trial.early_retries} early retries")
    trial.detail = "; ".join(notes[:5]) + (f" (+{len(notes) - 5} more)" if len(notes) > 5 else "")
