"""The chaos verifiers see what they must count: they run on an org changed by hand, correctly
and then with each kind of damage a faulty job could do (the ``sync push`` CSV applied by raw
HTTP; a lead's state changed twice for the bulk jobs)."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from chaos_fake import FakeProcess  # noqa: E402
from chaos_push import KEY, _leads, _plan, _verify  # noqa: E402
from chaos_runs import Trial, _count_repeats  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProcess]:
    with FakeProcess() as process:
        yield process


def _apply(fake: FakeProcess, rows: list[tuple[dict[str, str], str]], report: Path) -> None:
    """What a correct push does: valid rows written once, invalid rows only reported."""
    by_email = {r["emailaddress1"]: r["leadid"] for r in fake.rows("leads", "leadid,emailaddress1")}
    actions = []
    for cells, kind in rows:
        body = {k: v for k, v in cells.items() if k != "leadid" and v}
        if kind == "invalid":
            actions.append({"action": "invalid"})
        elif kind == "create":
            fake.create("leads", body)
            actions.append({"action": "create"})
        else:
            fake.update("leads", cells["leadid"] or by_email[cells["emailaddress1"]], body)
            actions.append({"action": "update"})
    report.write_text(json.dumps({"rows": actions}))


def _trial(fake: FakeProcess, tmp_path: Path, damage: str) -> Trial:
    fake.reset()
    rng = random.Random(11)
    fake.seed(
        "lead",
        [{"lastname": f"E{i}", "emailaddress1": f"old{i}@chaos.example.org"} for i in range(12)],
    )
    before = _leads(fake)
    rows = _plan(rng, 11, list(before.values()), by_key=False)
    report = tmp_path / "report.json"
    _apply(fake, rows, report)
    create = next(cells for cells, kind in rows if kind == "create")
    invalid = next(cells for cells, kind in rows if kind == "invalid")
    named = {c["leadid"] for c, _ in rows} | {c["emailaddress1"] for c, _ in rows}
    untouched = next(k for k, r in before.items() if not {k, r["emailaddress1"]} & named)
    if damage == "duplicate":
        fake.create("leads", {k: v for k, v in create.items() if k != "leadid"})
    elif damage == "invalid-written":
        fake.create("leads", {"lastname": "x", "firstname": invalid["firstname"]})
    elif damage == "outside":
        fake.update("leads", untouched, {"subject": "touched"})
    elif damage == "lost":
        gone = next(
            k for k, r in _leads(fake).items() if r["emailaddress1"] == create["emailaddress1"]
        )
        fake.delete("leads", gone)
    trial = Trial("sync-push", 11, finished=True)
    _verify(fake, trial, before, rows, report, by_key=False)
    return trial


def test_a_correct_push_passes(fake: FakeProcess, tmp_path: Path) -> None:
    trial = _trial(fake, tmp_path, "none")
    assert trial.survived, trial.detail


@pytest.mark.parametrize(
    ("damage", "counter"),
    [
        ("duplicate", "duplicated"),
        ("invalid-written", "touched"),
        ("outside", "touched"),
        ("lost", "lost"),
    ],
)
def test_each_kind_of_damage_is_counted(
    fake: FakeProcess, tmp_path: Path, damage: str, counter: str
) -> None:
    trial = _trial(fake, tmp_path, damage)
    assert getattr(trial, counter) == 1, trial.detail
    assert not trial.survived


def test_a_key_created_twice_is_a_duplicate(fake: FakeProcess, tmp_path: Path) -> None:
    fake.reset()
    if ("lead", KEY) not in fake.alternate_keys:
        fake.declare_alternate_key("lead", KEY)
    for _ in range(2):  # created, deleted, created again: one key value created twice
        fake.create("leads", {"lastname": "Twice", KEY: "+1-555-0000"})
        (row,) = [r for r in fake.rows("leads", f"leadid,{KEY}") if r[KEY] == "+1-555-0000"]
        last: dict[str, Any] = row
        fake.delete("leads", last["leadid"])
    fake.create("leads", {"lastname": "Twice", KEY: "+1-555-0000"})
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"rows": []}))
    trial = Trial("sync-push", 1, finished=True)
    rows = [
        (
            {
                "leadid": "",
                "emailaddress1": "",
                KEY: "+1-555-0000",
                "firstname": "",
                "lastname": "Twice",
                "companyname": "",
                "subject": "",
            },
            "create",
        )
    ]
    _verify(fake, trial, {}, rows, report, by_key=True)
    assert trial.duplicated == 2, trial.detail


def test_a_state_change_applied_twice_is_a_duplicate_and_a_resend_is_not(
    fake: FakeProcess,
) -> None:
    fake.reset()
    twice, resent, once = fake.seed("lead", [{"lastname": n} for n in ("Twice", "Resent", "Once")])
    open_, disqualified = {"statecode": 0, "statuscode": 1}, {"statecode": 2, "statuscode": 5}
    for body in (disqualified, open_, disqualified):
        fake.update("leads", twice, body)
    for body in (disqualified, disqualified):
        fake.update("leads", resent, body)
    fake.update("leads", once, disqualified)
    trial, notes = Trial("disqualify", 1), []
    _count_repeats(fake, "disqualify", trial, {twice, resent, once}, notes)
    assert (trial.duplicated, trial.resent) == (1, 1), notes
    assert twice in notes[0]
