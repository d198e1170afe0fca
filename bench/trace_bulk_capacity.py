"""Trace one run of the 1-identity ``$batch`` reactivate row and account for its capacity.

Run it from the repository root::

    python bench/trace_bulk_capacity.py [--records 800] [--pace-window-s 5] [--json trace.json]

Same fake limits and client as ``bench/bench_bulk_scale.py``. The trace records, per request
of the identity, when the fake admitted or refused it, when it completed and the server time
it was charged (read from the fake's service-protection middleware, which is what this tool
is for), the client's waits (429 pauses and pacing), and the chunks the runner drew. It then
prints where the run's time went: the window full (the limit binding, as it should), the
window with room while the client had nothing in flight (idle budget) split by what the client
was doing, the server time spent on requests that were not a record's change, the 429s and the
seconds they held the caller blocked, and the tail after the last admission.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_bulk_scale as scale

from d365leads.bulk import JobSpec, Journal, create_bulk_job, plan_bulk_job
from d365leads.bulk.identities import Identity, run_bulk_job_as
from d365leads.bulk.lease import LocalChunks
from d365leads.fake.pipeline.protection import ServiceProtection

Event = dict[str, Any]


class Trace:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()

    def add(self, kind: str, **fields: Any) -> None:
        fields.update(ev=kind, t=time.perf_counter() - self._t0)
        with self._lock:
            self.events.append(fields)


def _instrument(trace: Trace, protection: ServiceProtection) -> None:
    admit, complete = protection._admit, protection._complete

    def traced_admit(key: str, options: Any) -> Any:
        refused = admit(key, options)
        retry_after = refused.headers.get("Retry-After") if refused is not None else None
        trace.add("refuse" if refused else "admit", key=key, retry_after=retry_after)
        return refused

    def traced_complete(key: str, exec_ms: float, options: Any) -> Any:
        left = complete(key, exec_ms, options)
        trace.add("complete", key=key, cost_s=exec_ms / 1000)
        return left

    protection._admit = traced_admit  # type: ignore[method-assign]
    protection._complete = traced_complete  # type: ignore[method-assign]


def run(args: argparse.Namespace) -> tuple[list[Event], dict[str, Any]]:
    trace = Trace()
    fake, ids, active = scale.new_fake(args, args.records)
    _instrument(trace, fake.protection)
    claim = LocalChunks.claim

    def traced_claim(self: LocalChunks, taker: str = "") -> list[Any]:
        started = time.perf_counter()
        rows = claim(self, taker)
        trace.add("claim", rows=len(rows), took_s=time.perf_counter() - started)
        return rows

    LocalChunks.claim = traced_claim  # type: ignore[method-assign]
    with fake.serve() as server, tempfile.TemporaryDirectory() as tmp:
        planner = scale._client(server.url, scale.PLANNER, args.pace_window_s)
        client = scale._client(server.url, "bench-identity-0", args.pace_window_s)
        session = client.session
        real_sleep = session._sleep

        def traced_sleep(seconds: float) -> None:
            paused = session.throttle.pause_remaining() > 0
            trace.add("sleep", s=seconds, why="429 pause" if paused else "pacing")
            real_sleep(seconds)

        session._sleep = traced_sleep
        plan = plan_bulk_job(planner.session, JobSpec.reactivate(), scale.SELECTION)
        with Journal(Path(tmp) / "jobs.sqlite") as journal:
            job_id = create_bulk_job(planner.session, journal, plan, scale.SELECTION)
            summary = run_bulk_job_as(
                [Identity("app-0", session)], journal, job_id, options=scale._options(args)
            )
        planner.close()
        client.close()
    LocalChunks.claim = claim  # type: ignore[method-assign]
    missing = scale._reactivated_missing(fake, ids)
    return trace.events, {
        "summary": summary.to_json(),
        "active_s": active.seconds,
        "lost": missing,
    }


def account(events: list[Event], args: argparse.Namespace) -> dict[str, Any]:
    """Where the run's time and budget went (see the module docstring)."""
    opts = scale.fake_options(args)
    assert opts.max_exec_ms is not None
    window, budget = args.window_s, opts.max_exec_ms / 1000
    keys = Counter(e["key"] for e in events if e["ev"] == "complete")
    key = keys.most_common(1)[0][0]  # the identity's (the planner sends a few requests only)
    mine = [e for e in events if e.get("key") == key]
    admits = [e["t"] for e in mine if e["ev"] == "admit"]
    refusals = [e for e in mine if e["ev"] == "refuse"]
    completes = [(e["t"], e["cost_s"]) for e in mine if e["ev"] == "complete"]
    first, last_admit, end = admits[0], admits[-1], completes[-1][0]
    record_cost = args.op_cost_ms / 1000
    charged = sum(c for _, c in completes)
    records_charged = args.records * record_cost
    sleeps = [e for e in events if e["ev"] == "sleep" and e["t"] >= first]
    blocked = [(e["t"], e["t"] + float(e["retry_after"])) for e in refusals]
    marks = sorted([(t, 1) for t in admits] + [(t, -1) for t, _ in completes])
    step, now, index, in_flight = 0.005, first, 0, 0
    seconds: Counter[str] = Counter()
    landed: list[tuple[float, float]] = []
    done = 0
    held = 0.0
    while now < end:
        while index < len(marks) and marks[index][0] <= now:
            in_flight += marks[index][1]
            index += 1
        while done < len(completes) and completes[done][0] <= now:
            landed.append(completes[done])
            held += completes[done][1]
            done += 1
        while landed and landed[0][0] <= now - window:
            held -= landed.pop(0)[1]
        if held >= budget:
            seconds["window full (the limit binds)"] += step
        elif now > last_admit:
            seconds["tail: last requests finishing, nothing left to send"] += step
        elif in_flight >= args.dop_hint:
            seconds["window has room, all dop-hint workers in flight"] += step
        elif in_flight and any(
            e["t"] <= now < e["t"] + e["s"] and e["why"] == "pacing" for e in sleeps
        ):
            seconds["window has room, some in flight, some workers pacing"] += step
        elif in_flight and any(e["t"] <= now < e["t"] + e["s"] for e in sleeps):
            seconds["window has room, some in flight, some workers in a 429 pause"] += step
        elif in_flight:
            seconds["window has room, some in flight, workers held by the scheduler"] += step
        elif any(start <= now < stop for start, stop in blocked):
            seconds["idle: window has room, caller blocked by a 429's Retry-After"] += step
        elif any(e["t"] <= now < e["t"] + e["s"] and e["why"] == "pacing" for e in sleeps):
            seconds["idle: window has room, client pacing"] += step
        elif any(e["t"] <= now < e["t"] + e["s"] for e in sleeps):
            seconds["idle: window has room, client waiting out a 429"] += step
        else:
            seconds["idle: window has room, client between requests"] += step
        now += step
    active = end - first
    claims = [e for e in events if e["ev"] == "claim"]
    return {
        "active_s": round(active, 2),
        "records_per_s": round(args.records / active, 1),
        "capacity_per_s": scale.batch_capacity(args),
        "server_s_available_over_run": round(budget / window * active + budget, 1),
        "server_s_charged": round(charged, 1),
        "server_s_charged_for_record_changes": round(records_charged, 1),
        "server_s_charged_for_other_requests": round(charged - records_charged, 2),
        "requests_admitted": len(admits),
        "requests_refused_429": len(refusals),
        "retry_after_s_total": sum(float(e["retry_after"]) for e in refusals),
        "client_429_pause_s": round(sum(e["s"] for e in sleeps if e["why"] != "pacing"), 2),
        "client_pacing_s": round(sum(e["s"] for e in sleeps if e["why"] == "pacing"), 2),
        "chunk_claims": len(claims),
        "chunk_claim_s": round(sum(e["took_s"] for e in claims), 4),
        "time_s": {k: round(v, 2) for k, v in seconds.most_common()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=800)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--op-cost-ms", type=float, default=160.0)
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--dop-hint", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--pace-window-s", type=float)
    parser.add_argument("--json", type=Path, help="write the raw events here")
    args = parser.parse_args(argv)
    if args.pace_window_s is None:
        args.pace_window_s = args.window_s
    events, result = run(args)
    if args.json:
        args.json.write_text(json.dumps(events))
    report = {**account(events, args), "lost": result["lost"]}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
