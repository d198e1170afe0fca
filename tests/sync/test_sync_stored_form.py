"""An SQLite mirror written from the row plan's stored form holds the bytes SQLAlchemy writes.

The reference is SQLAlchemy's own ``insert`` of ``row_builder``'s typed values (its bind
processors turn datetimes, dates and booleans into what SQLite stores); the mirror under test is
written the way the pull writes it (a stored-form row plan, the sqlite3 cursor's
``executemany``). Every column of every row is compared by SQLite's ``quote()`` and
``typeof()``, so a value stored as other text, another number type or a NULL differs.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d365leads import _wire
from d365leads.client import DataverseClient
from d365leads.errors import SyncError
from d365leads.fake import FakeDataverse
from d365leads.sync import SyncTarget, pull
from d365leads.sync.tables import (
    LEAD,
    ColumnSpec,
    PlannedRows,
    RowPlan,
    parse_datetime,
    row_builder,
)
from d365leads.sync.tables.stored_form import stored_datetime, stored_time
from d365leads.sync.target import build_mirror_table

NOW = datetime(2026, 12, 3, 18, 0, 1, 250, tzinfo=timezone.utc)

_COLUMNS = LEAD.with_extras(
    [
        "new_note",
        "new_score:int",
        "new_when:datetime",
        "new_day:date",
        "new_flag:bool",
        "new_amount:money",
        "_new_ref_value",
    ]
)

_TIMES = st.datetimes(
    datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(timezone.utc)
) | st.datetimes(datetime(1900, 1, 2), datetime(2100, 1, 1))
_OFFSETS = st.sampled_from(["Z", "z", "+00:00", "+02:00", "-05:30"])


@st.composite
def _wire_times(draw: st.DrawFn) -> str:
    """Web API timestamps: the usual whole-second UTC form, and fractions and offsets."""
    when = draw(_TIMES).replace(tzinfo=None)
    seconds = when.isoformat(timespec="seconds")
    if draw(st.booleans()):
        return seconds + "Z"
    digits = draw(st.sampled_from([0, 3, 6]))
    frac = "" if digits == 0 else "." + f"{when.microsecond:06d}"[:digits]
    return seconds + frac + draw(_OFFSETS)


_SAMPLES: dict[str, st.SearchStrategy[Any]] = {
    "guid": st.uuids().map(lambda u: str(u).upper()),
    "lookup": st.uuids().map(str),
    "customer": st.uuids().map(str),
    "owner": st.uuids().map(str),
    "string": st.text(max_size=5) | st.integers(),
    "memo": st.text(max_size=5),
    "int": st.integers(-(2**31), 2**31),
    "bigint": st.integers(-(2**63), 2**63 - 1),
    "choice": st.integers(0, 10**6),
    "state": st.integers(0, 3),
    "status": st.integers(0, 10),
    "decimal": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**9), 10**9),
    "money": st.floats(allow_nan=False, allow_infinity=False),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans() | st.sampled_from([0, 1]),
    "datetime": _wire_times(),
    "date": st.dates().map(lambda d: d.isoformat())
    | st.datetimes().map(lambda d: d.isoformat() + "Z"),
    "extra": st.text(max_size=5) | st.integers() | st.lists(st.integers(), max_size=2),
}


@st.composite
def _wire_row(draw: st.DrawFn, columns: Sequence[ColumnSpec]) -> dict[str, Any]:
    row: dict[str, Any] = {LEAD.primary_key: str(draw(st.uuids())).upper()}
    for col in columns:
        if col.name == LEAD.primary_key:
            continue
        shape = draw(st.sampled_from(["value", "value", "null", "absent"]))
        if shape == "absent":
            continue
        row[col.wire_property] = None if shape == "null" else draw(_SAMPLES[col.kind])
        if col.label_column and draw(st.booleans()):
            row[col.wire_property + _wire.ANNOTATION_FORMATTED] = draw(
                st.text(max_size=4) | st.integers()
            )
        if col.type_column and draw(st.booleans()):
            row[col.wire_property + _wire.ANNOTATION_LOOKUP_LOGICAL_NAME] = draw(
                st.sampled_from(["account", "contact"]) | st.none()
            )
    return row


def _reference(
    path: Path,
    columns: Sequence[ColumnSpec],
    rows: list[tuple[dict[str, Any], str]],
    generation: int,
) -> None:
    """The mirror as SQLAlchemy's own insert writes typed values (``_raw`` as given text)."""
    engine = sa.create_engine(f"sqlite:///{path}")
    table = build_mirror_table(LEAD, columns)
    table.create(engine)
    text_raw = sa.Table(
        table.name,
        sa.MetaData(),
        *(
            sa.Column(c.name, sa.UnicodeText() if c.name == "_raw" else c.type)
            for c in table.columns
        ),
    )
    build = row_builder(columns)
    values = []
    for wire, raw in rows:
        cells = build(wire)
        cells[LEAD.primary_key] = str(wire[LEAD.primary_key]).lower()
        cells.update(_raw=raw, _synced_at=NOW, _deleted_at=None, _sync_gen=generation)
        values.append(cells)
    with engine.begin() as conn:
        conn.execute(sa.insert(text_raw), values)
    engine.dispose()


def _cells(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored cell as ``(quote(value), typeof(value))``, rows in key order."""
    with sqlite3.connect(path) as db:
        names = [r[1] for r in db.execute("PRAGMA table_info(lead)")]
        picks = ", ".join(f'quote("{n}"), typeof("{n}")' for n in names)
        rows = db.execute(f"SELECT {picks} FROM lead ORDER BY leadid").fetchall()
    db.close()
    return {name: [(r[2 * i], r[2 * i + 1]) for r in rows] for i, name in enumerate(names)}


def _assert_same_cells(new: Path, old: Path) -> None:
    got, want = _cells(new), _cells(old)
    assert list(got) == list(want)
    for name in want:
        assert got[name] == want[name], name


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_wire_row(_COLUMNS), min_size=1, max_size=8, unique_by=lambda r: r["leadid"]))
def test_planned_stored_rows_hold_the_bytes_sqlalchemy_writes(
    tmp_path_factory: pytest.TempPathFactory, wires: list[dict[str, Any]]
) -> None:
    folder = tmp_path_factory.mktemp("stored")
    plan = RowPlan(LEAD, _COLUMNS, stored=True)
    assert "_synced_at" in plan.stored_keys and "createdon" in plan.stored_keys
    texts = [f'{{"n":{i}}}' for i in range(len(wires))]
    with SyncTarget(f"sqlite:///{folder / 'new.db'}") as target:
        table = target.mirror_table(LEAD, _COLUMNS)
        lists = [plan.row(w, t, 3, NOW) for w, t in zip(wires, texts, strict=True)]
        with target.begin() as conn:
            target.upsert(conn, table, PlannedRows(plan.keys, lists, ("_raw",), plan.stored_keys))
    _reference(folder / "old.db", _COLUMNS, list(zip(wires, texts, strict=True)), 3)
    _assert_same_cells(folder / "new.db", folder / "old.db")


@given(_TIMES)
def test_stored_datetime_is_sqlalchemys_text_of_the_parsed_time(when: datetime) -> None:
    aware = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    wire = aware.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
    processor = sa.DateTime(timezone=True).dialect_impl(_SQLITE).bind_processor(_SQLITE)
    assert processor is not None
    assert stored_datetime(wire) == processor(aware.replace(microsecond=0))
    assert stored_time(aware) == processor(aware)


_SQLITE = sa.create_engine("sqlite://").dialect


@pytest.mark.parametrize(
    "odd",
    ["2024-W18-3T10:00:00Z", "20240501T100000Z", "2024-05-01T10:00:00.5z", " 2024-05-01 10:00Z"],
)
def test_odd_forms_the_parser_accepts_store_as_the_parsed_time(odd: str) -> None:
    try:
        parsed = parse_datetime(odd)
    except ValueError:
        with pytest.raises(ValueError):
            stored_datetime(odd)
        return
    processor = sa.DateTime(timezone=True).dialect_impl(_SQLITE).bind_processor(_SQLITE)
    assert processor is not None
    assert stored_datetime(odd) == processor(parsed)


@pytest.mark.parametrize("bad", ["2024-13-01T10:00:00Z", "2024-05-01T25:00:00Z", "soon"])
def test_a_bad_time_is_refused_naming_its_column(bad: str) -> None:
    plan = RowPlan(LEAD, LEAD.columns, stored=True)
    with pytest.raises(SyncError, match="createdon"):
        plan.row({"leadid": str(uuid.uuid4()), "createdon": bad}, "{}", 1, NOW)


def test_a_pulled_mirror_holds_the_bytes_sqlalchemy_writes(
    fake: FakeDataverse, client: DataverseClient, tmp_path: Path
) -> None:
    """End to end: lookups (with their target table), labels, nulls, tenant columns, times."""
    fake.add_column("lead", "new_when", "datetime")
    fake.add_column("lead", "new_day", "date")
    fake.add_column("lead", "new_flag", "bool")
    fake.add_column("lead", "new_note", "string")
    account = fake.seed("account", [{"name": "Contoso"}])[0]
    contact = fake.seed("contact", [{"lastname": "Lee"}])[0]
    rows: list[dict[str, Any]] = []
    for i in range(25):
        row: dict[str, Any] = {"subject": f"Lead {i}", "donotemail": i % 3 == 0}
        if i % 2:
            row.update(
                new_when=(NOW - timedelta(days=i, seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                new_day=f"2026-0{1 + i % 9}-1{i % 10}",
                new_flag=bool(i % 4),
                estimatedclosedate="2027-02-28",
                revenue=10.25 * i,
            )
        if i % 3 == 1:
            row.update(parentaccountid=account, customerid=account, new_note=f"n{i}")
        elif i % 3 == 2:
            row["customerid_contact@odata.bind"] = f"/contacts({contact})"
        rows.append(row)
    fake.seed("lead", rows)
    select = ["lead.new_when:datetime", "lead.new_day:date", "lead.new_flag:bool", "new_note"]
    with SyncTarget(f"sqlite:///{tmp_path / 'new.db'}") as target:
        result = pull(client, target, ["lead"], select=select, page_size=10, clock=lambda: NOW)
        assert result.tables[0].upserted == 25
    with sqlite3.connect(tmp_path / "new.db") as db:
        stored_raw = [r[0] for r in db.execute("SELECT _raw FROM lead")]
        assert db.execute("SELECT count(*) FROM lead WHERE customeridtype = 'contact'").fetchone()[
            0
        ]
        assert db.execute("SELECT count(*) FROM lead WHERE new_when IS NULL").fetchone()[0]
    db.close()
    columns = LEAD.with_extras([s.partition(".")[2] or s for s in select])
    _reference(
        tmp_path / "old.db",
        columns,
        [(json.loads(raw), raw) for raw in stored_raw],
        1,
    )
    _assert_same_cells(tmp_path / "new.db", tmp_path / "old.db")
