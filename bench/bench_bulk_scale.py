"""Benchmark: one bulk job spread over several identities, and over several worker processes.

Run it from the repository root::

    python bench/bench_bulk_scale.py --pg-url postgresql://user@127.0.0.1:5432/db
    python bench/bench_bulk_scale.py --records 4000 --skip-pg     # identities only

Contenders, each reactivating ``--records`` disqualified leads against a fresh fake org served
over HTTP, with the latency and the service-protection limits of ``bench/bench_bulk.py``
(production's rates over a window scaled down to ``--window-s``):

* 1, 2 and 4 identities (distinct tokens, so distinct callers for the fake's limits) in one
  process through :func:`d365leads.bulk.identities.run_bulk_job_as`.  Capacity grows with the
  identities: ``identities x max_exec_ms / window_s / op_cost_ms`` operations per second.
* 1 and 3 ``d365leads bulk worker`` processes of one identity on a PostgreSQL journal.  They
  share one user's limits, so the capacity is one identity's whatever the number of workers:
  the point is to reach it without losing or repeating anything.

"Share of capacity" is the records per second of the write phase (after planning) divided by
the capacity.  Results go to ``bench/results/bulk_scale.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from d365leads.auth import StaticTokenProvider
from d365leads.bulk import JobSpec, Journal, RunOptions, Selection, create_bulk_job, plan_bulk_job
from d365leads.bulk.identities import Identity, run_bulk_job_as
from d365leads.bulk.journal_pg import PgJournal
from d365leads.client import DataverseClient

sys.path.insert(0, str(Path(__file__).parent))
from bench_bulk import fake_options, lost, new_fake, throttled

SELECTION = Selection(filter="statecode eq 2 and statuscode eq 6")


def capacity_per_identity(args: argparse.Namespace) -> float:
    """Operations per second one identity is admitted (the execution-time limit binds)."""
    opts = fake_options(args)
    assert opts.max_exec_ms is not None
    return opts.max_exec_ms / args.window_s / args.op_cost_ms


def _client(url: str, token: str) -> DataverseClient:
    return DataverseClient(
        url, token_provider=StaticTokenProvider(token), keep_affinity=False, pool_size=64
    )


def run_identities(args: argparse.Namespace, count: int) -> dict[str, Any]:
    fake, ids = new_fake(args)
    with fake.serve() as server, tempfile.TemporaryDirectory() as tmp:
        clients = [_client(server.url, f"bench-identity-{n}") for n in range(count)]
        plan = plan_bulk_job(
            clients[0].session, JobSpec.reactivate(), SELECTION, batch_size=args.batch_size
        )
        with Journal(Path(tmp) / "jobs.sqlite") as journal:
            job_id = create_bulk_job(clients[0].session, journal, plan, SELECTION)
            start = time.perf_counter()
            summary = run_bulk_job_as(
                [Identity(f"app-{n}", c.session) for n, c in enumerate(clients)],
                journal,
                job_id,
                options=RunOptions(batch_size=args.batch_size, max_batch_size=args.batch_size),
            )
            wall = time.perf_counter() - start
        for client in clients:
            client.close()
    capacity = capacity_per_identity(args) * count
    rate = args.records / wall
    return {
        "name": f"{count} identit{'y' if count == 1 else 'ies'} in one process",
        "records": args.records,
        "write_s": round(wall, 2),
        "records_per_s": round(rate, 1),
        "capacity_ops_s": round(capacity, 1),
        "capacity_share": round(rate / capacity, 3),
        "throttled_429": throttled(fake),
        "sent_during_retry_after": fake.protection.stats.early_retries,
        "lost_records": lost(fake, ids),
        "dealt": summary.dealt,
    }


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
    fake, ids = new_fake(args)
    journal_url = _fresh_database(args.pg_url)
    with fake.serve() as server:
        client = _client(server.url, "bench-worker")
        plan = plan_bulk_job(
            client.session, JobSpec.reactivate(), SELECTION, batch_size=args.batch_size
        )
        with PgJournal(journal_url, chunk_size=args.batch_size * 2) as journal:
            job_id = create_bulk_job(client.session, journal, plan, SELECTION)
        client.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("D365", "AZURE_"))}
        env.update(D365_ACCESS_TOKEN="bench-worker", D365LEADS_CONFIG_DIR=tempfile.mkdtemp())
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
    finished = sum(b'"finished_here": true' in out for out, _ in outputs)
    capacity = capacity_per_identity(args)
    rate = args.records / wall
    return {
        "name": f"{count} worker process{'es' if count > 1 else ''}, one identity, PostgreSQL",
        "records": args.records,
        "write_s": round(wall, 2),
        "records_per_s": round(rate, 1),
        "capacity_ops_s": round(capacity, 1),
        "capacity_share": round(rate / capacity, 3),
        "throttled_429": throttled(fake),
        "sent_during_retry_after": fake.protection.stats.early_retries,
        "lost_records": lost(fake, ids),
        "finished_by": finished,
        "worker_failures": failures,
        "notes": "wall time includes starting the worker processes",
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Bulk at scale: identities and worker processes",
        "",
        f"Command: `{report['command']}`",
        "",
        "| contender | records/s | capacity (ops/s) | share | 429s | sent during Retry-After "
        "| lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['name']} | {row['records_per_s']} | {row['capacity_ops_s']} | "
            f"{row['capacity_share']:.0%} | {row['throttled_429']} | "
            f"{row['sent_during_retry_after']} | {row['lost_records']} |"
        )
    lines += ["", *[f"- {k}: {v}" for k, v in report["targets"].items()], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=8000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--op-cost-ms", type=float, default=10.0)
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--dop-hint", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--pg-url", help="PostgreSQL server for the worker contenders")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    results = [run_identities(args, n) for n in (1, 2, 4)]
    if not args.skip_pg:
        if not args.pg_url:
            parser.error("--pg-url is needed for the worker contenders (or --skip-pg)")
        results += [run_workers(args, n) for n in (1, 3)]
    by_name = {r["name"]: r for r in results}
    one = by_name["1 identity in one process"]["records_per_s"]
    four = by_name["4 identities in one process"]["records_per_s"]
    lowest = min(r["capacity_share"] for r in results)
    targets = {
        "4 identities / 1 identity (target >= 3.6x)": f"{four / one:.2f}x",
        "lowest share of capacity (target >= 90%)": f"{lowest:.0%}",
        "lost records (target 0)": sum(r["lost_records"] for r in results),
    }
    report = {
        "command": "python bench/bench_bulk_scale.py " + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores",
        "results": results,
        "targets": targets,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bulk_scale.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "bulk_scale.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
