"""Scripted, deterministic fault injection for the fake.

A :class:`FaultPlan` holds :class:`FaultRule` s, tried in the order they were added; the first
rule that matches a request and has shots left fires.  Rules act in one of two phases:

* **before** (:meth:`FaultPlan.before`, right after the journal): the request is never
  processed — a scripted ``429``, a ``5xx``, a connection reset or a timeout;
* **after commit** (:meth:`FaultPlan.after_commit`, wrapping the router): the write is carried
  out and committed, then the answer is lost (the client sees a timeout or a reset, or a status
  you choose), to test idempotent retries and duplicate creates.

Transport faults are :class:`~d365leads.fake.wire.messages.TransportFault` s on the response; the
adapters act them out (``requests`` exceptions in-process, a closed socket or a withheld answer in
server mode).  Randomness only comes with a seed.

The textual form (``--fault`` on the CLI, ``FakeOptions.faults``)::

    KIND[:ARG]...[@METHOD[:REGEX]]

    throttle[:N][:RETRY_AFTER][:kind=requests|execution_time|concurrency]
    5xx[:N][:STATUS]                 STATUS in 500, 502, 503, 504 (default 503)
    reset[:N]
    timeout[:N]
    lost[:N][:as=timeout|reset|STATUS]
    random:RATE:seed=S[:kinds=5xx+reset+timeout+throttle][:status=503]

``N`` defaults to 1.  ``@PATCH:^leads\\(`` limits a rule to one method (``*`` for any) and to
paths (after ``/api/data/v9.2/``) matching the regular expression.  Without a filter a rule
matches Web API requests only (not the login host), and ``lost`` matches writes only (POST,
PATCH, PUT, DELETE) that succeeded.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Literal

from ..core.fault import CODE_UNEXPECTED, FakeFault
from ..core.options import FakeOptions
from ..wire.errors import fault_response
from ..wire.messages import FakeRequest, FakeResponse, Handler, TransportFault
from .fault_rules import FaultRule, FaultSpecError, compile_path, parse_fault_spec
from .fired import FiredFault, FiredLog
from .pauses import PauseWatch
from .protection import throttle_fault

__all__ = [
    "FaultPlan",
    "FaultRule",
    "FaultSpecError",
    "FiredFault",
    "FiredLog",
    "parse_fault_spec",
]


class FaultPlan:
    """Scripted faults of a fake (``fake.faults``); thread-safe.

    ``options`` gives the numbers quoted in throttling messages and the ``x-ms-dop-hint``;
    ``specs`` are textual specs added at once (``FakeOptions.faults``).
    """

    def __init__(
        self,
        specs: list[str] | tuple[str, ...] = (),
        *,
        options: FakeOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or FakeOptions()
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self.fired = FiredLog(self.options.fired_limit)
        """The newest fired faults (``options.fired_limit``); ``fired.by_kind`` counts all."""
        self.pauses = PauseWatch(clock)  # scripted 429 pauses and early retries during them
        for spec in specs:
            self.add(spec)

    def __repr__(self) -> str:
        with self._lock:
            active = [r.describe() for r in self.rules if not r.exhausted]
        return f"FaultPlan({active})"

    # --- building -------------------------------------------------------------------------

    def add(self, rule: FaultRule | str) -> FaultRule:
        """Add a rule (or a textual spec) after the existing ones and return it."""
        parsed = parse_fault_spec(rule) if isinstance(rule, str) else rule
        with self._lock:
            self.rules.append(parsed)
        return parsed

    def throttle_next(
        self,
        n: int = 1,
        *,
        retry_after: int = 1,
        kind: str = "requests",
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
    ) -> FaultRule:
        """Answer the next ``n`` matching requests with a service-protection ``429``."""
        return self.add(
            FaultRule(
                "throttle",
                n,
                retry_after=retry_after,
                throttle_kind=kind,
                method=method,
                path=compile_path(path),
            )
        )

    def server_errors(
        self,
        n: int = 1,
        status: int = 503,
        *,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
    ) -> FaultRule:
        """Answer the next ``n`` matching requests with ``status`` (500/502/503/504)."""
        return self.add(FaultRule("5xx", n, status=status, method=method, path=compile_path(path)))

    def reset_next(
        self, n: int = 1, *, method: str | None = None, path: str | re.Pattern[str] | None = None
    ) -> FaultRule:
        """Close the connection without an answer for the next ``n`` matching requests."""
        return self.add(FaultRule("reset", n, method=method, path=compile_path(path)))

    def timeout_next(
        self, n: int = 1, *, method: str | None = None, path: str | re.Pattern[str] | None = None
    ) -> FaultRule:
        """Never answer the next ``n`` matching requests (the client times out)."""
        return self.add(FaultRule("timeout", n, method=method, path=compile_path(path)))

    def lose_response_after_commit(
        self,
        n: int = 1,
        *,
        as_: str = "timeout",
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
    ) -> FaultRule:
        """Carry out the next ``n`` matching writes, then lose their answers.

        ``as_`` is what the client sees: ``timeout``, ``reset`` or an HTTP status such as
        ``"504"`` (with an error body).
        """
        return self.add(FaultRule("lost", n, lost_as=as_, method=method, path=compile_path(path)))

    def fail_randomly(
        self,
        rate: float,
        seed: int,
        *,
        kinds: tuple[str, ...] = ("5xx",),
        status: int = 503,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
    ) -> FaultRule:
        """Fail a fraction ``rate`` of matching requests, repeatably for a given ``seed``."""
        return self.add(
            FaultRule(
                "random",
                None,
                status=status,
                rate=rate,
                seed=seed,
                random_kinds=tuple(kinds),
                method=method,
                path=compile_path(path),
            )
        )

    def clear(self) -> None:
        """Remove every rule and forget what fired (the pause and early retries too)."""
        with self._lock:
            self.rules.clear()
            self.fired.clear()
        self.pauses.clear()

    @property
    def pending(self) -> list[FaultRule]:
        """Rules that still have shots left."""
        with self._lock:
            return [r for r in self.rules if not r.exhausted]

    # --- middleware -----------------------------------------------------------------------

    def _take(self, request: FakeRequest, phase: str) -> tuple[FaultRule, str] | None:
        with self._lock:
            for rule in self.rules:
                if rule.phase != phase or rule.exhausted or not rule.matches(request):
                    continue
                action: str = rule.kind
                if rule.kind == "random":
                    assert rule._rng is not None
                    if rule._rng.random() >= rule.rate:
                        continue
                    action = rule._rng.choice(rule.random_kinds)
                if rule.times is not None:
                    rule.times -= 1
                rule.fired += 1
                self.fired.append(FiredFault(action, request.method, request.url))
                return rule, action
        return None

    def _dop(self) -> dict[str, str]:
        hint = self.options.dop_hint
        return {"x-ms-dop-hint": str(hint)} if hint is not None else {}

    def _server_error(self, status: int) -> FakeResponse:
        messages = {
            500: "An unexpected error occurred.",
            502: "Bad Gateway: the web server received an invalid response upstream.",
            503: "The service is temporarily unavailable. Try again later.",
            504: "The request timed out at the gateway.",
        }
        message = messages.get(status, "Server error.")
        return fault_response(FakeFault(status, CODE_UNEXPECTED, message, self._dop()))

    def before(self, request: FakeRequest, call_next: Handler) -> FakeResponse:
        """Middleware for faults that stop a request before it is processed."""
        if request.is_api:  # early retries: see pauses.py
            self.pauses.arrived()
        taken = self._take(request, "before")
        if taken is None:
            return call_next(request)
        rule, action = taken
        if action == "throttle":
            self.pauses.start(rule.retry_after)
            fault = throttle_fault(rule.throttle_kind, self.options, rule.retry_after)
            return fault_response(fault)
        if action == "5xx":
            return self._server_error(rule.status)
        # The status is never delivered: the adapter acts out the transport fault instead.
        if action == "reset":
            return FakeResponse(502, {}, b"", TransportFault("reset"))
        return FakeResponse(504, {}, b"", TransportFault("timeout"))

    def after_commit(self, request: FakeRequest, call_next: Handler) -> FakeResponse:
        """Middleware around the router: lose the answer of a write that committed."""
        response = call_next(request)
        if response.status >= 400 or response.fault is not None:
            return response
        taken = self._take(request, "after_commit")
        if taken is None:
            return response
        rule, _ = taken
        if rule.lost_as in ("timeout", "reset"):
            kind: Literal["timeout", "reset"] = "timeout" if rule.lost_as == "timeout" else "reset"
            return FakeResponse(
                response.status, response.headers, response.body, TransportFault(kind)
            )
        status = int(rule.lost_as)
        if status >= 500:
            return self._server_error(status)
        return fault_response(FakeFault(status, CODE_UNEXPECTED, "The response was lost."))
