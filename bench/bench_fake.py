"""Benchmark of the fake Dataverse itself: how fast it serves, and how honest its throttling is.

Run ``python bench/bench_fake.py`` (about half a minute).  It prints a table and writes
``bench/results/fake.json``:

* requests per second the fake serves for simple reads (``GET leads(<id>)?$select=…``) and
  writes (``POST leads``): the bare handler, in-process through ``requests`` + ``responses``,
  and the HTTP server in its own process (one client thread, then four); and operations per
  second inside a ``$batch`` of 100 creates (bare handler);
* service protection with a scaled-down window: a client that obeys ``Retry-After`` (and never
  sends while one is pending) against ``max_requests`` per ``window_s``, on a simulated clock
  (many windows, instant) and against the real server (a few seconds of wall time).  It reports
  the share of the configured capacity reached, the 429s received and the requests sent while
  a ``Retry-After`` was pending (must be 0).

Limits are off for the rate measurements (``max_requests=None`` …) so they measure the fake.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from d365leads.fake import FakeDataverse, FakeOptions, FakeRequest, ManualClock

RESULTS = Path(__file__).resolve().parent / "results" / "fake.json"
UNLIMITED = {"max_requests": None, "max_exec_ms": None, "max_concurrency": None}
AUTH = {"Authorization": "Bearer bench-token"}


def _fresh(**options: Any) -> tuple[FakeDataverse, list[str]]:
    fake = FakeDataverse(options=FakeOptions(**{**UNLIMITED, **options}), sleep=time.sleep)
    ids = fake.seed("lead", [{"subject": f"Lead {i}", "lastname": f"L{i}"} for i in range(200)])
    return fake, ids


MAX_SECONDS = 5.0
"""Each rate measurement stops after ``count`` requests or this many seconds, whichever first."""


def _rate(count: int, run: Callable[[int], None]) -> float:
    start = time.perf_counter()
    done = 0
    while done < count and time.perf_counter() - start < MAX_SECONDS:
        run(done)
        done += 1
    return done / (time.perf_counter() - start)


def bench_handler(count: int) -> dict[str, float]:
    """The bare handler (middleware chain + router), no HTTP library at all."""
    fake, ids = _fresh()
    base = fake.base_url

    def read(i: int) -> None:
        response = fake(
            FakeRequest("GET", f"{base}leads({ids[i % len(ids)]})?$select=subject", AUTH)
        )
        assert response.status == 200

    def write(i: int) -> None:
        body = json.dumps({"lastname": f"W{i}", "subject": "bench"}).encode()
        response = fake(
            FakeRequest("POST", base + "leads", {**AUTH, "Content-Type": "application/json"}, body)
        )
        assert response.status == 204

    part = (
        "--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "POST /api/data/v9.2/leads HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        '{"lastname": "Batch", "subject": "bench"}\r\n'
    )
    batch_body = (part * 100 + "--b--\r\n").encode()
    batch_headers = {**AUTH, "Content-Type": "multipart/mixed; boundary=b"}

    def batch(i: int) -> None:
        response = fake(FakeRequest("POST", base + "$batch", batch_headers, batch_body))
        assert response.status == 200

    batches_per_s = _rate(max(1, count // 100), batch)
    return {
        "reads_per_s": _rate(count, read),
        "writes_per_s": _rate(count, write),
        "batch_operations_per_s": batches_per_s * 100,
    }


def _session_rates(
    session: requests.Session, base: str, ids: list[str], count: int
) -> dict[str, float]:
    def read(i: int) -> None:
        response = session.get(f"{base}leads({ids[i % len(ids)]})?$select=subject")
        assert response.status_code == 200

    def write(i: int) -> None:
        response = session.post(base + "leads", json={"lastname": f"W{i}", "subject": "bench"})
        assert response.status_code == 204

    return {"reads_per_s": _rate(count, read), "writes_per_s": _rate(count, write)}


def bench_in_process(count: int) -> dict[str, float]:
    """Through ``requests`` with the ``responses`` adapter (what the test suite uses)."""
    fake, ids = _fresh()
    with fake.mock(), requests.Session() as session:
        session.headers.update(AUTH)
        return _session_rates(session, fake.base_url, ids, count)


@contextmanager
def _server_process(seed_rows: int) -> Iterator[str]:
    """``python -m d365leads.fake`` in its own process (its own GIL), limits lifted."""
    with tempfile.TemporaryDirectory() as tmp:
        seed = Path(tmp) / "seed.json"
        rows = [{"subject": f"Lead {i}", "lastname": f"L{i}"} for i in range(seed_rows)]
        seed.write_text(json.dumps({"lead": rows}), encoding="utf-8")
        huge = str(10**9)
        command = [
            sys.executable,
            "-m",
            "d365leads.fake",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--max-requests",
            huge,
            "--max-exec-ms",
            huge,
            "--max-concurrency",
            huge,
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            if not url.startswith("http://"):
                raise RuntimeError(f"the fake server did not start (printed {url!r})")
            yield url + "/api/data/v9.2/"
        finally:
            process.terminate()
            process.wait(timeout=10)


def bench_responses_ceiling(count: int) -> dict[str, float]:
    """``requests`` + ``responses`` with a callback that does nothing: the in-process ceiling.

    Same URLs and session as :func:`bench_in_process`, so the difference is the fake's own cost.
    """
    import re

    import responses

    base = "https://ceiling.example/api/data/v9.2/"
    lead = "00000000-0000-0000-0000-000000000001"
    with responses.RequestsMock() as rsps, requests.Session() as session:
        session.headers.update(AUTH)
        rsps.add_callback(
            "GET", re.compile(re.escape(base) + ".*"), callback=lambda r: (200, {}, b"{}")
        )
        rsps.add_callback("POST", base + "leads", callback=lambda r: (204, {}, b""))
        return _session_rates(session, base, [lead], count)


def bench_in_process_client(count: int) -> dict[str, float]:
    """Through the d365leads client (its RequestsTransport), as the test suite's fixtures run."""
    from d365leads import DataverseClient, StaticTokenProvider

    fake, ids = _fresh()
    with fake.mock():
        client = DataverseClient(fake.org_url, token_provider=StaticTokenProvider("bench"))

        def read(i: int) -> None:
            client.records.get("leads", ids[i % len(ids)], select=["subject"])

        def write(i: int) -> None:
            client.records.create("leads", {"lastname": f"W{i}", "subject": "bench"})

        try:
            return {"reads_per_s": _rate(count, read), "writes_per_s": _rate(count, write)}
        finally:
            client.close()


def bench_server(count: int, threads: int) -> dict[str, float]:
    """Against the HTTP server in its own process (keep-alive sessions, one per thread)."""
    with _server_process(200) as base, requests.Session() as probe:
        probe.headers.update(AUTH)
        listing = probe.get(base + "leads?$select=leadid").json()["value"]
        ids = [row["leadid"] for row in listing]
        if threads == 1:
            return _session_rates(probe, base, ids, count)
        done: list[int] = []
        lock = threading.Lock()
        start = time.perf_counter()

        def worker(n: int) -> None:
            with requests.Session() as session:
                session.headers.update(AUTH)
                served = 0
                while served < n and time.perf_counter() - start < MAX_SECONDS:
                    url = f"{base}leads({ids[served % len(ids)]})?$select=subject"
                    assert session.get(url).status_code == 200
                    served += 1
                with lock:
                    done.append(served)

        pool = [threading.Thread(target=worker, args=(count // threads,)) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        elapsed = time.perf_counter() - start
        return {"reads_per_s": sum(done) / elapsed}


def bench_throttle_simulated(windows: int = 20) -> dict[str, float]:
    """An obedient client on a simulated clock: 600 requests / 30 s, 10 ms round trip."""
    clock = ManualClock()
    max_requests, window_s, round_trip = 600, 30.0, 0.01
    fake = FakeDataverse(
        options=FakeOptions(max_requests=max_requests, window_s=window_s, max_exec_ms=None),
        clock=clock,
    )
    start = clock().timestamp()
    duration = windows * window_s
    admitted = throttled = early = 0
    pause_until = 0.0
    while clock().timestamp() - start < duration:
        now = clock().timestamp()
        if now < pause_until:
            early += 1
        response = fake(FakeRequest("GET", fake.base_url + "WhoAmI", AUTH))
        if response.status == 429:
            throttled += 1
            wait = int(response.header("Retry-After") or "1")
            pause_until = clock().timestamp() + wait
            clock.advance(wait)
            continue
        admitted += 1
        clock.advance(round_trip)
    capacity = max_requests * duration / window_s
    return {
        "max_requests": max_requests,
        "window_s": window_s,
        "simulated_s": duration,
        "admitted": admitted,
        "capacity": capacity,
        "share_of_capacity": admitted / capacity,
        "throttled_429": throttled,
        "sent_during_retry_after": early,
        "fake_early_retries": fake.protection.stats.early_retries,
    }


def bench_throttle_server(seconds: float = 6.0, threads: int = 4) -> dict[str, float]:
    """Four threads sharing one pause-until, obeying Retry-After, against the real server.

    The server runs in this process so the fake's own counters (early retries) can be read.
    """
    max_requests, window_s = 100, 2.0
    fake = FakeDataverse(
        options=FakeOptions(
            max_requests=max_requests,
            window_s=window_s,
            max_exec_ms=None,
            max_concurrency=52,
            latency_ms=2.0,
        ),
    )
    state = {"pause_until": 0.0, "admitted": 0, "throttled": 0, "early": 0}
    lock = threading.Lock()
    with fake.serve() as server:
        start = time.monotonic()
        stop_at = start + seconds

        def worker() -> None:
            with requests.Session() as session:
                session.headers.update(AUTH)
                while True:
                    with lock:
                        pause = state["pause_until"] - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    if time.monotonic() >= stop_at:
                        return
                    response = session.get(server.base_url + "WhoAmI")
                    with lock:
                        if response.status_code == 429:
                            state["throttled"] += 1
                            wait = int(response.headers.get("Retry-After", "1"))
                            state["pause_until"] = max(
                                state["pause_until"], time.monotonic() + wait
                            )
                        else:
                            assert response.status_code == 200
                            state["admitted"] += 1

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        elapsed = time.monotonic() - start
    # Requests are only sent during the first `seconds`: a sliding window admits at most
    # max_requests in any window_s, so at most max_requests per started window in that time.
    capacity = max_requests * math.ceil(seconds / window_s - 1e-9)
    return {
        "max_requests": max_requests,
        "window_s": window_s,
        "elapsed_s": elapsed,
        "threads": threads,
        "admitted": state["admitted"],
        "capacity": capacity,
        "share_of_capacity": state["admitted"] / capacity,
        "throttled_429": state["throttled"],
        "fake_early_retries": fake.protection.stats.early_retries,
        "peak_concurrency": fake.protection.stats.peak_concurrency,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="requests per rate measurement")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    count = args.count
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "count": count,
        "handler": bench_handler(count),
        "in_process": bench_in_process(count),
        "in_process_client": bench_in_process_client(count),
        "responses_ceiling": bench_responses_ceiling(count),
        "server_1_thread": bench_server(count, 1),
        "server_4_threads": bench_server(count, 4),
        "throttle_simulated": bench_throttle_simulated(),
        "throttle_server": bench_throttle_server(),
    }
    rows = [
        ("bare handler", results["handler"]),
        ("in-process, plain requests.Session", results["in_process"]),
        ("  same, no-op responses callback", results["responses_ceiling"]),
        ("in-process, d365leads client", results["in_process_client"]),
        ("server process, 1 client thread", results["server_1_thread"]),
        ("server process, 4 client threads", results["server_4_threads"]),
    ]
    print(f"{'mode':34} {'reads/s':>10} {'writes/s':>10}")
    for name, rates in rows:
        writes = rates.get("writes_per_s")
        shown = "-" if writes is None else f"{writes:.0f}"
        print(f"{name:34} {rates['reads_per_s']:>10.0f} {shown:>10}")
    batch_rate = results["handler"]["batch_operations_per_s"]
    print(f"$batch of 100 creates, bare handler: {batch_rate:.0f} operations/s")
    for name in ("throttle_simulated", "throttle_server"):
        t = results[name]
        print(
            f"{name}: {t['admitted']} admitted of capacity {t['capacity']:.0f} "
            f"({t['share_of_capacity']:.1%}), {t['throttled_429']} x 429, "
            f"early retries seen by the fake: {t['fake_early_retries']}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
