"""Fault rules and their textual form (``--fault``, ``FakeOptions.faults``) for the fake.

A :class:`FaultRule` is one scripted fault; :func:`parse_fault_spec` reads the spec syntax
documented in :mod:`~d365leads.fake.pipeline.faults`.  The plan that fires them is
:class:`~d365leads.fake.pipeline.faults.FaultPlan`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Literal

from ..wire.messages import FakeRequest

__all__ = ["FaultKind", "FaultRule", "FaultSpecError", "compile_path", "parse_fault_spec"]

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


def _int_arg(value: str, what: str, spec: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FaultSpecError(
            f"{what} must be a whole number in fault spec {spec!r}, not {value!r}"
        ) from None


def parse_fault_spec(spec: str) -> FaultRule:
    """Parse one textual fault spec (grammar in :mod:`~d365leads.fake.pipeline.faults`)."""
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


def compile_path(path: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if path is None or isinstance(path, re.Pattern):
        return path
    try:
        return re.compile(path)
    except re.error as exc:
        raise FaultSpecError(f"bad path regex {path!r}: {exc}") from None
