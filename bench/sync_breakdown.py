"""Where the pulling side of ``sync pull`` spends its CPU, per row, stage by stage.

Run it from the repository root::

    python bench/sync_breakdown.py            # one page of 5,000 annotated leads, 100,000 written

One annotated page of leads (the pull's own ``$select`` and ``Prefer``) is fetched once from the
in-process fake; each stage then runs on it alone, best of ``--repeat`` runs, in µs of CPU per
row (``time.process_time``): parsing the page (``json.loads`` as before, the row-text reader
now), encoding ``_raw`` again (what the pull did before), building the database rows (the
dict builder plus the prepared statement's parameters before, the row plan now), the bind
processors, and SQLite's ``executemany`` and ``COMMIT`` of ``--rows`` rows in pages into a fresh
WAL file (fresh keys per page, so every row is an insert, as in an initial load).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench_sync import _lead_rows  # noqa: E402

from d365leads import DataverseClient, StaticTokenProvider  # noqa: E402
from d365leads.fake import FakeDataverse, FakeOptions  # noqa: E402
from d365leads.http.page_text import read_page  # noqa: E402
from d365leads.sync import SyncTarget  # noqa: E402
from d365leads.sync.prepared_upsert import PreparedUpsert, _compact_json  # noqa: E402
from d365leads.sync.pull.table_pull import _ANNOTATIONS  # noqa: E402
from d365leads.sync.tables import LEAD, PlannedRows, RowPlan, row_builder  # noqa: E402


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def main() -> int:
    """Print the per-row table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=100_000, help="rows written to SQLite")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.page_size
    fake = FakeDataverse(options=FakeOptions(max_requests=None, max_exec_ms=None))
    fake.seed("lead", _lead_rows(n))
    select = ",".join(dict.fromkeys([LEAD.primary_key, *(c.wire_property for c in LEAD.columns)]))
    with fake.mock():
        client = DataverseClient(fake.org_url, token_provider=StaticTokenProvider("t"))
        answer = client.session.request(
            "GET",
            "leads",
            params={"$select": select},
            prefer=[_ANNOTATIONS, f"odata.maxpagesize={n}"],
        )
    text = answer.content.decode("utf-8")
    body, texts = read_page(text)
    rows = body["value"]
    assert texts is not None and len(rows) == n
    now = datetime.now(timezone.utc)
    plan = RowPlan(LEAD, LEAD.columns)
    stored_plan = RowPlan(LEAD, LEAD.columns, stored=True)
    build = row_builder(LEAD.columns)

    def old_dict(row: dict[str, Any]) -> dict[str, Any]:
        out = build(row)
        out[LEAD.primary_key] = str(row[LEAD.primary_key]).lower()
        out.update(_raw=row, _synced_at=now, _deleted_at=None, _sync_gen=1)
        return out

    with tempfile.TemporaryDirectory(prefix="d365leads-breakdown-") as tmp:
        target = SyncTarget(f"sqlite:///{tmp}/m.db")
        table = target.mirror_table(LEAD, LEAD.columns)
        with target.engine.connect() as conn:
            dialect = conn.dialect
        dict_keys = list(old_dict(rows[0]))
        before_stmt = PreparedUpsert(table, dict_keys, dialect)
        after_stmt = PreparedUpsert(table, plan.keys, dialect, json_text=("_raw",))
        dicts = [old_dict(r) for r in rows]
        planned = [plan.row(r, t, 1, now) for r, t in zip(rows, texts, strict=True)]

        def processors() -> None:
            for values in [list(v) for v in planned]:
                for index, proc in after_stmt._list_processors:
                    values[index] = proc(values[index])

        stages = [
            ("parse the page: json.loads (before)", lambda: json.loads(text)),
            ("parse the page keeping row texts: read_page (after)", lambda: read_page(text)),
            (
                "encode _raw again from the parsed row (before)",
                lambda: [_compact_json(r) for r in rows],
            ),
            ("row_builder + bookkeeping dict (before)", lambda: [old_dict(r) for r in rows]),
            (
                "statement parameters from the dicts, processors and _raw encoding incl. (before)",
                lambda: [before_stmt.params(d) for d in dicts],
            ),
            (
                "RowPlan.row (after)",
                lambda: [plan.row(r, t, 1, now) for r, t in zip(rows, texts, strict=True)],
            ),
            ("bind processors of the planned lists, list copy incl. (after)", processors),
            (
                "RowPlan.row, values in SQLite's stored form (no processor runs after it)",
                lambda: [stored_plan.row(r, t, 1, now) for r, t in zip(rows, texts, strict=True)],
            ),
        ]
        print(
            f"{n:,} annotated leads per page, {len(text) / n:,.0f} bytes per row on the wire; "
            f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        print(f"\n| stage | µs per row (CPU, best of {args.repeat}) |\n|---|---:|")
        for label, fn in stages:
            print(f"| {label} | {_best(fn, args.repeat) / n * 1e6:.1f} |")

        stored_rows = [stored_plan.row(r, t, 1, now) for r, t in zip(rows, texts, strict=True)]
        target.close()
        for label, source, stored in (
            ("typed rows, processors incl.", planned, frozenset[str]()),
            ("stored-form rows", stored_rows, stored_plan.stored_keys),
        ):
            # Each variant writes into a fresh file: a larger table costs more per insert.
            target = SyncTarget(f"sqlite:///{tmp}/{len(stored)}.db")
            table = target.mirror_table(LEAD, LEAD.columns)
            executing = committing = 0.0
            wall_exec = wall_commit = 0.0
            pages = max(1, args.rows // n)
            for _ in range(pages):
                lists = []
                for values in source:
                    fresh = list(values)
                    fresh[plan.keys.index(LEAD.primary_key)] = str(uuid.uuid4())
                    lists.append(fresh)
                batch = PlannedRows(plan.keys, lists, ("_raw",), stored)
                with target.engine.connect() as conn:
                    conn.begin()  # as the pull's SyncTarget.begin: COMMIT reaches the driver
                    c, w = time.process_time(), time.perf_counter()
                    target.upsert(conn, table, batch)
                    executing += time.process_time() - c
                    wall_exec += time.perf_counter() - w
                    c, w = time.process_time(), time.perf_counter()
                    conn.commit()
                    committing += time.process_time() - c
                    wall_commit += time.perf_counter() - w
            written = pages * n
            per_row = 1e6 / written
            print(
                f"| SQLite executemany, {label} ({written:,} rows; wall "
                f"{wall_exec * per_row:.1f}) | {executing * per_row:.1f} |"
            )
            print(
                f"| SQLite COMMIT, {label} (wall {wall_commit * per_row:.1f}) | "
                f"{committing * per_row:.1f} |"
            )
            target.close()
    print(f"\nload average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
