"""Service-protection limits, simulated per caller (``dataverse-web-api.md`` §6).

Three limits per caller (one bearer token = one user), each configurable and scaled down for
tests and benchmarks through :class:`~d365leads.fake.core.options.FakeOptions`:

* ``max_requests`` over a sliding window of ``window_s`` seconds (``0x80072322``); a ``$batch``
  counts once;
* ``max_exec_ms``, the combined execution time over the same window (``0x80072321``); every
  operation of a ``$batch`` adds ``op_cost_ms`` (see :mod:`~d365leads.fake.pipeline.latency`);
* ``max_concurrency`` requests in flight at once (``0x80072326``), which fails immediately.

Over a limit the answer is ``429`` with ``Retry-After`` in whole seconds and Dataverse's code
and message (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits).
``Retry-After`` is honest: it is the time until the window has room again, rounded up, so a
client that waits it is admitted.  A caller that keeps sending before its ``Retry-After`` has
passed is refused again with a longer wait (one, two, four… more seconds per early request,
at most four windows), which is how the service treats clients that ignore the header;
requests arriving within :attr:`ServiceProtection.grace_s` of the 429 (already in flight from
parallel workers) are refused without lengthening it.
Refused requests do not count toward the limits.  Every response carries ``x-ms-dop-hint``
and (``FakeOptions.budget_headers``, format UNCONFIRMED) the
``x-ms-ratelimit-*-remaining-xrm-requests`` debug headers, time left in seconds.

Windows use the fake's injected clock; nothing here sleeps.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..core.fault import FakeFault
from ..core.metering import metering
from ..core.options import FakeOptions
from ..wire.errors import fault_response
from ..wire.messages import FakeRequest, FakeResponse, Handler

__all__ = [
    "CODE_CONCURRENCY",
    "CODE_EXECUTION_TIME",
    "CODE_REQUESTS",
    "ProtectionStats",
    "ServiceProtection",
    "caller_key",
    "throttle_fault",
]

CODE_REQUESTS = "0x80072322"
CODE_EXECUTION_TIME = "0x80072321"
CODE_CONCURRENCY = "0x80072326"

_KINDS = {
    "requests": CODE_REQUESTS,
    "execution_time": CODE_EXECUTION_TIME,
    "concurrency": CODE_CONCURRENCY,
}


def _seconds_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def throttle_fault(kind: str, options: FakeOptions, retry_after: int) -> FakeFault:
    """The 429 fault for limit ``kind`` (``requests``, ``execution_time``, ``concurrency``).

    Messages are Dataverse's, with the configured numbers (the documented execution-time text
    has two spaces before "milliseconds").
    """
    window = _seconds_text(options.window_s)
    if kind == "requests":
        message = (
            f"Number of requests exceeded the limit of {options.max_requests or 6000} "
            f"over time window of {window} seconds."
        )
    elif kind == "execution_time":
        message = (
            "Combined execution time of incoming requests exceeded limit of "
            f"{options.max_exec_ms or 1_200_000:,}  milliseconds over time window of {window} "
            "seconds. Decrease number of concurrent requests or reduce the duration of requests "
            "and try again later."
        )
    elif kind == "concurrency":
        message = (
            f"Number of concurrent requests exceeded the limit of {options.max_concurrency or 52}."
        )
    else:
        raise ValueError(
            f"unknown throttle kind {kind!r}; use requests, execution_time or concurrency"
        )
    headers = {"Retry-After": str(max(1, int(retry_after)))}
    if options.dop_hint is not None:
        headers["x-ms-dop-hint"] = str(options.dop_hint)
    return FakeFault(429, _KINDS[kind], message, headers)


def caller_key(
    request: FakeRequest, *, per_impersonated_user: bool = False, impersonated: str | None = None
) -> str:
    """Who the limits are counted for: a hash of the bearer token (never the token itself).

    With ``per_impersonated_user`` (the UNCONFIRMED
    ``FakeOptions.impersonation_spreads_limits`` switch) the effective caller is part of the
    key: ``impersonated``, the systemuser the request acts as however it was named
    (``CallerObjectId`` or ``MSCRMCallerID``), or else the ``MSCRMCallerID`` header.
    """
    authorization = request.header("Authorization") or ""
    if not authorization:
        return "anonymous"
    if per_impersonated_user:
        user = impersonated or (request.header("MSCRMCallerID") or "").strip().lower()
        authorization += "\n" + user
    return hashlib.sha256(authorization.encode("utf-8")).hexdigest()[:16]


@dataclass
class _Caller:
    requests: deque[float] = field(default_factory=deque)
    executions: deque[tuple[float, float]] = field(default_factory=deque)
    exec_total_ms: float = 0.0
    in_flight: int = 0
    blocked_until: float = 0.0
    blocked_at: float = 0.0
    blocked_kind: str = "requests"
    strikes: int = 0


@dataclass
class ProtectionStats:
    """Counters for tests and benchmarks."""

    admitted: int = 0
    throttled: dict[str, int] = field(
        default_factory=lambda: {"requests": 0, "execution_time": 0, "concurrency": 0}
    )
    early_retries: int = 0
    peak_concurrency: int = 0
    peak_by_caller: dict[str, int] = field(default_factory=dict)
    """The most requests in flight at once, per caller key (:func:`caller_key`)."""


class ServiceProtection:
    """Middleware enforcing the limits of ``options`` per caller (see the module docstring)."""

    def __init__(
        self,
        options: FakeOptions | Callable[[], FakeOptions],
        clock: Callable[[], datetime],
        impersonated: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._options = options if callable(options) else (lambda: options)
        self._clock = clock
        self._impersonated = impersonated
        self._lock = threading.Lock()
        self._callers: dict[str, _Caller] = {}
        self.stats = ProtectionStats()
        self.grace_s = 0.5
        """Requests arriving this soon after a 429 were sent before the client could see it
        (parallel workers): they are refused without lengthening the wait."""

    def __repr__(self) -> str:
        return f"ServiceProtection(callers={len(self._callers)}, stats={self.stats})"

    def reset(self) -> None:
        """Forget every caller's window, penalty and counters."""
        with self._lock:
            self._callers.clear()
            self.stats = ProtectionStats()

    def in_flight(self, request: FakeRequest) -> int:
        """Requests of this request's caller being handled right now."""
        with self._lock:
            caller = self._callers.get(caller_key(request))
            return caller.in_flight if caller else 0

    def key(self, request: FakeRequest) -> str:
        """The caller key ``request`` is counted under (see ``stats.peak_by_caller``)."""
        return caller_key(
            request,
            per_impersonated_user=self._options().impersonation_spreads_limits,
            impersonated=self._impersonated(),
        )

    def _now(self) -> float:
        return self._clock().timestamp()

    def __call__(self, request: FakeRequest, call_next: Handler) -> FakeResponse:
        """Admit or refuse ``request``; charge its execution time when it completes."""
        options = self._options()
        key = caller_key(
            request,
            per_impersonated_user=options.impersonation_spreads_limits,
            impersonated=self._impersonated(),
        )
        refused = self._admit(key, options)
        if refused is not None:
            return fault_response(refused)
        exec_ms = 0.0
        try:
            with metering() as meter:
                response = call_next(request)
                exec_ms = meter.exec_ms
        finally:
            remaining = self._complete(key, exec_ms, options)
        headers = response.headers
        if options.dop_hint is not None:
            headers["x-ms-dop-hint"] = str(options.dop_hint)
        requests_left, time_left = remaining
        if options.budget_headers and requests_left is not None:
            headers["x-ms-ratelimit-burst-remaining-xrm-requests"] = str(requests_left)
        if options.budget_headers and time_left is not None:
            # Seconds, as the published examples write them ("1,199.46"; format UNCONFIRMED).
            headers["x-ms-ratelimit-time-remaining-xrm-requests"] = f"{time_left / 1000:,.2f}"
        return response

    def _prune(self, caller: _Caller, now: float, window: float) -> None:
        horizon = now - window
        while caller.requests and caller.requests[0] <= horizon:
            caller.requests.popleft()
        while caller.executions and caller.executions[0][0] <= horizon:
            caller.exec_total_ms -= caller.executions.popleft()[1]
        if not caller.executions:
            caller.exec_total_ms = 0.0

    def _admit(self, key: str, options: FakeOptions) -> FakeFault | None:
        now = self._now()
        window = options.window_s
        with self._lock:
            caller = self._callers.setdefault(key, _Caller())
            self._prune(caller, now, window)
            if options.max_concurrency is not None and caller.in_flight >= options.max_concurrency:
                # Fails at once and does not block the caller: a slot frees when any request
                # in flight completes, so one second is an honest upper bound to suggest.
                self.stats.throttled["concurrency"] += 1
                return throttle_fault("concurrency", options, 1)
            if now < caller.blocked_until:
                if now - caller.blocked_at >= self.grace_s:
                    caller.strikes += 1
                    self.stats.early_retries += 1
                    # capped exponent: a client hammering for hours must not overflow the float
                    penalty = min(2.0 ** min(caller.strikes - 1, 32), window)
                    caller.blocked_until = min(caller.blocked_until + penalty, now + 4 * window)
                self.stats.throttled[caller.blocked_kind] += 1
                return throttle_fault(
                    caller.blocked_kind, options, math.ceil(caller.blocked_until - now)
                )
            wait: float | None = None
            kind = "requests"
            if options.max_requests is not None and len(caller.requests) >= options.max_requests:
                # The slot that frees first is the one that makes the count drop below the limit.
                oldest = caller.requests[len(caller.requests) - options.max_requests]
                wait = oldest + window - now
            elif options.max_exec_ms is not None and caller.exec_total_ms >= options.max_exec_ms:
                kind = "execution_time"
                total = caller.exec_total_ms
                for when, cost in caller.executions:
                    total -= cost
                    if total < options.max_exec_ms:
                        wait = when + window - now
                        break
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                caller.blocked_until = now + seconds
                caller.blocked_at = now
                caller.blocked_kind = kind
                caller.strikes = 0
                self.stats.throttled[kind] += 1
                return throttle_fault(kind, options, seconds)
            caller.strikes = 0
            caller.requests.append(now)
            caller.in_flight += 1
            self.stats.admitted += 1
            self.stats.peak_concurrency = max(self.stats.peak_concurrency, caller.in_flight)
            peaks = self.stats.peak_by_caller
            peaks[key] = max(peaks.get(key, 0), caller.in_flight)
            return None

    def _complete(
        self, key: str, exec_ms: float, options: FakeOptions
    ) -> tuple[int | None, float | None]:
        now = self._now()
        with self._lock:
            # setdefault: reset() may have forgotten the caller while this request ran.
            caller = self._callers.setdefault(key, _Caller())
            caller.in_flight = max(0, caller.in_flight - 1)
            if exec_ms > 0:
                caller.executions.append((now, exec_ms))
                caller.exec_total_ms += exec_ms
            self._prune(caller, now, options.window_s)
            requests_left = (
                max(0, options.max_requests - len(caller.requests))
                if options.max_requests is not None
                else None
            )
            time_left = (
                max(0.0, options.max_exec_ms - caller.exec_total_ms)
                if options.max_exec_ms is not None
                else None
            )
            return requests_left, time_left
