"""``FakeDataverse``: the one public entry point, composing the layers of the fake.

It *is* the org (:class:`~d365leads.fake.org.org.Org`: state, seeding, read-back, identity) and
*has* a request pipeline (:class:`~d365leads.fake.pipeline.chain.Pipeline`: middleware chain,
router, journal), whose parts it exposes under their historic names (``journal``, ``faults``,
``hooks``, ``replay``, ``protection``, ``latency``, ``batch``, ``bound_actions`` …).  The
transports are :meth:`FakeDataverse.mock` (``responses``) and :meth:`FakeDataverse.serve`
(a threaded HTTP server).

Seeding (:meth:`~Org.seed`, :meth:`~Org.seed_file`) bypasses business rules but checks tables,
columns and value types, and fills system columns; requests through the pipeline run every rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from .adapters.login_paths import with_login
from .adapters.responses_mock import mock
from .adapters.server import FakeServer
from .core.clock import Clock
from .core.options import FakeOptions
from .handlers.actions import ActionExecutor
from .handlers.batch import BatchProcessor
from .org.org import Org
from .org.seeding import SeedError
from .pipeline.chain import Pipeline
from .pipeline.faults import FaultPlan
from .pipeline.journal import RequestJournal
from .pipeline.latency import LatencySimulator
from .pipeline.protection import ServiceProtection
from .wire.messages import FakeRequest, FakeResponse, Handler, Middleware

__all__ = ["DEFAULT_ORG_URL", "FakeDataverse", "SeedError"]

DEFAULT_ORG_URL = "https://fake-org.crm.dynamics.com"


class FakeDataverse(Org):
    """A stateful, in-memory Dataverse org for the lead lifecycle (see the module docstring)."""

    def __init__(
        self,
        org_url: str = DEFAULT_ORG_URL,
        options: FakeOptions | None = None,
        clock: Clock | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(org_url, options, clock)
        self.pipeline = Pipeline(self, self, sleep=sleep)

    def __repr__(self) -> str:
        return f"FakeDataverse({self.org_url!r}, {self.store!r})"

    # --- handling requests -------------------------------------------------------------------

    def __call__(self, request: FakeRequest) -> FakeResponse:
        """Handle one request through the whole middleware chain."""
        return self.pipeline(request)

    handle = __call__

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Route one request without middleware (``$batch`` operations come through here)."""
        return self.pipeline.dispatch(request)

    @property
    def middlewares(self) -> list[Middleware]:
        """The chain in order, outermost first (see :class:`Pipeline`)."""
        return self.pipeline.middlewares

    @property
    def sleep(self) -> Callable[[float], None]:
        """The injected wait of latency simulation and in-process delays."""
        return self.pipeline.sleep

    @sleep.setter
    def sleep(self, value: Callable[[float], None]) -> None:
        self.pipeline.sleep = value

    @property
    def replay(self) -> Handler | None:
        """A cassette player answering every request in place of the router (or ``None``)."""
        return self.pipeline.replay

    @replay.setter
    def replay(self, value: Handler | None) -> None:
        self.pipeline.replay = value

    @property
    def journal(self) -> RequestJournal:
        """The newest Web API requests with the responses the client got, in order (a ring of
        ``options.journal_limit``; ``journal.counters`` count every one)."""
        return self.pipeline.journal

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions raised inside the fake (a bug); the pytest plugin re-raises."""
        return self.pipeline.errors

    @property
    def accepted_tokens(self) -> set[str]:
        """Bearer tokens accepted under ``strict_auth`` (the fake login adds its own)."""
        return self.pipeline.accepted_tokens

    @property
    def hooks(self) -> list[Middleware]:
        """Extra middleware run innermost, just before the router."""
        return self.pipeline.hooks

    @property
    def faults(self) -> FaultPlan:
        """Scripted faults."""
        return self.pipeline.faults

    @property
    def protection(self) -> ServiceProtection:
        """Service protection limits and their statistics."""
        return self.pipeline.protection

    @property
    def latency(self) -> LatencySimulator:
        """Latency simulation and its totals."""
        return self.pipeline.latency

    @property
    def batch(self) -> BatchProcessor:
        """The ``$batch`` handler (``max_operations``, ``changeset_failure``)."""
        return self.pipeline.batch

    @property
    def bound_actions(self) -> dict[tuple[str, str], ActionExecutor]:
        """Bound actions by ``(table, name)``; add an executor to support a new one."""
        return self.pipeline.router.bound_actions

    @property
    def unbound_actions(self) -> dict[str, ActionExecutor]:
        """Unbound actions by name."""
        return self.pipeline.router.unbound_actions

    # --- the test API beyond the org's -----------------------------------------------------

    @property
    def org(self) -> Org:
        """The org's state (this fake itself; the control plane reads it)."""
        return self

    def requests(
        self, method: str | None = None, path_prefix: str | None = None
    ) -> list[FakeRequest]:
        """Journaled requests, optionally only one method and/or paths starting with a prefix."""
        return [
            req
            for req, _ in self.pipeline.journal_entries()
            if (method is None or req.method == method.upper())
            and (path_prefix is None or req.path.startswith(path_prefix))
        ]

    def stats(self) -> dict[str, Any]:
        """Counters for benchmarks and chaos trials (``GET /_fake/stats``).

        ``requests`` counts every Web API request, including those dropped from the bounded
        journal; ``faults_fired`` counts scripted faults by kind (dropped records of the
        bounded ``faults.fired`` log included); ``early_retries`` counts
        requests sent while a ``Retry-After`` still ran (scripted 429s and service protection);
        ``pause_left_s`` is what remains of the latest scripted 429's pause.
        """
        journal = self.pipeline.journal
        faults = self.pipeline.faults
        scripted = faults.pauses.early_retries
        protected = self.pipeline.protection.stats.early_retries
        return {
            "requests": journal.counters.to_json(),
            "journal": {"kept": len(journal), "limit": journal.limit, "dropped": journal.dropped},
            "faults_fired": faults.fired.counts(),
            "faults_log": {
                "kept": len(faults.fired),
                "limit": faults.fired.limit,
                "dropped": faults.fired.dropped,
            },
            "early_retries": {
                "total": scripted + protected,
                "scripted_throttle": scripted,
                "service_protection": protected,
            },
            "pause_left_s": round(faults.pauses.left_s(), 3),
        }

    def journal_entries(self) -> list[tuple[FakeRequest, FakeResponse]]:
        """A copy of the journal."""
        return self.pipeline.journal_entries()

    def add_fault(self, spec: str) -> None:
        """Script a fault from its textual spec (``FaultSpecError`` when it is not valid)."""
        self.faults.add(spec)

    def clear_faults(self) -> None:
        """Remove every scripted fault."""
        self.faults.clear()

    def reset(self) -> None:
        """Forget all data, the journal, faults and throttling state; re-seed the identity."""
        self.clear_data()
        self.pipeline.clear()

    # --- transports -------------------------------------------------------------------------

    def mock(self) -> AbstractContextManager[Any]:
        """Install the fake in-process with ``responses`` (org host and login host)."""
        return mock(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> FakeServer:
        """Start a threaded HTTP server for this fake (the login paths included, see
        :mod:`~d365leads.fake.adapters.login_paths`); close it with ``.close()``."""
        self.latency.real_time = True
        return FakeServer(with_login(self), host=host, port=port)
