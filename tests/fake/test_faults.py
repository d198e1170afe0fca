"""Fault injection: the spec parser, the plan's rules and both phases (before / after commit)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from d365leads.fake import FakeDataverse, ManualClock
from d365leads.fake.core.options import FakeOptions
from d365leads.fake.pipeline.faults import FaultPlan, FaultSpecError, parse_fault_spec
from d365leads.fake.wire.messages import FakeRequest, FakeResponse

ROOT = "https://fake-org.crm.dynamics.com/api/data/v9.2/"


def _req(method: str = "GET", path: str = "leads") -> FakeRequest:
    return FakeRequest(method, ROOT + path, {"Authorization": "Bearer t"})


class _Router:
    """Counts what reached it: a request that a 'before' fault stops never gets here."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, request: FakeRequest) -> FakeResponse:
        self.seen.append(f"{request.method} {request.path}")
        status = 204 if request.method != "GET" else 200
        return (
            FakeResponse.json_body(status, {"ok": True})
            if status == 200
            else (FakeResponse.empty(204, {"OData-EntityId": ROOT + "leads(1)"}))
        )


def _send(plan: FaultPlan, router: _Router, request: FakeRequest) -> FakeResponse:
    return plan.before(request, lambda r: plan.after_commit(r, router))


# --- spec parser ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "times", "extra"),
    [
        ("throttle:3", "throttle", 3, {"retry_after": 1, "throttle_kind": "requests"}),
        (
            "throttle:2:7:kind=concurrency",
            "throttle",
            2,
            {"retry_after": 7, "throttle_kind": "concurrency"},
        ),
        ("5xx:2:502", "5xx", 2, {"status": 502}),
        ("5xx", "5xx", 1, {"status": 503}),
        ("reset:1", "reset", 1, {}),
        ("timeout:4", "timeout", 4, {}),
        ("lost:1", "lost", 1, {"lost_as": "timeout"}),
        ("lost:2:as=reset", "lost", 2, {"lost_as": "reset"}),
        ("random:0.05:seed=1", "random", None, {"rate": 0.05, "seed": 1}),
        (
            "random:0.5:seed=9:kinds=reset+timeout:status=502",
            "random",
            None,
            {"random_kinds": ("reset", "timeout"), "status": 502},
        ),
    ],
)
def test_spec_parser_reads_every_kind(
    spec: str, kind: str, times: int | None, extra: dict[str, object]
) -> None:
    rule = parse_fault_spec(spec)
    assert rule.kind == kind
    assert rule.times == times
    for name, value in extra.items():
        assert getattr(rule, name) == value
    assert parse_fault_spec(rule.describe()).describe() == rule.describe()


def test_spec_filter_limits_method_and_path() -> None:
    rule = parse_fault_spec(r"5xx:1:503@PATCH:^leads\(")
    assert rule.method == "PATCH"
    assert rule.matches(_req("PATCH", "leads(00000000-0000-0000-0000-000000000001)"))
    assert not rule.matches(_req("PATCH", "accounts(00000000-0000-0000-0000-000000000001)"))
    assert not rule.matches(_req("GET", "leads(00000000-0000-0000-0000-000000000001)"))


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "empty fault spec"),
        ("explode:1", "unknown fault kind 'explode'"),
        ("throttle:x", "the count must be a whole number"),
        ("throttle:0", "at least 1"),
        ("5xx:1:404", "not one of 500, 502, 503, 504"),
        ("random:0.1", "need a seed"),
        ("random:2:seed=1", "rate must be in (0, 1]"),
        ("random:0.1:seed=1:kinds=boom", "random fault kinds"),
        ("lost:1:as=maybe", "'timeout', 'reset' or an HTTP status"),
        ("reset:1:status=3", "unknown option(s) status for a reset fault"),
        ("timeout:1:2", "too many arguments"),
        ("5xx:1@PATCH:(", "bad path regex"),
        ("5xx:1@P-1", "@METHOD or @METHOD:REGEX"),
        ("throttle:1:2:kind=cpu", "unknown throttle kind 'cpu'"),
    ],
)
def test_spec_errors_say_what_is_wrong(spec: str, fragment: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_fault_spec(spec)
    assert fragment in str(caught.value)


# --- the plan as middleware ------------------------------------------------------------------


def test_throttle_next_answers_429_then_lets_requests_through() -> None:
    plan = FaultPlan(options=FakeOptions(max_requests=600, window_s=30, dop_hint=5))
    plan.throttle_next(2, retry_after=4)
    router = _Router()
    first, second, third = (_send(plan, router, _req()) for _ in range(3))
    assert [first.status, second.status, third.status] == [429, 429, 200]
    assert first.header("Retry-After") == "4"
    assert first.header("x-ms-dop-hint") == "5"
    assert json.loads(first.body)["error"] == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 600 over time window of 30 seconds.",
    }
    assert router.seen == ["GET leads"]
    assert [f.kind for f in plan.fired] == ["throttle", "throttle"]
    assert plan.pending == []


def test_server_errors_reset_and_timeout_never_reach_the_router() -> None:
    plan = FaultPlan(["5xx:1:502", "reset:1", "timeout:1"])
    router = _Router()
    burst = _send(plan, router, _req("POST", "leads"))
    reset = _send(plan, router, _req("POST", "leads"))
    timeout = _send(plan, router, _req("POST", "leads"))
    assert burst.status == 502 and burst.fault is None
    assert json.loads(burst.body)["error"]["code"]
    assert reset.fault is not None and reset.fault.kind == "reset"
    assert timeout.fault is not None and timeout.fault.kind == "timeout"
    assert router.seen == []
    assert _send(plan, router, _req("POST", "leads")).status == 204


def test_lost_response_happens_after_the_write_and_skips_reads() -> None:
    plan = FaultPlan()
    plan.lose_response_after_commit(1)
    router = _Router()
    read = _send(plan, router, _req("GET", "leads"))
    write = _send(plan, router, _req("POST", "leads"))
    again = _send(plan, router, _req("POST", "leads"))
    assert read.fault is None
    assert write.fault is not None and write.fault.kind == "timeout"
    assert again.fault is None
    # The write reached the router (it committed) even though its answer was lost.
    assert router.seen == ["GET leads", "POST leads", "POST leads"]


def test_lost_response_as_a_status() -> None:
    plan = FaultPlan(["lost:1:as=504"])
    router = _Router()
    response = _send(plan, router, _req("PATCH", "leads(1)"))
    assert response.status == 504
    assert router.seen == ["PATCH leads(1)"]


def test_random_faults_are_repeatable_for_a_seed() -> None:
    def run(seed: int) -> list[int]:
        plan = FaultPlan()
        plan.fail_randomly(0.3, seed)
        router = _Router()
        return [_send(plan, router, _req()).status for _ in range(200)]

    first = run(1)
    assert first == run(1)
    assert first != run(2)
    failures = first.count(503)
    assert 30 < failures < 90
    assert set(first) == {200, 503}


def test_rules_fire_in_order_and_only_on_web_api_requests() -> None:
    plan = FaultPlan(["5xx:1:500", "5xx:1:503"])
    router = _Router()
    login = FakeRequest("POST", "https://login.microsoftonline.com/t/oauth2/v2.0/token")
    assert not plan.rules[0].matches(login)
    statuses = [_send(plan, router, _req()).status for _ in range(3)]
    assert statuses == [500, 503, 200]


def test_options_faults_are_loaded() -> None:
    plan = FaultPlan(FakeOptions(faults=["reset:2"]).faults)
    assert [r.describe() for r in plan.pending] == ["reset:2"]
    plan.clear()
    assert plan.pending == [] and plan.fired == []


# --- through both adapters -------------------------------------------------------------------


@pytest.fixture(params=["in-process", "server"])
def wire(request: pytest.FixtureRequest) -> Iterator[tuple[FakeDataverse, str, requests.Session]]:
    fake = FakeDataverse(clock=ManualClock(), sleep=lambda s: None)
    with requests.Session() as session:
        session.headers["Authorization"] = "Bearer fault-tests"
        if request.param == "in-process":
            with fake.mock():
                yield fake, fake.base_url, session
        else:
            with fake.serve() as server:
                yield fake, server.base_url, session
    assert fake.errors == []


def test_wire_throttle_and_server_error_bursts(
    wire: tuple[FakeDataverse, str, requests.Session],
) -> None:
    fake, base, session = wire
    fake.faults.add("throttle:2:3")
    fake.faults.add("5xx:2:502")
    statuses = [session.get(base + "leads") for _ in range(5)]
    assert [r.status_code for r in statuses] == [429, 429, 502, 502, 200]
    assert statuses[0].headers["Retry-After"] == "3"
    assert statuses[0].json()["error"]["code"] == "0x80072322"
    assert len(fake.faults.fired) == 4


def test_wire_connection_reset(wire: tuple[FakeDataverse, str, requests.Session]) -> None:
    fake, base, session = wire
    fake.faults.reset_next(1, method="POST")
    with pytest.raises(requests.exceptions.ConnectionError):
        session.post(base + "leads", json={"lastname": "never stored"})
    assert fake.rows("lead") == []
    assert session.post(base + "leads", json={"lastname": "stored"}).status_code == 204
    assert [r["lastname"] for r in fake.rows("lead")] == ["stored"]


def test_wire_lost_response_after_commit_leaves_the_write(
    wire: tuple[FakeDataverse, str, requests.Session],
) -> None:
    fake, base, session = wire
    # A reset rather than a timeout, so the server-mode run needs no client timer.
    fake.faults.add(r"lost:1:as=reset@POST:^leads$")
    with pytest.raises(requests.exceptions.ConnectionError):
        session.post(base + "leads", json={"lastname": "committed"})
    assert [r["lastname"] for r in fake.rows("lead")] == ["committed"]


def test_in_process_timeout_and_lost_timeout_raise_read_timeout() -> None:
    fake = FakeDataverse(clock=ManualClock(), sleep=lambda s: None)
    fake.faults.timeout_next(1, method="GET")
    fake.faults.lose_response_after_commit(1)
    headers = {"Authorization": "Bearer t"}
    with fake.mock():
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(fake.base_url + "leads", headers=headers, timeout=5)
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(
                fake.base_url + "leads", json={"lastname": "x"}, headers=headers, timeout=5
            )
        assert requests.get(fake.base_url + "leads", headers=headers).status_code == 200
    assert len(fake.rows("lead")) == 1


def test_faults_from_options_and_bad_specs() -> None:
    fake = FakeDataverse(options=FakeOptions(faults=["5xx:1:503@GET"]))
    with fake.mock():
        first = requests.get(fake.base_url + "WhoAmI", headers={"Authorization": "Bearer t"})
        second = requests.get(fake.base_url + "WhoAmI", headers={"Authorization": "Bearer t"})
    assert (first.status_code, second.status_code) == (503, 200)
    with pytest.raises(FaultSpecError, match="unknown fault kind 'oops'"):
        FakeDataverse(options=FakeOptions(faults=["oops:1"]))


def test_wire_random_faults_mix_kinds_repeatably() -> None:
    def run() -> list[str]:
        fake = FakeDataverse(clock=ManualClock(), sleep=lambda s: None)
        fake.faults.fail_randomly(0.4, seed=3, kinds=("5xx", "reset"), status=504)
        seen = []
        with fake.mock(), requests.Session() as session:
            session.headers["Authorization"] = "Bearer r"
            for _ in range(60):
                try:
                    seen.append(str(session.get(fake.base_url + "WhoAmI").status_code))
                except requests.exceptions.ConnectionError:
                    seen.append("reset")
        return seen

    first = run()
    assert first == run()
    assert {"200", "504", "reset"} == set(first)
