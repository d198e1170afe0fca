"""Benchmark ``sync pull``: initial mirror speed, memory against table size, incremental cost.

Run it from the repository root::

    python bench/bench_sync.py                 # 10,000 and 100,000 leads (a few minutes)
    python bench/bench_sync.py --rows 20000 --small 2000   # a quick run
    python bench/bench_sync.py --mode inprocess            # only the in-process mode

What it does:

1. For each size (``--small`` and ``--rows``) it seeds a fresh fake org in this process and serves
   it over HTTP on 127.0.0.1 (a free port), then runs the initial mirror into a new SQLite file
   **in a child process**, so the child's peak RSS is the sync's alone (the fake's store lives in
   this process). Reported: wall time, records per second, pages, peak RSS, and the RSS before
   the pull (imports) so the growth is visible too.
2. On the large org it then changes ``--changed-pct`` percent of the leads (every Nth one) and
   runs an incremental pull in another child: the rows transferred and written, and the HTTP
   requests, are counted; only the changed rows may travel.

3. In-process mode (``--mode inprocess`` or ``both``, the default): a child process seeds the
   fake and pulls from it through the ``responses`` adapter (``FakeDataverse.mock()``), so no
   socket is involved and the fake runs on the pull's own CPU. The child times the fake's
   handler (rendering and JSON encoding of each page, ``time.thread_time`` around
   ``FakeDataverse.__call__``), so the pulling side's CPU is the child's CPU less the handler's:
   JSON decoding, building the database rows, SQLite, and the ``requests``/``responses``
   plumbing. Its RSS includes the fake's store.

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


_RAW_ENV = "D365LEADS_BENCH_RAW"


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


def _raw_mode() -> Any:
    """The pulls' ``raw`` (``--raw``, handed to the child processes in their environment)."""
    return os.environ.get(_RAW_ENV, "full")


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
        result = pull(
            client, target, ["lead"], page_size=page_size, progress=progress, raw=_raw_mode()
        )
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
                "load_average": os.getloadavg(),
            }
        )
    )


def child_inprocess(rows: int, db: str, page_size: int) -> None:
    """Seed a fake in this process, pull from it through ``responses``, print the figures."""
    from d365leads.auth import StaticTokenProvider
    from d365leads.client import DataverseClient
    from d365leads.fake import FakeDataverse, FakeOptions
    from d365leads.sync import SyncTarget, pull

    class TimedFake(FakeDataverse):
        """The fake with the CPU time of its handler counted (the thread that calls it)."""

        handler_cpu = 0.0

        def __call__(self, request: Any) -> Any:
            started = time.thread_time()
            try:
                return super().__call__(request)
            finally:
                self.handler_cpu += time.thread_time() - started

    fake = TimedFake(options=FakeOptions(max_requests=None, max_exec_ms=None))
    fake.seed("lead", _lead_rows(rows))
    gc.collect()
    gc.freeze()
    rss_before = _rss_kb()
    with (
        fake.mock(),
        DataverseClient(fake.org_url, token_provider=StaticTokenProvider("bench-token")) as client,
        SyncTarget(f"sqlite:///{db}") as target,
    ):
        fake.handler_cpu = 0.0
        start = time.perf_counter()
        cpu = time.process_time()
        result = pull(client, target, ["lead"], page_size=page_size, raw=_raw_mode())
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        live, _ = target.count("lead")
    [table] = result.tables
    pull_cpu = cpu - fake.handler_cpu
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "records_per_second": round(rows / seconds, 1),
                "cpu_seconds": round(cpu, 2),
                "fake_handler_cpu_seconds": round(fake.handler_cpu, 2),
                "pull_cpu_seconds": round(pull_cpu, 2),
                "records_per_pull_cpu_second": round(rows / max(pull_cpu, 0.01), 1),
                "pull_cpu_us_per_row": round(pull_cpu / rows * 1e6, 1),
                "rows_written": table.upserted,
                "rows_in_mirror": live,
                "pages": table.pages,
                "rss_before_kb": rss_before,
                "rss_peak_kb": _rss_kb(),
                "load_average": os.getloadavg(),
            }
        )
    )


def _run_inprocess(rows: int, folder: Path, page_size: int) -> dict[str, Any]:
    db = folder / f"inprocess-{rows}.db"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-inprocess", str(rows), str(db)]
    measured = _spawn([*cmd, "--page-size", str(page_size)])
    if measured["rows_in_mirror"] != rows:
        raise SystemExit(f"mirror holds {measured['rows_in_mirror']} rows, expected {rows}")
    return measured


def _spawn(cmd: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the pull failed:\n{done.stderr}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def _run_child(url: str, db: Path, page_size: int) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", url, str(db)]
    cmd += ["--page-size", str(page_size)]
    return _spawn(cmd)


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
    parser.add_argument(
        "--raw",
        choices=("full", "none"),
        default="full",
        help="what the mirror keeps in _raw (sync pull --raw; full)",
    )
    parser.add_argument(
        "--mode",
        choices=("http", "inprocess", "both"),
        default="both",
        help="the fake over HTTP in another process, in the pull's process, or both (both)",
    )
    parser.add_argument("--child", nargs=2, metavar=("URL", "DB"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--child-inprocess", nargs=2, metavar=("ROWS", "DB"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], args.page_size)
        return 0
    if args.child_inprocess:
        child_inprocess(int(args.child_inprocess[0]), args.child_inprocess[1], args.page_size)
        return 0

    os.environ[_RAW_ENV] = args.raw  # the children's, set before they start
    args.results.mkdir(parents=True, exist_ok=True)
    inprocess: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="d365leads-bench-") as tmp:
        folder = Path(tmp)
        if args.mode in ("inprocess", "both"):
            for size in (args.small, args.rows):
                print(f"in-process mirror of {size} leads ...", file=sys.stderr)
                inprocess[str(size)] = _run_inprocess(size, folder, args.page_size)
        if args.mode == "inprocess":
            report = _report(args, argv, inprocess=inprocess)
            _write(args.results, report)
            return 0
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
    report = _report(args, argv, inprocess=inprocess)
    report.update(
        {
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
    )
    _write(args.results, report)
    return (
        0
        if report["memory"]["within_1_5x"] and report["incremental_only_changes_transferred"]
        else 1
    )


def _report(args: Any, argv: list[str] | None, *, inprocess: dict[str, Any]) -> dict[str, Any]:
    return {
        "benchmark": "sync pull (SQLite target, WAL)",
        "command": "python bench/bench_sync.py"
        + "".join(" " + a for a in (sys.argv[1:] if argv is None else argv)),
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "page_size": args.page_size,
        "load_average_at_end": os.getloadavg(),
        "inprocess": inprocess,
    }


def _write(folder: Path, report: dict[str, Any]) -> None:
    (folder / "sync.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (folder / "sync.md").write_text(_markdown(report), encoding="utf-8")
    print(_markdown(report))


_INPROCESS_HEADER = (
    "| leads | wall s | records/s (wall) | CPU s | fake handler CPU s | pull CPU s "
    "| records/s (pull CPU) | µs/row (pull CPU) | pages | peak RSS (fake included) | load |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def _inprocess_row(m: dict[str, Any]) -> str:
    cells = [
        f"{m['rows']:,}",
        f"{m['seconds']:.2f}",
        f"{m['records_per_second']:,.0f}",
        f"{m['cpu_seconds']:.2f}",
        f"{m['fake_handler_cpu_seconds']:.2f}",
        f"{m['pull_cpu_seconds']:.2f}",
        f"{m['records_per_pull_cpu_second']:,.0f}",
        f"{m['pull_cpu_us_per_row']:.1f}",
        str(m["pages"]),
        f"{m['rss_peak_kb'] / 1024.0:.1f} MiB",
        " / ".join(f"{x:.2f}" for x in m["load_average"]),
    ]
    return "| " + " | ".join(cells) + " |"


def _inprocess_markdown(r: dict[str, Any]) -> str:
    if not r.get("inprocess"):
        return ""
    rows = "\n".join(_inprocess_row(m) for m in r["inprocess"].values())
    return f"""
## In-process (the fake in the pull's own process, through `responses`)

"fake handler CPU" is the fake's rendering and JSON encoding of the pages; "pull CPU" is the
rest of the process (JSON decoding, database rows, SQLite, `requests`/`responses` plumbing).
Load average (1/5/15 min) when each pull ended is in the last column.

{_INPROCESS_HEADER}
{rows}
"""


_HEADER = (
    "| leads | wall s | records/s (wall) | sync CPU s | records/s (sync CPU) | pages | requests "
    "| RSS before pull | peak RSS | load |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
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
        " / ".join(f"{x:.2f}" for x in m["load_average"]),
    ]
    return "| " + " | ".join(cells) + " |"


def _markdown(r: dict[str, Any]) -> str:
    if "initial" not in r:
        return f"# sync pull benchmark\n\nCommand: `{r['command']}` ({r['when']}).\n" + (
            _inprocess_markdown(r)
        )
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

{r["benchmark"]}; the fake served over HTTP on 127.0.0.1 from the parent process. Command:
`{r["command"]}` ({r["when"]}, Python {r["python"]},
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
{_inprocess_markdown(r)}"""


if __name__ == "__main__":
    raise SystemExit(main())
