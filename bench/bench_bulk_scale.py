"""Benchmark: bulk at the service's ceiling (issue 14), every contender in one run.

Run it from the repository root (``scripts/pg-test-server.sh start`` prints a server URL)::

    python bench/bench_bulk_scale.py --pg-url "$(bash scripts/pg-test-server.sh start)"

**The fake's limits** are a real org's, with the window scaled down from 300 s to
``--window-s`` (5 s) and both budgets with it: 6,000 requests per 300 s become 100 per 5 s, and
1,200 s of server time per 300 s become 20 s per 5 s (four seconds of server time per second,
as in production).  Each operation costs ``--op-cost-ms`` (160 ms) of server time: a lead table
with a synchronous plug-in, the 160-200 ms case of the reference's throughput figures
(``sync-and-bulk.md`` §3.3).  So one user is admitted ``4 / 0.16 = 25`` operations per second
through ``$batch``, and, since a bulk message costs ``op_cost × (1 + 0.25 × records)``
(``FakeOptions.bulk_message_record_cost``, UNCONFIRMED), about 100 records per second through
UpdateMultiple.  A request really takes its latency plus its server time.  These rates are a
small fraction of what this machine can drive (the earlier run of this bench reached 500
records/s on the same fake), so the **service limit binds, not our two shared cores**, as on a
real tenant.  ``x-ms-dop-hint`` is 8, 52 requests may be in flight per user.

**Pacing**: the clients pace on the ``x-ms-ratelimit-*-remaining-xrm-requests`` headers over the
fake's window (``--pace-window-s``, default ``--window-s``; ``D365_LIMIT_WINDOW`` for the worker
processes), as a user would set ``D365_LIMIT_WINDOW`` for their org; one extra row runs one
identity without pacing, for comparison in the same run.

Contenders:

* **identities**: 1, 2 and 4 identities (distinct app registrations) reactivating
  ``--records-per-identity × identities`` disqualified leads in one process
  (:func:`d365leads.bulk.identities.run_bulk_job_as`), over HTTP; capacity ``identities × 25``.
* **workers**: 1 and 3 ``d365leads bulk worker`` processes of one identity on a PostgreSQL
  journal (they share one user's limits and its dop hint): capacity 25.
* **field update** of ``companyname`` on ``--field-records`` leads, in-process (the SDK refuses
  ``http://``), latency and server time really slept: ``records.update_many`` through
  UpdateMultiple and through its ``$batch`` path, and Microsoft's ``powerplatform-dataverse-client``
  through ``records.update(table, [ids], changes)`` (UpdateMultiple) and ``client.batch``
  (``$batch``, 100 updates per batch), with no answer from a harness.

* **long run**: the 1-identity row with ``--long-records`` (2,400) leads, about 100 s, so the
  first window's free budget is a small share of the run.

"Active" time runs from the first request of the contender reaching the fake to the last
answer (process start-up and planning excluded); the rate is records / active time and the
share of capacity is that rate over the steady-state capacity.  The first window's budget is
free at the start, so a run of T seconds may exceed the steady state by up to ``window / T``:
the "run ceiling" column divides by ``capacity x (1 + window / T)`` instead.  ``--only`` runs
some contenders (labels as printed), for tracing; ``bench/trace_bulk_capacity.py`` accounts for
where one run's capacity goes.
The one-minute load average is printed with every row.  Results go to
``bench/results/bulk_scale.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from d365leads.auth import StaticTokenProvider
from d365leads.bulk import JobSpec, Journal, RunOptions, Selection, create_bulk_job, plan_bulk_job
from d365leads.bulk.identities import Identity, run_bulk_job_as
from d365leads.bulk.journal_pg import PgJournal
from d365leads.client import DataverseClient
from d365leads.config import Settings
from d365leads.fake import FakeDataverse, FakeOptions
from d365leads.fake.wire.messages import FakeRequest, FakeResponse

SELECTION = Selection(filter="statecode eq 2 and statuscode eq 6")
PLANNER = "bench-planner"
CHANGE = {"companyname": "Updated Co"}


def fake_options(args: argparse.Namespace, **overrides: Any) -> FakeOptions:
    scale = args.window_s / 300
    return FakeOptions(
        latency_ms=args.latency_ms,
        op_cost_ms=args.op_cost_ms,
        window_s=args.window_s,
        max_requests=int(6000 * scale),
        max_exec_ms=int(1_200_000 * scale),
        max_concurrency=52,
        dop_hint=args.dop_hint,
        **overrides,
    )


def batch_capacity(args: argparse.Namespace) -> float:
    """Operations per second one user is admitted through ``$batch`` (server time binds)."""
    opts = fake_options(args)
    assert opts.max_exec_ms is not None
    return opts.max_exec_ms / args.window_s / args.op_cost_ms


def message_capacity(args: argparse.Namespace) -> float:
    """Records per second one user is admitted through UpdateMultiple (per-record cost only)."""
    return batch_capacity(args) / fake_options(args).bulk_message_record_cost


class ActiveTime:
    """When requests other than the planner's first reached the fake and were last answered."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self._lock = threading.Lock()

    def around(self, request: FakeRequest, handle: Callable[[], FakeResponse]) -> FakeResponse:
        ours = PLANNER not in (request.header("Authorization") or "")
        if ours:
            with self._lock:
                self.first = time.perf_counter() if self.first is None else self.first
        response = handle()
        if ours:
            with self._lock:
                self.last = time.perf_counter()
        return response

    @property
    def seconds(self) -> float:
        if self.first is None or self.last is None:
            return float("nan")
        return self.last - self.first


class TimedFake(FakeDataverse):
    """The fake, timing the whole handling of each request (latency and server time included)."""

    active: ActiveTime

    def __call__(self, request: FakeRequest) -> FakeResponse:
        return self.active.around(request, lambda: super(TimedFake, self).__call__(request))


def new_fake(
    args: argparse.Namespace, records: int, *, open_leads: bool = False, **overrides: Any
) -> tuple[FakeDataverse, list[str], ActiveTime]:
    """A fake with ``records`` leads: disqualified (to reactivate), or open (to edit)."""
    fake = TimedFake(options=fake_options(args, **overrides))
    fake.active = ActiveTime()
    state, status = (0, 1) if open_leads else (2, 6)
    rows = [
        {"lastname": f"Lee{i}", "companyname": f"C{i}", "statecode": state, "statuscode": status}
        for i in range(records)
    ]
    return fake, fake.seed("lead", rows), fake.active


def row(
    name: str, records: int, active: ActiveTime, capacity: float, fake: FakeDataverse,
    lost: int, **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    rate = records / active.seconds
    return {
        "name": name,
        "records": records,
        "active_s": round(active.seconds, 2),
        "records_per_s": round(rate, 1),
        "capacity_per_s": round(capacity, 1),
        # What the limits admit in this many seconds from a fresh window (first window free).
        "ceiling_for_run_per_s": round(capacity * (1 + fake.options.window_s / active.seconds), 1),
        "capacity_share": round(rate / capacity, 3),
        "throttled_429": int(sum(fake.protection.stats.throttled.values())),
        "sent_during_retry_after": fake.protection.stats.early_retries,
        "peak_in_flight_per_caller": max(fake.protection.stats.peak_by_caller.values()),
        "lost": lost,
        "load_1m": round(os.getloadavg()[0], 2),
        **extra,
    }


def _reactivated_missing(fake: FakeDataverse, ids: list[str]) -> int:
    return sum(1 for i in ids if (fake.get("lead", i) or {}).get("statecode") != 0)


def _client(url: str, token: str, window_s: float) -> DataverseClient:
    # The client paces on the remaining-budget headers over the fake's (scaled) window.
    settings = Settings(url=url, limit_window=window_s)
    return DataverseClient(
        url,
        token_provider=StaticTokenProvider(token),
        keep_affinity=False,
        pool_size=64,
        settings=settings,
    )


def _options(args: argparse.Namespace) -> RunOptions:
    size = args.batch_size
    return RunOptions(batch_size=size, max_batch_size=size, min_batch_size=min(5, size))


def run_identities(
    args: argparse.Namespace, count: int, *, pace: bool = True, records: int | None = None
) -> dict[str, Any]:
    long_run = records is not None
    records = records or args.records_per_identity * count
    fake, ids, active = new_fake(args, records)
    window = args.pace_window_s if pace else 0.0
    with fake.serve() as server, tempfile.TemporaryDirectory() as tmp:
        planner = _client(server.url, PLANNER, window)
        clients = [_client(server.url, f"bench-identity-{n}", window) for n in range(count)]
        plan = plan_bulk_job(planner.session, JobSpec.reactivate(), SELECTION)
        with Journal(Path(tmp) / "jobs.sqlite") as journal:
            job_id = create_bulk_job(planner.session, journal, plan, SELECTION)
            summary = run_bulk_job_as(
                [Identity(f"app-{n}", c.session) for n, c in enumerate(clients)],
                journal,
                job_id,
                options=_options(args),
            )
        for client in [planner, *clients]:
            client.close()
    name = f"{count} identit{'y' if count == 1 else 'ies'}, one process ($batch reactivate"
    name += ", no pacing" if not pace else ""
    name += f", long run of {records})" if long_run else ")"
    return row(
        name, records, active, batch_capacity(args) * count, fake,
        _reactivated_missing(fake, ids), dealt=summary.dealt,
    )  # fmt: skip


def _fresh_database(server_url: str) -> str:
    admin = sa.create_engine(
        sa.make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def run_workers(args: argparse.Namespace, count: int) -> dict[str, Any]:
    records = args.records_per_identity
    fake, ids, active = new_fake(args, records)
    journal_url = _fresh_database(args.pg_url)
    with fake.serve() as server:
        planner = _client(server.url, PLANNER, args.pace_window_s)
        plan = plan_bulk_job(planner.session, JobSpec.reactivate(), SELECTION)
        with PgJournal(journal_url, chunk_size=args.batch_size * 2) as journal:
            job_id = create_bulk_job(planner.session, journal, plan, SELECTION)
        planner.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("D365", "AZURE_"))}
        env.update(
            D365_ACCESS_TOKEN="bench-worker",
            D365LEADS_CONFIG_DIR=tempfile.mkdtemp(),
            D365_LIMIT_WINDOW=str(args.pace_window_s),
        )
        command = [
            sys.executable, "-m", "d365leads", "-o", "json", "--url", server.url, "bulk",
            "worker", "--job", job_id, "--journal", journal_url,
            "--batch-size", str(args.batch_size),
        ]  # fmt: skip
        start = time.perf_counter()
        procs = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(count)
        ]
        outputs = [p.communicate(timeout=900) for p in procs]
        wall = time.perf_counter() - start
    failures = [
        err.decode()[-300:] for p, (_, err) in zip(procs, outputs, strict=True) if p.returncode
    ]
    name = f"{count} worker process{'es' if count > 1 else ''}, one identity, PostgreSQL"
    return row(
        name, records, active, batch_capacity(args), fake, _reactivated_missing(fake, ids),
        wall_with_startup_s=round(wall, 2),
        finished_by=sum(b'"finished_here": true' in out for out, _ in outputs),
        worker_failures=failures,
    )  # fmt: skip


def _not_updated(fake: FakeDataverse, ids: list[str]) -> int:
    wanted = CHANGE["companyname"]
    return sum(1 for i in ids if (fake.get("lead", i) or {}).get("companyname") != wanted)


def _field_fake(
    args: argparse.Namespace, messages: bool
) -> tuple[FakeDataverse, list[str], ActiveTime]:
    tables = ("lead",) if messages else ()
    return new_fake(
        args, args.field_records, open_leads=True, bulk_message_tables=tables, sleep_in_process=True
    )


def run_update_many(args: argparse.Namespace, path: str) -> dict[str, Any]:
    fake, ids, active = _field_fake(args, messages=path == "UpdateMultiple")
    with fake.mock(), _client(fake.org_url, "bench-field", args.pace_window_s) as client:
        result = client.records.update_many("leads", ids, CHANGE, chunk_size=args.field_chunk)
    capacity = message_capacity(args) if path == "UpdateMultiple" else batch_capacity(args)
    return row(
        f"d365leads records.update_many ({path})", len(ids), active, capacity, fake,
        _not_updated(fake, ids), requests=dict(result.requests),
    )  # fmt: skip


def _sdk(fake: FakeDataverse) -> Any:
    from azure.core.credentials import AccessToken
    from PowerPlatform.Dataverse.client import DataverseClient as SdkClient

    class Credential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("bench-sdk", int(time.time()) + 3600)

    return SdkClient(fake.org_url, Credential())


def run_sdk(args: argparse.Namespace, path: str) -> dict[str, Any]:
    fake, ids, active = _field_fake(args, messages=True)
    with fake.mock():
        client = _sdk(fake)
        if path == "UpdateMultiple":
            client.records.update("lead", ids, dict(CHANGE))
        else:
            for offset in range(0, len(ids), 100):
                batch = client.batch.new()
                for record_id in ids[offset : offset + 100]:
                    batch.records.update("lead", record_id, dict(CHANGE))
                batch.execute(continue_on_error=True)
        client.close()
    capacity = message_capacity(args) if path == "UpdateMultiple" else batch_capacity(args)
    call = "records.update(ids)" if path == "UpdateMultiple" else "batch, 100 per batch"
    return row(
        f"powerplatform-dataverse-client 1.1.0 {call} ({path})", len(ids), active, capacity,
        fake, _not_updated(fake, ids),
    )  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Bulk at the service's ceiling: identities, worker processes, bulk messages",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {report['machine']}. Fake limits: {report['limits']}.",
        "",
        "| contender | records | active s | records/s | capacity/s | % of capacity "
        "| % of run ceiling | 429s | peak in flight per caller | lost | load 1m |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['name']} | {r['records']} | {r['active_s']} | {r['records_per_s']} | "
            f"{r['capacity_per_s']} | {r['capacity_share']:.0%} | "
            f"{r['records_per_s'] / r['ceiling_for_run_per_s']:.0%} | {r['throttled_429']} | "
            f"{r['peak_in_flight_per_caller']} | {r['lost']} | {r['load_1m']} |"
        )
    lines += ["", "Targets:", "", *[f"- {k}: {v}" for k, v in report["targets"].items()], ""]
    lines += [
        "Capacity is the steady-state rate the limits admit. A run shorter than a few windows",
        "can pass it (the first window's budget is free at the start): the run ceiling",
        "(`ceiling_for_run_per_s` in the JSON) is capacity x (1 + window / active time), what",
        "the limits admit over the run's own length; the long run makes that share small.",
        "",
    ]
    return "\n".join(lines)


def _targets(results: list[dict[str, Any]]) -> dict[str, str]:
    by = {r["name"].split(" (")[0].split(",")[0]: r for r in results if "long run" not in r["name"]}
    one, four = by.get("1 identity"), by.get("4 identities")
    ratio = (
        f"{four['records_per_s'] / one['records_per_s']:.2f}x" if one and four else "not measured"
    )
    ours = [
        r
        for r in results
        if not r["name"].startswith("powerplatform") and "no pacing" not in r["name"]
    ]
    lowest = min(ours, key=lambda r: r["capacity_share"]) if ours else None
    tightest = (
        min(ours, key=lambda r: r["records_per_s"] / r["ceiling_for_run_per_s"]) if ours else None
    )
    mine = next((r for r in results if r["name"].endswith("update_many (UpdateMultiple)")), None)
    sdk = [r for r in results if r["name"].startswith("powerplatform")]
    best_sdk = max(sdk, key=lambda r: r["records_per_s"]) if sdk else None
    ahead = (
        f"{mine['records_per_s']} vs {best_sdk['records_per_s']} records/s "
        f"({mine['records_per_s'] / best_sdk['records_per_s']:.1f}x)"
        if mine and best_sdk
        else "not measured"
    )
    return {
        "4 identities / 1 identity (target >= 3.6x)": ratio,
        "lowest share of capacity among d365leads rows (target >= 90%)": (
            f"{lowest['capacity_share']:.0%} ({lowest['name']})" if lowest else "not measured"
        ),
        "lowest share of the run ceiling among d365leads rows (for information)": (
            f"{tightest['records_per_s'] / tightest['ceiling_for_run_per_s']:.0%} "
            f"({tightest['name']})"
            if tightest
            else "not measured"
        ),
        "d365leads UpdateMultiple vs the SDK's best field update (target: ahead)": ahead,
        "lost records (target 0)": str(sum(r["lost"] for r in results)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records-per-identity", type=int, default=800)
    parser.add_argument(
        "--long-records",
        type=int,
        default=2400,
        help="records of the long 1-identity run (0: skip it)",
    )
    parser.add_argument(
        "--only", help="comma-separated contender labels to run (default: all), for tracing"
    )
    parser.add_argument("--field-records", type=int, default=400)
    parser.add_argument("--field-chunk", type=int, default=25)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--op-cost-ms", type=float, default=160.0)
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--dop-hint", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument(
        "--pace-window-s",
        type=float,
        help="window the clients pace the budget headers on (default: --window-s; 0: off)",
    )
    parser.add_argument("--pg-url", help="PostgreSQL server for the worker contenders")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sdk", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if args.pace_window_s is None:
        args.pace_window_s = args.window_s
    if not args.skip_pg and not args.pg_url:
        parser.error("--pg-url is needed for the worker contenders (or --skip-pg)")
    runs: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("1 identity, no pacing", lambda: run_identities(args, 1, pace=False)),
        *[(f"{n} identities", lambda n=n: run_identities(args, n)) for n in (1, 2, 4)],
        *[
            ("1 identity, long run", lambda: run_identities(args, 1, records=args.long_records))
            for _ in range(1 if args.long_records else 0)
        ],
        *[(f"{n} workers", lambda n=n: run_workers(args, n)) for n in (1, 3) if not args.skip_pg],
        *[
            (f"update_many {p}", lambda p=p: run_update_many(args, p))
            for p in ("UpdateMultiple", "$batch")
        ],
        *[
            (f"SDK {p}", lambda p=p: run_sdk(args, p))
            for p in ("UpdateMultiple", "$batch")
            if not args.skip_sdk
        ],
    ]
    if args.only:
        wanted = {label.strip() for label in args.only.split(",")}
        runs = [(label, run) for label, run in runs if label in wanted]
    results = []
    for label, run in runs:
        print(f"{label} ...", file=sys.stderr, flush=True)
        results.append(run())
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    opts = fake_options(args)
    report = {
        "command": "python bench/bench_bulk_scale.py " + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores shared with other work",
        "limits": f"window {opts.window_s:g} s, {opts.max_requests} requests and "
        f"{opts.max_exec_ms} ms of server time per window per user, {args.op_cost_ms:g} ms per "
        f"operation, latency {args.latency_ms:g} ms, dop hint {opts.dop_hint}; capacity per user "
        f"{batch_capacity(args):g} ops/s by $batch, {message_capacity(args):g} records/s by "
        "UpdateMultiple",
        "results": results,
        "targets": _targets(results),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bulk_scale.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "bulk_scale.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
