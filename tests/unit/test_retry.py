"""Retry, throttling and 401 handling of ApiSession, with a scripted transport and fake time."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterable

import pytest

from d365leads import (
    ApiSession,
    ConnectError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    StaticTokenProvider,
    ThrottledError,
    ThrottleState,
    TransportError,
    UnauthorizedError,
)
from d365leads.auth import AccessToken
from d365leads.http import Request, Response

ORG = "https://contoso.crm.dynamics.com"
LEAD = "leads(6f1c2c1e-0000-0000-0000-000000000001)"


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Script:
    """A transport answering from a list of responses/exceptions, recording every request."""

    def __init__(self, outcomes: Iterable[Response | Exception]) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[Request] = []
        self.closed = False

    def send(self, request: Request) -> Response:
        self.sent.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        self.closed = True


def resp(status: int, body: object = None, **headers: str) -> Response:
    content = b"" if body is None else json.dumps(body).encode()
    return Response(status=status, headers=headers, content=content, url=ORG)


def throttled(retry_after: str | None) -> Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}}
    return resp(429, body, **headers)


def make_session(
    script: Script,
    time_: FakeTime,
    *,
    retry: RetryPolicy | None = None,
    provider: object = None,
    throttle: ThrottleState | None = None,
) -> ApiSession:
    return ApiSession(
        ORG,
        token_provider=provider or StaticTokenProvider("tok"),  # type: ignore[arg-type]
        transport=script,
        retry=retry or RetryPolicy(max_retries=5, max_retry_time=300, rng=random.Random(7)),
        throttle=throttle,
        sleep=time_.sleep,
        clock=time_.clock,
    )


def test_retry_after_values_are_slept_exactly_then_success() -> None:
    t = FakeTime()
    script = Script([throttled("7"), throttled("2"), throttled("1"), resp(200, {"ok": 1})])
    session = make_session(script, t)
    assert session.get_json("WhoAmI") == {"ok": 1}
    assert t.sleeps == [7.0, 2.0, 1.0]
    assert len(script.sent) == 4
    snap = session.throttle.snapshot()
    assert (snap.throttled, snap.retries, snap.waited_s) == (3, 3, 10.0)


def test_retry_after_is_exact_even_when_the_clock_does_not_move() -> None:
    sleeps: list[float] = []
    script = Script([throttled("7"), throttled("2"), resp(204), resp(204)])
    session = ApiSession(
        ORG,
        token_provider=StaticTokenProvider("tok"),
        transport=script,
        sleep=sleeps.append,
        clock=lambda: 5.0,
    )
    session.request("DELETE", LEAD)
    assert sleeps == [7.0, 2.0]
    session.request("DELETE", LEAD)
    assert sleeps == [7.0, 2.0]  # the pause was served: later requests do not wait again


def test_throttle_storm_past_the_limit_raises_throttled_error_with_retry_after() -> None:
    t = FakeTime()
    script = Script([throttled(str(n)) for n in (1, 1, 1, 4)])
    session = make_session(script, t, retry=RetryPolicy(max_retries=3, rng=random.Random(1)))
    with pytest.raises(ThrottledError) as info:
        session.request("GET", "leads")
    assert info.value.retry_after == 4.0
    assert info.value.status == 429
    assert info.value.code == "0x80072322"
    assert len(script.sent) == 4
    assert t.sleeps == [1.0, 1.0, 1.0]


def test_retry_after_beyond_the_time_budget_gives_up_at_once() -> None:
    t = FakeTime()
    script = Script([throttled("120")])
    session = make_session(script, t, retry=RetryPolicy(max_retries=5, max_retry_time=60))
    with pytest.raises(ThrottledError) as info:
        session.request("GET", "leads")
    assert info.value.retry_after == 120.0
    assert "asked to wait 120s" in str(info.value) and "retry budget" in str(info.value)
    assert t.sleeps == []
    # Other workers sharing the state honour the server's pause, up to the retry budget.
    assert session.throttle.pause_remaining() == 60.0


@pytest.mark.parametrize(("value", "shown"), [("1000000000", "1000000000s"), ("9" * 40, "1e+40s")])
def test_huge_retry_after_never_makes_anyone_sleep_for_ages(value: str, shown: str) -> None:
    t = FakeTime()
    script = Script([throttled(value), resp(200, {"ok": 1})])
    session = make_session(script, t, retry=RetryPolicy(max_retries=5, max_retry_time=300))
    with pytest.raises(ThrottledError) as info:
        session.request("GET", "leads")
    assert info.value.retry_after == float(value)
    assert f"asked to wait {shown}" in str(info.value)
    assert t.sleeps == [] and len(script.sent) == 1
    # The next request waits out at most the budget, then goes.
    assert session.get_json("WhoAmI") == {"ok": 1}
    assert t.sleeps == [300.0]


def test_huge_retry_after_on_a_503_write_is_reported_not_slept() -> None:
    t = FakeTime()
    script = Script([resp(503, **{"Retry-After": "86400"})])
    session = make_session(script, t)
    with pytest.raises(ServerError) as info:
        session.request("POST", "leads", json={})
    assert info.value.status == 503 and info.value.retry_after == 86400.0
    assert "asked to wait 86400s" in str(info.value) and "300s left" in str(info.value)
    assert t.sleeps == [] and session.throttle.pause_remaining() == 0


@pytest.mark.parametrize("value", ["-5", "soon", "1e9", "inf", "nan", "Mon, 99 Foo 2026 x"])
def test_negative_or_garbage_retry_after_falls_back_to_backoff(value: str) -> None:
    t = FakeTime()
    script = Script([throttled(value), resp(200, {"ok": 1})])
    session = make_session(script, t, retry=RetryPolicy(max_retries=5, rng=random.Random(3)))
    assert session.get_json("WhoAmI") == {"ok": 1}
    expected = RetryPolicy(rng=random.Random(3)).backoff(1)
    assert t.sleeps == [expected] and 0 <= expected <= 1.0


def test_retry_after_as_an_http_date_is_relative_to_the_injected_wall_clock() -> None:
    t = FakeTime()
    script = Script([throttled("Wed, 21 Oct 2015 07:28:17 GMT"), resp(200, {"ok": 1})])
    session = ApiSession(
        ORG,
        token_provider=StaticTokenProvider("tok"),
        transport=script,
        retry=RetryPolicy(max_retries=5, max_retry_time=300, rng=random.Random(7)),
        sleep=t.sleep,
        clock=t.clock,
        wall_clock=lambda: 1445412480.0,  # 2015-10-21 07:28:00 UTC
    )
    assert session.get_json("WhoAmI") == {"ok": 1}
    assert t.sleeps == [17.0]


def test_retry_after_as_a_past_http_date_means_retry_now() -> None:
    t = FakeTime()
    script = Script([throttled("Wed, 21 Oct 2015 07:28:00 GMT"), resp(200, {"ok": 1})])
    session = ApiSession(
        ORG,
        token_provider=StaticTokenProvider("tok"),
        transport=script,
        sleep=t.sleep,
        clock=t.clock,
        wall_clock=lambda: 1445412480.0 + 3600,
    )
    assert session.get_json("WhoAmI") == {"ok": 1}
    assert t.sleeps == [0.0]


def test_timed_out_patch_without_if_match_is_not_resent() -> None:
    t = FakeTime()
    script = Script([RequestTimeoutError("no answer")])
    session = make_session(script, t)
    with pytest.raises(RequestTimeoutError):
        session.request("PATCH", LEAD, json={"subject": "x"})
    assert len(script.sent) == 1
    assert t.sleeps == []


def test_timed_out_post_is_not_resent() -> None:
    t = FakeTime()
    script = Script([RequestTimeoutError("no answer")])
    session = make_session(script, t)
    with pytest.raises(RequestTimeoutError):
        session.request("POST", "leads", json={"subject": "x"})
    assert len(script.sent) == 1


def test_timed_out_patch_with_if_match_is_idempotent_and_resent() -> None:
    t = FakeTime()
    script = Script([RequestTimeoutError("no answer"), resp(204)])
    session = make_session(script, t)
    session.request("PATCH", LEAD, json={"subject": "x"}, headers={"If-Match": 'W/"12"'})
    assert len(script.sent) == 2
    assert script.sent[0].content == script.sent[1].content
    assert len(t.sleeps) == 1


def test_connection_reset_on_post_is_not_resent_but_connect_error_is() -> None:
    t = FakeTime()
    script = Script([TransportError("reset")])
    with pytest.raises(TransportError):
        make_session(script, t).request("POST", "leads", json={})
    assert len(script.sent) == 1

    script = Script([ConnectError("refused"), resp(204, **{"OData-EntityId": f"{ORG}/x"})])
    make_session(script, t).request("POST", "leads", json={})
    assert len(script.sent) == 2


def test_post_is_resent_after_503_but_not_after_502() -> None:
    t = FakeTime()
    script = Script([resp(503), resp(204)])
    make_session(script, t).request("POST", "leads", json={})
    assert len(script.sent) == 2

    script = Script([resp(502), resp(204)])
    with pytest.raises(ServerError) as info:
        make_session(script, t).request("POST", "leads", json={})
    assert info.value.status == 502
    assert len(script.sent) == 1


def test_get_backoff_uses_full_jitter_from_the_injected_rng() -> None:
    t = FakeTime()
    script = Script([resp(502), resp(504), resp(503), resp(200, {"value": []})])
    policy = RetryPolicy(backoff_base=1.0, rng=random.Random(42))
    make_session(script, t, retry=policy).request("GET", "leads")
    expected_rng = random.Random(42)
    expected = [expected_rng.uniform(0, c) for c in (1.0, 2.0, 4.0)]
    assert t.sleeps == expected


def test_backoff_ceiling_and_time_budget() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=3.0, rng=random.Random(0))
    for n in range(1, 10):
        assert 0 <= policy.backoff(n) <= min(3.0, 2 ** (n - 1))
    assert policy.allows(1, elapsed=0, delay=10)
    assert not policy.allows(6, elapsed=0, delay=0)
    assert not policy.allows(1, elapsed=295, delay=10)


def test_retries_stop_when_the_time_budget_is_spent() -> None:
    t = FakeTime()
    script = Script([resp(504)] * 20)
    policy = RetryPolicy(max_retries=20, max_retry_time=10, backoff_base=4, rng=random.Random(3))
    with pytest.raises(ServerError):
        make_session(script, t, retry=policy).request("GET", "leads")
    assert sum(t.sleeps) <= 10
    assert len(script.sent) < 20


def test_retry_false_sends_once() -> None:
    t = FakeTime()
    script = Script([throttled("3")])
    with pytest.raises(ThrottledError):
        make_session(script, t).request("GET", "leads", retry=False)
    assert len(script.sent) == 1


def test_a_429_pauses_every_worker_sharing_the_throttle_state() -> None:
    t = FakeTime()
    shared = ThrottleState(clock=t.clock)
    first = make_session(Script([throttled("5")]), t, throttle=shared)
    with pytest.raises(ThrottledError):
        first.request("GET", "leads", retry=False)
    events: list[str] = []

    class Recording(Script):
        def send(self, request: Request) -> Response:
            events.append("send")
            return super().send(request)

    def sleep(seconds: float) -> None:
        events.append(f"sleep {seconds}")
        t.sleep(seconds)

    other = ApiSession(
        ORG,
        token_provider=StaticTokenProvider("tok"),
        transport=Recording([resp(200, {"value": []})]),
        throttle=shared,
        sleep=sleep,
        clock=t.clock,
    )
    other.get_json("leads")
    assert events == ["sleep 5.0", "send"]


def test_dop_hint_is_recorded() -> None:
    t = FakeTime()
    script = Script([resp(200, {}, **{"x-ms-dop-hint": "12"})])
    session = make_session(script, t)
    session.request("GET", "WhoAmI")
    assert session.throttle.dop_hint == 12


class CountingProvider:
    def __init__(self) -> None:
        self.calls: list[bool] = []
        self.lock = threading.Lock()

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        self.calls.append(force_refresh)
        return AccessToken(f"token-{len(self.calls)}", 1e12)


def test_401_refreshes_the_token_once_and_resends() -> None:
    t = FakeTime()
    provider = CountingProvider()
    script = Script([resp(401, {"error": {"code": "", "message": "expired"}}), resp(200, {})])
    make_session(script, t, provider=provider).request("POST", "leads", json={})
    assert provider.calls == [False, True]
    auth = [r.headers["Authorization"] for r in script.sent]
    assert auth == ["Bearer token-1", "Bearer token-2"]


def test_second_401_raises_unauthorized() -> None:
    t = FakeTime()
    provider = CountingProvider()
    unauthorized = resp(401, {"error": {"code": "0x80090001", "message": "no"}})
    script = Script([unauthorized, unauthorized])
    with pytest.raises(UnauthorizedError) as info:
        make_session(script, t, provider=provider).request("GET", "leads")
    assert info.value.status == 401
    assert len(script.sent) == 2


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (ConnectError("refused"), False, True),
        (ConnectError("refused"), True, True),
        (RequestTimeoutError("no answer"), False, False),
        (RequestTimeoutError("no answer"), True, True),
        (TransportError("reset"), False, False),
        (TransportError("reset"), True, True),
    ],
)
def test_can_retry_error_resends_writes_only_when_nothing_was_sent(
    error: TransportError, idempotent: bool, expected: bool
) -> None:
    assert RetryPolicy().can_retry_error(error, idempotent=idempotent) is expected
