"""Service-protection simulation: request count, execution time, concurrency, Retry-After."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest
import requests

from d365leads.fake import FakeDataverse
from d365leads.fake.core.clock import ManualClock
from d365leads.fake.core.options import FakeOptions
from d365leads.fake.pipeline import latency
from d365leads.fake.pipeline.latency import LatencySimulator
from d365leads.fake.pipeline.protection import ServiceProtection
from d365leads.fake.wire.messages import FakeRequest, FakeResponse

URL = "https://fake-org.crm.dynamics.com/api/data/v9.2/leads"


def _request(token: str = "t1") -> FakeRequest:
    return FakeRequest("GET", URL, {"Authorization": f"Bearer {token}"})


def _ok(request: FakeRequest) -> FakeResponse:
    return FakeResponse.empty(204)


def _chain(
    options: FakeOptions, clock: ManualClock, handler: Callable[[FakeRequest], FakeResponse] = _ok
) -> tuple[ServiceProtection, Callable[[FakeRequest], FakeResponse]]:
    protection = ServiceProtection(options, clock)
    simulator = LatencySimulator(options)

    def send(request: FakeRequest) -> FakeResponse:
        return protection(request, lambda r: simulator(r, handler))

    return protection, send


def _error(response: FakeResponse) -> dict[str, str]:
    payload: dict[str, dict[str, str]] = json.loads(response.body)
    return payload["error"]


def test_request_count_limit_answers_429_with_code_message_and_honest_retry_after() -> None:
    clock = ManualClock()
    options = FakeOptions(max_requests=5, window_s=10, max_exec_ms=None, dop_hint=3)
    _, send = _chain(options, clock)
    for _ in range(5):
        response = send(_request())
        assert response.status == 204
        assert response.header("x-ms-dop-hint") == "3"
        clock.advance(1)
    refused = send(_request())
    assert refused.status == 429
    assert _error(refused) == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 5 over time window of 10 seconds.",
    }
    # The first request was at t=0, now is t=5: a slot frees at t=10.
    assert refused.header("Retry-After") == "5"
    assert refused.header("x-ms-dop-hint") == "3"
    clock.advance(5)
    assert send(_request()).status == 204


def test_limits_are_per_caller() -> None:
    clock = ManualClock()
    _, send = _chain(FakeOptions(max_requests=2, window_s=60, max_exec_ms=None), clock)
    assert send(_request("a")).status == 204
    assert send(_request("a")).status == 204
    assert send(_request("a")).status == 429
    assert send(_request("b")).status == 204


def test_retry_after_grows_when_the_client_keeps_sending() -> None:
    clock = ManualClock()
    _, send = _chain(FakeOptions(max_requests=1, window_s=10, max_exec_ms=None), clock)
    assert send(_request()).status == 204
    # Requests already in flight when the first 429 went out (within grace_s) are not penalised.
    first = send(_request())
    in_flight = send(_request())
    assert first.header("Retry-After") == in_flight.header("Retry-After") == "10"
    waits = []
    for _ in range(4):
        clock.advance(1)
        refused = send(_request())
        assert refused.status == 429
        waits.append(int(refused.header("Retry-After") or 0))
    # Each early retry lengthens the wait: +1, +2, +4, +8 seconds (less the second waited).
    assert waits == [10 + 1 - 1, 10 + 3 - 2, 10 + 7 - 3, 10 + 15 - 4]
    # Waiting the last Retry-After is enough.
    clock.advance(waits[-1])
    assert send(_request()).status == 204


def test_a_client_that_never_waits_is_refused_without_crashing_the_fake() -> None:
    clock = ManualClock()
    _, send = _chain(FakeOptions(max_requests=1, window_s=10, max_exec_ms=None), clock)
    assert send(_request()).status == 204
    waits = set()
    for _ in range(2000):  # far past the point where 2.0 ** strikes overflows a float
        clock.advance(0.6)
        refused = send(_request())
        assert refused.status == 429
        waits.add(int(refused.header("Retry-After") or 0))
    assert max(waits) <= 4 * 10


def test_execution_time_limit_counts_each_batch_operation() -> None:
    clock = ManualClock()
    options = FakeOptions(max_requests=None, max_exec_ms=1000, window_s=20, op_cost_ms=100)

    def batch_of_six(request: FakeRequest) -> FakeResponse:
        latency.note_operation(6)
        return FakeResponse.empty(200)

    protection, send = _chain(options, clock, batch_of_six)
    assert send(_request()).status == 200  # 600 ms
    clock.advance(1)
    assert send(_request()).status == 200  # 1200 ms: over budget from now on
    clock.advance(1)
    refused = send(_request())
    assert refused.status == 429
    error = _error(refused)
    assert error["code"] == "0x80072321"
    assert error["message"] == (
        "Combined execution time of incoming requests exceeded limit of 1,000  milliseconds "
        "over time window of 20 seconds. Decrease number of concurrent requests or reduce the "
        "duration of requests and try again later."
    )
    # The first batch (t=0) leaves the window at t=20; now is t=2.
    assert refused.header("Retry-After") == "18"
    clock.advance(18)
    assert send(_request()).status == 200
    assert protection.stats.throttled["execution_time"] == 1


def test_concurrency_limit_fails_immediately_with_its_code() -> None:
    clock = ManualClock()
    options = FakeOptions(max_requests=None, max_exec_ms=None, max_concurrency=2)
    gate = threading.Event()
    entered = threading.Semaphore(0)

    def blocking(request: FakeRequest) -> FakeResponse:
        entered.release()
        assert gate.wait(5)
        return FakeResponse.empty(204)

    protection, send = _chain(options, clock, blocking)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(send(_request()).status)) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for _ in range(2):
        assert entered.acquire(timeout=5)
    assert protection.in_flight(_request()) == 2
    refused = protection(_request(), _ok)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert refused.status == 429
    assert _error(refused) == {
        "code": "0x80072326",
        "message": "Number of concurrent requests exceeded the limit of 2.",
    }
    assert refused.header("Retry-After") == "1"
    assert results == [204, 204]
    assert protection.stats.peak_concurrency == 2


@pytest.mark.parametrize("op_cost_ms", [0.0, 40.0])
def test_a_client_obeying_retry_after_never_gets_a_second_429_and_uses_the_capacity(
    op_cost_ms: float,
) -> None:
    clock = ManualClock()
    options = FakeOptions(max_requests=50, window_s=10, max_exec_ms=1500, op_cost_ms=op_cost_ms)
    protection, send = _chain(options, clock)
    admitted: list[float] = []
    start = clock().timestamp()
    refused_after_wait = 0
    waited = False
    while clock().timestamp() - start < 60:
        response = send(_request())
        if response.status == 429:
            refused_after_wait += int(waited)
            clock.advance(int(response.header("Retry-After") or 0))
            waited = True
            continue
        waited = False
        admitted.append(clock().timestamp())
        clock.advance(0.05)
    assert refused_after_wait == 0
    assert protection.stats.early_retries == 0
    # Never more than the limit inside any window...
    for index, when in enumerate(admitted):
        inside = [t for t in admitted[index:] if t < when + 10]
        assert len(inside) <= 50
    # ...and close to the capacity over the run.
    capacity = 50 * 60 / 10 if op_cost_ms == 0 else 1500 / op_cost_ms * 60 / 10
    assert len(admitted) >= 0.9 * capacity


def test_no_limits_means_no_429_but_still_the_dop_hint() -> None:
    clock = ManualClock()
    options = FakeOptions(max_requests=None, max_exec_ms=None, max_concurrency=None, dop_hint=7)
    _, send = _chain(options, clock)
    for _ in range(100):
        response = send(_request())
        assert response.status == 204
        assert response.header("x-ms-dop-hint") == "7"
        assert response.header("x-ms-ratelimit-burst-remaining-xrm-requests") is None


# --- through both adapters -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["in-process", "server"])
def test_wire_request_limit_then_recovery(mode: str) -> None:
    clock = ManualClock()
    options = FakeOptions(max_requests=3, window_s=30, max_exec_ms=None, dop_hint=6)
    fake = FakeDataverse(options=options, clock=clock, sleep=lambda s: None)
    headers = {"Authorization": "Bearer wire"}
    with requests.Session() as session:
        session.headers.update(headers)
        if mode == "in-process":
            with fake.mock():
                statuses, refused, after = _hammer(session, fake.base_url, clock)
        else:
            with fake.serve() as server:
                statuses, refused, after = _hammer(session, server.base_url, clock)
    assert statuses == [200, 200, 200, 429]
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["x-ms-dop-hint"] == "6"
    assert refused.json()["error"]["code"] == "0x80072322"
    assert after == 200


def _hammer(
    session: requests.Session, base: str, clock: ManualClock
) -> tuple[list[int], requests.Response, int]:
    responses = [session.get(base + "WhoAmI") for _ in range(4)]
    clock.advance(int(responses[-1].headers["Retry-After"]))
    return (
        [r.status_code for r in responses],
        responses[-1],
        session.get(base + "WhoAmI").status_code,
    )


def test_wire_concurrency_limit_in_server_mode() -> None:
    gate = threading.Event()
    waiting = threading.Semaphore(0)

    def held_sleep(seconds: float) -> None:
        # The fake's latency sleep: blocks until the test lets go (no timer involved).
        waiting.release()
        assert gate.wait(5)

    options = FakeOptions(max_requests=None, max_exec_ms=None, max_concurrency=2, latency_ms=5)
    fake = FakeDataverse(options=options, clock=ManualClock(), sleep=held_sleep)
    headers = {"Authorization": "Bearer conc"}
    with fake.serve() as server:
        results: list[int] = []

        def call() -> None:
            results.append(requests.get(server.base_url + "WhoAmI", headers=headers).status_code)

        threads = [threading.Thread(target=call) for _ in range(2)]
        for thread in threads:
            thread.start()
        for _ in range(2):
            assert waiting.acquire(timeout=5)
        refused = requests.get(server.base_url + "WhoAmI", headers=headers)
        other_user = fake.protection.in_flight(
            FakeRequest("GET", server.base_url, {"Authorization": "Bearer someone-else"})
        )
        gate.set()
        for thread in threads:
            thread.join(5)
    assert refused.status_code == 429
    assert refused.json()["error"] == {
        "code": "0x80072326",
        "message": "Number of concurrent requests exceeded the limit of 2.",
    }
    assert results == [200, 200]
    assert other_user == 0


def test_wire_execution_time_limit_with_batches() -> None:
    clock = ManualClock()
    options = FakeOptions(max_requests=None, max_exec_ms=300, window_s=10, op_cost_ms=50)
    fake = FakeDataverse(options=options, clock=clock, sleep=lambda s: None)
    part = (
        "--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "GET /api/data/v9.2/WhoAmI HTTP/1.1\r\n\r\n\r\n"
    )
    body = (part * 6 + "--b--\r\n").encode()
    headers = {"Authorization": "Bearer exec", "Content-Type": "multipart/mixed; boundary=b"}
    with fake.mock():
        first = requests.post(fake.base_url + "$batch", data=body, headers=headers)
        clock.advance(2)
        refused = requests.post(fake.base_url + "$batch", data=body, headers=headers)
    assert first.status_code == 200
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "0x80072321"
    assert refused.headers["Retry-After"] == "8"
    assert fake.latency.simulated_s == pytest.approx(0.3)


# --- latency ---------------------------------------------------------------------------------


def test_latency_is_slept_in_server_mode_and_only_counted_in_process() -> None:
    options = FakeOptions(latency_ms=20, op_cost_ms=5, max_requests=None, max_exec_ms=None)
    slept: list[float] = []
    fake = FakeDataverse(options=options, clock=ManualClock(), sleep=slept.append)
    headers = {"Authorization": "Bearer lat"}
    with fake.mock():
        assert requests.get(fake.base_url + "WhoAmI", headers=headers).status_code == 200
        assert slept == []
        assert fake.latency.simulated_s == pytest.approx(0.025)
        # Slower than the client's read timeout: the client sees a timeout.
        fake.options.latency_ms = 2000
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(fake.base_url + "WhoAmI", headers=headers, timeout=1)
        fake.options.latency_ms = 20
        fake.options.sleep_in_process = True
        requests.get(fake.base_url + "WhoAmI", headers=headers)
        assert slept == [pytest.approx(0.025)]
    fake.options.sleep_in_process = False
    with fake.serve() as server:
        assert requests.get(server.base_url + "WhoAmI", headers=headers).status_code == 200
    assert slept == [pytest.approx(0.025)] * 2
