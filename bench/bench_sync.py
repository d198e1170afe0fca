"""Benchmark ``sync pull``: initial mirror speed, memory against table size, incremental cost.

Run it from the repository root::

    python bench/bench_sync.py                 # 10,000 and 100,000 leads (a few minutes)
    python bench/bench_sync.py --rows 20000 --small 2000   # a quick run

What it does:

1. For each size (``--small`` and ``--rows``) it seeds a fresh fake org in this process and serves
   it over HTTP on 127.0.0.1 (a free port), then runs the initial mirror into a new SQLite file
   **in a child process**, so the child's peak RSS is the sync's alone (the fake's store lives in
   this process). Reported: wall time, records per second, pages, peak RSS, and the RSS before
   the pull (imports) so the growth is visible too.
2. On the large org it then changes ``--changed-pct`` percent of the leads (every Nth one) and
   runs an incremental pull in another child: the rows transferred and written, and the HTTP
   requests, are counted; only the changed rows may travel.

Results go to ``bench/results/sync.json`` and ``bench/results/sync.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))


def _lead_rows(n: int) -> list[dict[str, Any]]:
    sources = list(range(1, 11))
    return [
        {
            "subject": f"Inquiry {i}",
            "firstname": f"Ana{i}",
            "lastname": f"Lee{i}",
            "emailaddress1": f"ana{i}@example.com",
            "companyname": f"Company {i % 500}",
            "jobtitle": "Purchasing manager",
            "telephone1": "+1 555 0100",
            "address1_city": "Seattle",
            "address1_country": "United States",
            "revenue": 1000.0 + i,
            "numberofemployees": i % 1000,
            "leadsourcecode": sources[i % 10],
            "description": "Met at the spring trade show; wants a demo of the premium plan.",
        }
        for i in range(n)
    ]


def _rss_kb() -> int:
    """Peak RSS of this process in KiB.

    On Linux ``VmHWM`` is read: it belongs to this address space only, whereas ``ru_maxrss`` of
    a child inherits the parent's peak across fork/exec (and the parent holds the fake).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


# --- child: one pull, measured -----------------------------------------------------------------


def child(url: str, db: str, page_size: int) -> None:
    """Run one pull against ``url`` into ``db`` and print its measurements as JSON."""
    from d365leads.auth import StaticTokenProvider
    from d365leads.client import DataverseClient
    from d365leads.sync import PageDone, SyncTarget, pull

    rss_before = _rss_kb()
    transferred = 0

    def progress(done: PageDone) -> None:
        nonlocal transferred
        transferred += done.upserted + done.deleted

    with (
        DataverseClient(url, token_provider=StaticTokenProvider("bench-token")) as client,
        SyncTarget(f"sqlite:///{db}") as target,
    ):
        start = time.perf_counter()
        cpu = time.process_time()
        result = pull(client, target, ["lead"], page_size=page_size, progress=progress)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        live, tombstones = target.count("lead")
    [table] = result.tables
    print(
        json.dumps(
            {
                "seconds": seconds,
                "sync_cpu_seconds": round(cpu, 2),
                "kind": table.kind,
                "mode": table.mode,
                "rows_written": table.upserted,
                "rows_deleted": table.deleted,
                "rows_in_mirror": live,
                "tombstones": tombstones,
                "pages": table.pages,
                "rss_before_kb": rss_before,
                "rss_peak_kb": _rss_kb(),
                "changes_seen": transferred,
            }
        )
    )


def _run_child(url: str, db: Path, page_size: int) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", url, str(db)]
    cmd += ["--page-size", str(page_size)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the pull failed:\n{done.stderr}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


# --- parent: orchestrate -----------------------------------------------------------------------


def _org(n: int) -> tuple[Any, Any, list[str]]:
    from d365leads.fake import FakeDataverse, FakeOptions

    # Service protection off: this measures the sync, not the fake's 429s.
    fake = FakeDataverse(options=FakeOptions(max_requests=None, max_exec_ms=None))
    ids = fake.seed("lead", _lead_rows(n))
    # The seeded rows live for the whole run: keep the garbage collector from re-scanning them
    # on every page the fake serves (harness hygiene; the pull runs in another process).
    gc.collect()
    gc.freeze()
    return fake, fake.serve("127.0.0.1", 0), ids


def _initial(n: int, page_size: int, folder: Path) -> tuple[dict[str, Any], Any, Any, Path]:
    fake, server, ids = _org(n)
    db = folder / f"mirror-{n}.db"
    before = fake.journal.total
    measured = _run_child(server.url, db, page_size)
    measured["rows"] = n
    measured["requests"] = fake.journal.total - before
    measured["records_per_second"] = round(n / measured["seconds"], 1)
    measured["records_per_sync_cpu_second"] = round(n / max(measured["sync_cpu_seconds"], 0.01), 1)
    if measured["rows_in_mirror"] != n:
        raise SystemExit(f"mirror holds {measured['rows_in_mirror']} rows, expected {n}")
    return measured, (fake, ids), server, db


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the results files."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="large org size (100000)")
    parser.add_argument("--small", type=int, default=10_000, help="small org size (10000)")
    parser.add_argument("--page-size", type=int, default=5000, help="rows per page (5000)")
    parser.add_argument("--changed-pct", type=float, default=1.0, help="percent changed (1)")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="output folder")
    parser.add_argument("--child", nargs=2, metavar=("URL", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], args.page_size)
        return 0

    args.results.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="d365leads-bench-") as tmp:
        folder = Path(tmp)
        print(f"initial mirror of {args.small} leads ...", file=sys.stderr)
        small, (small_fake, _), small_server, _ = _initial(args.small, args.page_size, folder)
        small_server.close()
        del small_fake
        print(f"initial mirror of {args.rows} leads ...", file=sys.stderr)
        large, (fake, ids), server, db = _initial(args.rows, args.page_size, folder)
        try:
            step = max(1, round(100 / args.changed_pct))
            changed = ids[::step]
            for i, rid in enumerate(changed):
                fake.store.update("lead", rid, {"subject": f"Changed {i}", "jobtitle": "Buyer"})
            print(f"incremental pull after {len(changed)} changes ...", file=sys.stderr)
            before = fake.journal.total
            incremental = _run_child(server.url, db, args.page_size)
            incremental["requests"] = fake.journal.total - before
            incremental["rows_changed_in_org"] = len(changed)
        finally:
            server.close()

    ratio = large["rss_peak_kb"] / small["rss_peak_kb"]
    growth_small = small["rss_peak_kb"] - small["rss_before_kb"]
    growth_large = large["rss_peak_kb"] - large["rss_before_kb"]
    report = {
        "benchmark": "sync pull (fake served over HTTP on 127.0.0.1, SQLite target, WAL)",
        "command": "python bench/bench_sync.py"
        + "".join(" " + a for a in (sys.argv[1:] if argv is None else argv)),
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "page_size": args.page_size,
        "initial": {"small": small, "large": large},
        "memory": {
            "peak_rss_ratio_large_vs_small": round(ratio, 3),
            "within_1_5x": ratio <= 1.5,
            "pull_rss_growth_kb": {"small": growth_small, "large": growth_large},
        },
        "incremental": incremental,
        "incremental_only_changes_transferred": incremental["rows_written"]
        == incremental["rows_changed_in_org"]
        and incremental["changes_seen"] == incremental["rows_changed_in_org"],
    }
    (args.results / "sync.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.results / "sync.md").write_text(_markdown(report), encoding="utf-8")
    print(_markdown(report))
    return (
        0
        if report["memory"]["within_1_5x"] and report["incremental_only_changes_transferred"]
        else 1
    )


_HEADER = (
    "| leads | wall s | records/s (wall) | sync CPU s | records/s (sync CPU) | pages | requests "
    "| RSS before pull | peak RSS |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _initial_row(m: dict[str, Any]) -> str:
    mb = 1024.0
    cells = [
        f"{m['rows']:,}",
        f"{m['seconds']:.2f}",
        f"{m['records_per_second']:,.0f}",
        f"{m['sync_cpu_seconds']:.2f}",
        f"{m['records_per_sync_cpu_second']:,.0f}",
        str(m["pages"]),
        str(m["requests"]),
        f"{m['rss_before_kb'] / mb:.1f} MiB",
        f"{m['rss_peak_kb'] / mb:.1f} MiB",
    ]
    return "| " + " | ".join(cells) + " |"


def _markdown(r: dict[str, Any]) -> str:
    s, big = r["initial"]["small"], r["initial"]["large"]
    inc, mem = r["incremental"], r["memory"]
    mb = 1024.0
    growth = mem["pull_rss_growth_kb"]
    inc_cells = [
        f"{inc['kind']} ({inc['mode']})",
        f"{inc['seconds']:.2f}",
        str(inc["requests"]),
        f"{inc['changes_seen']:,}",
        f"{inc['rows_written']:,}",
        str(inc["rows_deleted"]),
    ]
    met = "met" if mem["within_1_5x"] else "NOT met"
    only = "yes" if r["incremental_only_changes_transferred"] else "NO"
    return f"""# sync pull benchmark

{r["benchmark"]}. Command: `{r["command"]}` ({r["when"]}, Python {r["python"]},
{r["machine"]}, page size {r["page_size"]}). The pull runs in a child process, so its RSS
excludes the fake. Wall time includes the fake serving each page (it runs in this process, on
the same CPUs); "sync CPU" is the CPU time of the pulling process alone.

## Initial mirror

{_HEADER}
{_initial_row(s)}
{_initial_row(big)}

Peak RSS {big["rows"]:,} vs {s["rows"]:,} rows: **{mem["peak_rss_ratio_large_vs_small"]}x**
(target at most 1.5x: {met}); growth during the pull {growth["small"] / mb:.1f} MiB vs
{growth["large"] / mb:.1f} MiB.

## Incremental after {inc["rows_changed_in_org"]:,} changed leads

| kind | seconds | requests | rows transferred | rows written | rows deleted |
|---|---:|---:|---:|---:|---:|
| {" | ".join(inc_cells)} |

Only the changed rows travelled and were written: {only}.
"""


if __name__ == "__main__":
    raise SystemExit(main())
