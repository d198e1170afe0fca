"""Benchmark: reactivate 10,000 disqualified leads against the fake with service protection on.

Run it from the repository root::

    python bench/bench_bulk.py                 # full run (about two to three minutes)
    python bench/bench_bulk.py --records 2000  # quicker
    python bench/bench_bulk.py --sweep         # also try several batch sizes for d365leads
    python bench/bench_bulk.py --paced         # also d365leads pacing over the fake's window

Contenders, each against a fresh fake org with the same data, latency and limits:

(a) naive: one ``PATCH`` per lead with plain ``requests``, sequential, no retry. Only a sample
    (``--naive-sample``, 300 by default) is sent and the time is extrapolated to all records.
(b) Microsoft's ``powerplatform-dataverse-client`` 1.1.0 the best way it offers for this job:
    ``client.batch`` with 1,000 updates per ``$batch`` (its maximum) and continue-on-error,
    one batch after the other, re-sending a batch after a 429 once ``Retry-After`` has passed.
    The SDK refuses non-https URLs, so it talks to the fake in-process through the ``responses``
    adapter; the fake then really sleeps the same latency and execution time
    (``sleep_in_process``) and applies the same limits, so the wall times compare.  Its
    metadata look-ups (``EntityDefinitions``, choice labels) are answered by the fake itself,
    so the run is end to end.
(c) d365leads: ``plan_bulk_job`` + ``run_bulk_job`` (the engine behind ``d365leads bulk``),
    against the fake's real HTTP server, concurrency from ``x-ms-dop-hint``.
(d) with ``--paced``: the same with ``D365_LIMIT_WINDOW`` set to the fake's window, so the
    client paces on the budget headers and its own window ledger (:mod:`d365leads.http.pacing`).

The fake's limits keep production's *rates* (20 requests/s and 4 s of execution time per
second per user) over a window scaled down from 300 s to ``--window-s``.  With ``$batch`` the
execution-time limit binds, so the capacity for this job is
``max_exec_ms / window_s / op_cost_ms`` operations per second; "share of capacity" is the
records per second reached divided by that.

Results go to ``bench/results/bulk.json`` and ``bench/results/bulk.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from bulk_messages import run_field_update, run_sdk_update_multiple  # bench/ is on sys.path

from d365leads.auth import StaticTokenProvider
from d365leads.bulk import (
    DEFAULT_BATCH_SIZE,
    JobSpec,
    Journal,
    RunOptions,
    Selection,
    create_bulk_job,
    plan_bulk_job,
    run_bulk_job,
)
from d365leads.client import DataverseClient
from d365leads.config import Settings
from d365leads.fake import FakeDataverse
from d365leads.fake.core.options import FakeOptions

TOKEN = "bench-token"
TARGET = {"statecode": 0, "statuscode": 1}


@dataclass
class Result:
    """One contender's numbers."""

    name: str
    records: int
    wall_s: float
    requests: int
    throttled: int
    early_retries: int
    lost: int
    extrapolated: bool = False
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self, capacity_ops_s: float) -> dict[str, Any]:
        rate = self.records / self.wall_s if self.wall_s > 0 else 0.0
        return {
            "name": self.name,
            "records": self.records,
            "wall_s": round(self.wall_s, 2),
            "records_per_s": round(rate, 1),
            "requests": self.requests,
            "requests_per_record": round(self.requests / self.records, 4),
            "throttled_429": self.throttled,
            "sent_during_retry_after": self.early_retries,
            "capacity_share": round(rate / capacity_ops_s, 3),
            "lost_records": self.lost,
            "extrapolated": self.extrapolated,
            "notes": self.notes,
            **self.extra,
        }


def fake_options(args: argparse.Namespace, **overrides: Any) -> FakeOptions:
    window = args.window_s
    return FakeOptions(
        latency_ms=args.latency_ms,
        op_cost_ms=args.op_cost_ms,
        window_s=window,
        max_requests=int(6000 * window / 300),
        max_exec_ms=int(1_200_000 * window / 300),
        max_concurrency=52,
        dop_hint=args.dop_hint,
        **overrides,
    )


def new_fake(
    args: argparse.Namespace, org_url: str | None = None, **overrides: Any
) -> tuple[FakeDataverse, list[str]]:
    fake = (
        FakeDataverse(org_url, options=fake_options(args, **overrides))
        if org_url
        else FakeDataverse(options=fake_options(args, **overrides))
    )
    rows = [
        {
            "firstname": f"Ana{i}",
            "lastname": f"Lee{i}",
            "companyname": f"Contoso {i}",
            "subject": f"Inquiry {i}",
            "statecode": 2,
            "statuscode": 6,
        }
        for i in range(args.records)
    ]
    return fake, fake.seed("lead", rows)


def throttled(fake: FakeDataverse) -> int:
    return int(sum(fake.protection.stats.throttled.values()))


def lost(fake: FakeDataverse, ids: list[str]) -> int:
    return sum(1 for i in ids if (fake.get("lead", i) or {}).get("statecode") != 0)


def run_naive(args: argparse.Namespace) -> Result:
    fake, ids = new_fake(args)
    sample = ids[: args.naive_sample]
    failures = 0
    with fake.serve() as server, requests.Session() as http:
        headers = {
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "application/json",
            "OData-Version": "4.0",
            "OData-MaxVersion": "4.0",
            "If-Match": "*",
        }
        start = time.perf_counter()
        for lead_id in sample:
            response = http.patch(
                f"{server.url}/api/data/v9.2/leads({lead_id})", json=TARGET, headers=headers
            )
            if response.status_code >= 400:
                failures += 1
        elapsed = time.perf_counter() - start
    per_record = elapsed / len(sample)
    return Result(
        name="naive loop (single PATCH, sequential)",
        records=args.records,
        wall_s=per_record * args.records,
        requests=args.records,
        throttled=throttled(fake),
        early_retries=fake.protection.stats.early_retries,
        lost=lost(fake, sample) * args.records // len(sample),
        extrapolated=True,
        notes=f"{len(sample)} records timed ({elapsed:.1f}s), extrapolated to {args.records}",
    )


class _Credential:
    """A ``TokenCredential`` for the SDK that hands out the bench token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(TOKEN, int(time.time()) + 3600)


def run_sdk(args: argparse.Namespace) -> Result:
    from PowerPlatform.Dataverse.client import DataverseClient as SdkClient
    from PowerPlatform.Dataverse.core.errors import HttpError

    fake = FakeDataverse(options=fake_options(args, sleep_in_process=True))
    ids = fake.seed(
        "lead",
        [
            {"lastname": f"Lee{i}", "companyname": f"C{i}", "statecode": 2, "statuscode": 6}
            for i in range(args.records)
        ],
    )
    chunk = 1000
    retried = 0
    item_failures = 0
    with fake.mock():
        client = SdkClient(fake.org_url, _Credential())
        start = time.perf_counter()
        for offset in range(0, len(ids), chunk):
            part = ids[offset : offset + chunk]
            while True:
                batch = client.batch.new()
                for lead_id in part:
                    batch.records.update("lead", lead_id, dict(TARGET))
                try:
                    result = batch.execute(continue_on_error=True)
                except HttpError as exc:
                    if getattr(exc, "status_code", None) == 429:
                        retried += 1
                        time.sleep(float(getattr(exc, "retry_after", None) or 1))
                        continue
                    raise
                item_failures += len(result.failed)
                break
        elapsed = time.perf_counter() - start
        client.close()
    requests_sent = fake.journal.total  # its metadata look-ups included
    return Result(
        name="powerplatform-dataverse-client 1.1.0 ($batch x1000, retry on 429)",
        records=args.records,
        wall_s=elapsed,
        requests=requests_sent,
        throttled=throttled(fake),
        early_retries=fake.protection.stats.early_retries,
        lost=lost(fake, ids),
        notes=f"in-process (responses adapter, latency slept); {retried} batch re-sends, "
        f"{item_failures} failed items",
    )


def run_d365leads(
    args: argparse.Namespace, batch_size: int, records: int | None = None, pace_window_s: float = 0
) -> Result:
    local = argparse.Namespace(**{**vars(args), "records": records or args.records})
    fake, ids = new_fake(local)
    with fake.serve() as server, tempfile.TemporaryDirectory() as tmp:
        client = DataverseClient(
            server.url,
            token_provider=StaticTokenProvider(TOKEN),
            keep_affinity=False,
            pool_size=64,
            settings=Settings(url=server.url, limit_window=pace_window_s)
            if pace_window_s
            else None,
        )
        selection = Selection(filter="statecode eq 2 and statuscode eq 6")
        start = time.perf_counter()
        plan = plan_bulk_job(client.session, JobSpec.reactivate(), selection, batch_size=batch_size)
        with Journal(Path(tmp) / "jobs.sqlite") as journal:
            job_id = create_bulk_job(client.session, journal, plan, selection)
            planned = time.perf_counter() - start
            summary = run_bulk_job(
                client.session,
                journal,
                job_id,
                options=RunOptions(batch_size=batch_size, max_batch_size=batch_size),
            )
        elapsed = time.perf_counter() - start
        client.close()
    paced = f", paced over {pace_window_s:g} s" if pace_window_s else ""
    return Result(
        name=f"d365leads bulk (batch {batch_size}, dop-hint workers{paced})",
        records=local.records,
        wall_s=elapsed,
        requests=fake.journal.total,
        throttled=throttled(fake),
        early_retries=fake.protection.stats.early_retries,
        lost=lost(fake, ids),
        notes=f"job {summary.counts['done']} done / {summary.counts['failed']} failed; "
        f"planning {planned:.1f}s; {summary.workers} workers, peak {summary.peak_concurrency}; "
        f"waited {summary.waited_s:.1f}s on Retry-After",
        extra={
            "write_phase_s": round(summary.elapsed_s, 2),
            "write_phase_capacity_share": round(
                local.records / summary.elapsed_s / ((1_200_000 / 300) / args.op_cost_ms), 3
            ),
            "batch_size": batch_size,
        },
    )


def run_qualify(args: argparse.Namespace, mode: str) -> Result:
    """Qualify open leads: d365leads' $batch path, or one QualifyLead POST per lead in parallel."""
    fake = FakeDataverse(options=fake_options(args))
    ids = fake.seed(
        "lead",
        [
            {
                "firstname": "Ana",
                "lastname": f"Lee{i}",
                "companyname": f"Contoso {i}",
                "subject": f"Deal {i}",
                "statecode": 0,
                "statuscode": 1,
            }
            for i in range(args.qualify_records)
        ],
    )
    body = {"CreateAccount": True, "CreateContact": True, "CreateOpportunity": True, "Status": 3}
    with fake.serve() as server, tempfile.TemporaryDirectory() as tmp:
        client = DataverseClient(
            server.url,
            token_provider=StaticTokenProvider(TOKEN),
            keep_affinity=False,
            pool_size=64,
        )
        start = time.perf_counter()
        if mode == "batch":
            selection = Selection(ids=tuple(ids))
            plan = plan_bulk_job(client.session, JobSpec.qualify(), selection)
            with Journal(Path(tmp) / "jobs.sqlite") as journal:
                job_id = create_bulk_job(client.session, journal, plan, selection)
                run_bulk_job(client.session, journal, job_id)
        else:
            from concurrent.futures import ThreadPoolExecutor

            client.whoami()
            workers = client.session.throttle.dop_hint or 4

            def one(lead_id: str) -> None:
                client.session.request(
                    "POST", f"leads({lead_id})/Microsoft.Dynamics.CRM.QualifyLead", json=body
                )

            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(one, ids))
        elapsed = time.perf_counter() - start
        client.close()
    opportunities = len(fake.rows("opportunity"))
    not_done = sum(1 for i in ids if (fake.get("lead", i) or {}).get("statecode") != 1)
    return Result(
        name=f"qualify: {'d365leads $batch' if mode == 'batch' else 'parallel single POSTs'}",
        records=len(ids),
        wall_s=elapsed,
        requests=fake.journal.total,
        throttled=throttled(fake),
        early_retries=fake.protection.stats.early_retries,
        lost=not_done,
        notes=f"{opportunities} opportunities for {len(ids)} leads",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--naive-sample", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--op-cost-ms", type=float, default=10.0)
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--dop-hint", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--skip-sdk", action="store_true")
    parser.add_argument(
        "--qualify-records",
        type=int,
        default=600,
        help="leads for the qualify comparison (0: skip)",
    )
    parser.add_argument("--sweep", action="store_true", help="also try several batch sizes")
    parser.add_argument(
        "--paced",
        action="store_true",
        help="also run d365leads with D365_LIMIT_WINDOW set to the fake's window",
    )
    parser.add_argument(
        "--field-update-records",
        type=int,
        default=2000,
        help="leads for the UpdateMultiple/$batch/SDK field-update comparison (0: skip)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    capacity = (1_200_000 / 300) / args.op_cost_ms  # records per second
    print(f"capacity for this job: {capacity:.0f} records/s (execution-time limit)", flush=True)
    results: list[Result] = []
    print("(a) naive loop ...", flush=True)
    results.append(run_naive(args))
    if not args.skip_sdk:
        print("(b) powerplatform-dataverse-client ...", flush=True)
        results.append(run_sdk(args))
    print("(c) d365leads ...", flush=True)
    ours = run_d365leads(args, args.batch_size)
    results.append(ours)
    if args.paced:
        print("(d) d365leads, paced ...", flush=True)
        results.append(run_d365leads(args, args.batch_size, pace_window_s=args.window_s))
    sweep: list[dict[str, Any]] = []
    if args.sweep:
        for size in (25, 50, 100, 250, 500):
            print(f"    sweep: batch size {size} ...", flush=True)
            sweep.append(run_d365leads(args, size, records=min(args.records, 4000)).row(capacity))

    qualify: list[dict[str, Any]] = []
    if args.qualify_records:
        for mode in ("batch", "single"):
            print(f"qualify comparison: {mode} ...", flush=True)
            qualify.append(run_qualify(args, mode).row(capacity))

    field_update: list[dict[str, Any]] = []
    if args.field_update_records:
        local = argparse.Namespace(**{**vars(args), "records": args.field_update_records})
        for path in ("UpdateMultiple", "$batch"):
            print(f"field update: update_many via {path} ...", flush=True)
            field_update.append(run_field_update(local, fake_options(args), path))
        if not args.skip_sdk:
            print("field update: the SDK's UpdateMultiple ...", flush=True)
            field_update.append(run_sdk_update_multiple(local, fake_options(args)))

    rows = [r.row(capacity) for r in results]
    naive = results[0]
    speedups = {r.name: round(naive.wall_s / r.wall_s, 1) for r in results[1:]}
    report = {
        "command": "python bench/bench_bulk.py " + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "settings": {
            "records": args.records,
            "latency_ms": args.latency_ms,
            "op_cost_ms": args.op_cost_ms,
            "window_s": args.window_s,
            "max_requests_per_window": int(6000 * args.window_s / 300),
            "max_exec_ms_per_window": int(1_200_000 * args.window_s / 300),
            "max_concurrency": 52,
            "dop_hint": args.dop_hint,
            "capacity_records_per_s": round(capacity, 1),
        },
        "results": rows,
        "speedup_vs_naive": speedups,
        "batch_size_sweep": sweep,
        "qualify": qualify,
        "field_update": field_update,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bulk.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "bulk.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if all(r.lost == 0 for r in results if not r.extrapolated) else 1


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        "# Bulk reactivation benchmark",
        "",
        f"`{report['command'].strip()}` on {report['machine']}.",
        "",
        f"{s['records']} disqualified leads reactivated against the fake with "
        f"{s['latency_ms']:.0f} ms latency per request plus {s['op_cost_ms']:.0f} ms execution "
        f"time per operation; service protection at production rates over a "
        f"{s['window_s']:.0f} s window ({s['max_requests_per_window']} requests, "
        f"{s['max_exec_ms_per_window']} ms execution time, {s['max_concurrency']} concurrent); "
        f"x-ms-dop-hint {s['dop_hint']}. Capacity for this job: "
        f"{s['capacity_records_per_s']} records/s (execution-time limit).",
        "",
        "| contender | wall time (s) | records/s | requests/record | 429s | sent during "
        "Retry-After | share of capacity | lost records | speed-up vs naive |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        speed = report["speedup_vs_naive"].get(row["name"], 1.0)
        wall = f"{row['wall_s']}{' (extrapolated)' if row['extrapolated'] else ''}"
        lines.append(
            f"| {row['name']} | {wall} | {row['records_per_s']} | {row['requests_per_record']} "
            f"| {row['throttled_429']} | {row['sent_during_retry_after']} "
            f"| {row['capacity_share']:.0%} | {row['lost_records']} | {speed}x |"
        )
    lines += ["", "Notes:", ""]
    lines += [f"- {row['name']}: {row['notes']}" for row in report["results"]]
    lines += [
        "- Wall times include everything the contender does: d365leads' time includes reading "
        "and planning the selection; requests count every request the fake received.",
        "- Retry-After waits are summed over the workers that waited.",
        "- A run can exceed 100% of the steady capacity because the first window's whole "
        "execution budget is available at once: over T seconds at most 4 x (T + window) "
        "seconds of execution are admitted. This matters for the short sweep runs below.",
    ]
    if report["batch_size_sweep"]:
        lines += [
            "",
            "Batch-size sweep (d365leads, up to 4,000 records each):",
            "",
            "| batch size | wall time (s) | records/s | share of capacity | 429s |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['batch_size']} | {r['wall_s']} | {r['records_per_s']} "
            f"| {r['capacity_share']:.0%} | {r['throttled_429']} |"
            for r in report["batch_size_sweep"]
        ]
    if report["qualify"]:
        lines += [
            "",
            "QualifyLead, same fake (one action per lead; chooses how d365leads sends it):",
            "",
            "| path | leads | wall time (s) | leads/s | requests | 429s | not qualified | notes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['name']} | {r['records']} | {r['wall_s']} | {r['records_per_s']} "
            f"| {r['requests']} | {r['throttled_429']} | {r['lost_records']} | {r['notes']} |"
            for r in report["qualify"]
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
