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

import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..core.fault import CODE_UNEXPECTED, FakeFault
from ..core.options import FakeOptions
from ..wire.errors import fault_response
from ..wire.messages import FakeRequest, FakeResponse, Handler, TransportFault
from .pauses import PauseWatch
from .protection import throttle_fault

__all__ = [
    "FaultPlan",
    "FaultRule",
    "FaultSpecError",
    "FiredFault",
    "parse_fault_spec",
]

FaultKind = Literal["throttle", "5xx", "reset", "timeout", "lost", "random"]
_KINDS: tuple[str, ...] = ("throttle", "5xx", "reset", "timeout", "lost", "random")
_RANDOM_KINDS = ("5xx", "reset", "timeout", "throttle")
_THROTTLE_KINDS = ("requests", "execution_time", "concurrency")
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_SERVER_STATUSES = (500, 502, 503, 504)


class FaultSpecError(ValueError):
    """A fault spec or rule argument is malformed (the message says what and how to fix it)."""


@dataclass
class FaultRule:
    """One scripted fault; see :class:`FaultPlan` for the friendly constructors."""

    kind: FaultKind
    times: int | None = 1
    """Shots left (``None`` = unlimited, used by ``random``)."""
    status: int = 503
    retry_after: int = 1
    throttle_kind: str = "requests"
    lost_as: str = "timeout"
    method: str | None = None
    path: re.Pattern[str] | None = None
    rate: float = 0.0
    seed: int | None = None
    random_kinds: tuple[str, ...] = ("5xx",)
    fired: int = 0
    _rng: random.Random | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise FaultSpecError(
                f"unknown fault kind {self.kind!r}; use one of {', '.join(_KINDS)}"
            )
        if self.times is not None and self.times < 1:
            raise FaultSpecError(f"a {self.kind} fault needs a count of at least 1")
        if self.kind in ("5xx", "random") and self.status not in _SERVER_STATUSES:
            raise FaultSpecError(
                f"server error status {self.status} is not one of 500, 502, 503, 504"
            )
        if self.retry_after < 1:
            raise FaultSpecError("retry_after must be a whole number of seconds, at least 1")
        if self.throttle_kind not in _THROTTLE_KINDS:
            raise FaultSpecError(
                f"unknown throttle kind {self.throttle_kind!r}; use {', '.join(_THROTTLE_KINDS)}"
            )
        if self.lost_as not in ("timeout", "reset") and not (
            self.lost_as.isdigit() and 400 <= int(self.lost_as) <= 599
        ):
            raise FaultSpecError(
                f"a lost response is shown as 'timeout', 'reset' or an HTTP status 400-599, "
                f"not {self.lost_as!r}"
            )
        if self.kind == "random":
            if not 0.0 < self.rate <= 1.0:
                raise FaultSpecError(f"a random fault rate must be in (0, 1], not {self.rate}")
            if self.seed is None:
                raise FaultSpecError(
                    "random faults need a seed so runs are repeatable, e.g. random:0.05:seed=1"
                )
            bad = [k for k in self.random_kinds if k not in _RANDOM_KINDS]
            if bad or not self.random_kinds:
                raise FaultSpecError(
                    f"random fault kinds must be among {', '.join(_RANDOM_KINDS)}; got "
                    f"{', '.join(self.random_kinds) or '(none)'}"
                )
            self._rng = random.Random(self.seed)
        if self.method is not None:
            self.method = self.method.upper()

    @property
    def phase(self) -> str:
        """``after_commit`` for lost responses, ``before`` for everything else."""
        return "after_commit" if self.kind == "lost" else "before"

    @property
    def exhausted(self) -> bool:
        """True when the rule has no shots left."""
        return self.times is not None and self.times <= 0

    def matches(self, request: FakeRequest) -> bool:
        """Whether the rule applies to ``request`` (ignoring shots left)."""
        if self.method is not None and self.method != "*" and request.method != self.method:
            return False
        if self.path is not None:
            return self.path.search(request.path) is not None
        if not request.is_api:
            return False
        return not (self.kind == "lost" and request.method not in _WRITES)

    def describe(self) -> str:
        """The rule in spec syntax (for logs and reprs)."""
        if self.kind == "throttle":
            text = f"throttle:{self.times}:{self.retry_after}:kind={self.throttle_kind}"
        elif self.kind == "5xx":
            text = f"5xx:{self.times}:{self.status}"
        elif self.kind == "lost":
            text = f"lost:{self.times}:as={self.lost_as}"
        elif self.kind == "random":
            text = (
                f"random:{self.rate:g}:seed={self.seed}:kinds={'+'.join(self.random_kinds)}"
                f":status={self.status}"
            )
        else:
            text = f"{self.kind}:{self.times}"
        if self.method is not None or self.path is not None:
            text += f"@{self.method or '*'}"
            if self.path is not None:
                text += f":{self.path.pattern}"
        return text


@dataclass(frozen=True)
class FiredFault:
    """A record of one fault that fired (for assertions)."""

    kind: str
    method: str
    url: str


def _int_arg(value: str, what: str, spec: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FaultSpecError(
            f"{what} must be a whole number in fault spec {spec!r}, not {value!r}"
        ) from None


def parse_fault_spec(spec: str) -> FaultRule:
    """Parse one textual fault spec (grammar in the module docstring) into a rule."""
    text = spec.strip()
    if not text:
        raise FaultSpecError("empty fault spec; try 'throttle:3', '5xx:2:503' or 'reset:1'")
    body, at, filter_text = text.partition("@")
    method: str | None = None
    path: re.Pattern[str] | None = None
    if at:
        method_text, _, regex = filter_text.partition(":")
        method_text = method_text.strip()
        if not method_text.isalpha() and method_text != "*":
            raise FaultSpecError(
                f"the filter of fault spec {spec!r} must be @METHOD or @METHOD:REGEX "
                "(METHOD like GET, POST or *)"
            )
        method = method_text.upper()
        if regex:
            try:
                path = re.compile(regex)
            except re.error as exc:
                raise FaultSpecError(
                    f"bad path regex {regex!r} in fault spec {spec!r}: {exc}"
                ) from None
    kind, *args = [a.strip() for a in body.split(":")]
    kind = kind.lower()
    if kind not in _KINDS:
        raise FaultSpecError(
            f"unknown fault kind {kind!r} in {spec!r}; use one of {', '.join(_KINDS)} "
            "(e.g. throttle:3, 5xx:2:503, reset:1, timeout:1, lost:1, random:0.05:seed=1)"
        )
    positional = [a for a in args if "=" not in a]
    named: dict[str, str] = {}
    for arg in args:
        if "=" in arg:
            name, _, value = arg.partition("=")
            named[name.strip().lower()] = value.strip()
    allowed_named = {
        "throttle": {"kind", "retry_after"},
        "5xx": {"status"},
        "reset": set(),
        "timeout": set(),
        "lost": {"as"},
        "random": {"seed", "kinds", "status"},
    }[kind]
    unknown = sorted(set(named) - allowed_named)
    if unknown:
        raise FaultSpecError(
            f"unknown option(s) {', '.join(unknown)} for a {kind} fault in {spec!r}"
            + (f"; allowed: {', '.join(sorted(allowed_named))}" if allowed_named else "")
        )
    max_positional = {"throttle": 2, "5xx": 2, "reset": 1, "timeout": 1, "lost": 1, "random": 1}
    if len(positional) > max_positional[kind]:
        raise FaultSpecError(f"too many arguments for a {kind} fault in {spec!r}")
    if kind == "random":
        if not positional:
            raise FaultSpecError(
                f"a random fault needs a rate, e.g. random:0.05:seed=1 (got {spec!r})"
            )
        try:
            rate = float(positional[0])
        except ValueError:
            raise FaultSpecError(f"the rate of {spec!r} must be a number like 0.05") from None
        seed = _int_arg(named["seed"], "seed", spec) if "seed" in named else None
        kinds = tuple(k for k in named.get("kinds", "5xx").split("+") if k)
        status = _int_arg(named.get("status", "503"), "status", spec)
        return FaultRule(
            "random",
            None,
            status=status,
            method=method,
            path=path,
            rate=rate,
            seed=seed,
            random_kinds=kinds,
        )
    times = _int_arg(positional[0], "the count", spec) if positional else 1
    if kind == "throttle":
        retry_after = positional[1] if len(positional) > 1 else named.get("retry_after", "1")
        return FaultRule(
            "throttle",
            times,
            retry_after=_int_arg(retry_after, "retry_after", spec),
            throttle_kind=named.get("kind", "requests"),
            method=method,
            path=path,
        )
    if kind == "5xx":
        status_text = positional[1] if len(positional) > 1 else named.get("status", "503")
        return FaultRule(
            "5xx", times, status=_int_arg(status_text, "status", spec), method=method, path=path
        )
    if kind == "lost":
        return FaultRule(
            "lost", times, lost_as=named.get("as", "timeout"), method=method, path=path
        )
    return FaultRule("reset" if kind == "reset" else "timeout", times, method=method, path=path)


def _compile(path: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if path is None or isinstance(path, re.Pattern):
        return path
    try:
        return re.compile(path)
    except re.error as exc:
        raise FaultSpecError(f"bad path regex {path!r}: {exc}") from None


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
        self.fired: list[FiredFault] = []
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
                path=_compile(path),
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
        return self.add(FaultRule("5xx", n, status=status, method=method, path=_compile(path)))

    def reset_next(
        self, n: int = 1, *, method: str | None = None, path: str | re.Pattern[str] | None = None
    ) -> FaultRule:
        """Close the connection without an answer for the next ``n`` matching requests."""
        return self.add(FaultRule("reset", n, method=method, path=_compile(path)))

    def timeout_next(
        self, n: int = 1, *, method: str | None = None, path: str | re.Pattern[str] | None = None
    ) -> FaultRule:
        """Never answer the next ``n`` matching requests (the client times out)."""
        return self.add(FaultRule("timeout", n, method=method, path=_compile(path)))

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
        return self.add(FaultRule("lost", n, lost_as=as_, method=method, path=_compile(path)))

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
                path=_compile(path),
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
