"""The request pipeline of one fake org: the middleware chain in front of the router.

A request runs through ``journal -> faults (before) -> auth -> impersonation -> service
protection -> latency -> faults (after commit) -> hooks -> router``.  The journal records every
Web API request with the response the client got (transport faults included); ``faults``
scripts failures; auth checks the bearer token (``strict_auth``: only tokens in
:attr:`Pipeline.accepted_tokens`); impersonation switches the caller for ``CallerObjectId``
(a systemuser's ``azureactivedirectoryobjectid``) or ``MSCRMCallerID`` (its id).
Requests to the control plane (``/_fake/``) skip the chain and go to
:mod:`~d365leads.fake.handlers.admin`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.fault import (
    CODE_NOT_FOUND,
    CODE_UNEXPECTED,
    FakeFault,
    bad_request,
    disabled_user,
    not_found,
    unauthorized,
)
from ..core.values import normalize_id
from ..handlers import admin
from ..handlers.batch import BatchProcessor
from ..org.identity import org_guid
from ..org.state import OrgState
from ..wire.errors import fault_response
from ..wire.messages import FakeRequest, FakeResponse, Handler, Middleware
from .faults import FaultPlan
from .journal import RequestJournal
from .latency import LatencySimulator
from .protection import ServiceProtection
from .router import Router

__all__ = ["Pipeline"]


class Pipeline:
    """The middleware chain, router and request journal of ``org`` (see the module docstring).

    ``control`` answers the control plane (the facade); ``sleep`` is the injected wait of the
    latency simulation and in-process delays.
    """

    def __init__(
        self, org: OrgState, control: admin.ControlPlane, *, sleep: Callable[[float], None]
    ) -> None:
        self.org = org
        self.control = control
        self.sleep = sleep
        self.journal = RequestJournal(org.options.journal_limit)
        """The newest ``options.journal_limit`` exchanges, with exact counters for them all."""
        self.errors: list[BaseException] = []
        """Unexpected exceptions raised inside the fake (a bug); the pytest plugin re-raises."""
        self.accepted_tokens: set[str] = set()
        """Bearer tokens accepted under ``strict_auth`` (the fake login endpoint adds its own)."""
        self.replay: Handler | None = None
        """A cassette player (``d365leads.fake.adapters.replay.CassettePlayer``): when set, it
        answers every request in place of the router; journal, faults and auth still run."""
        self.hooks: list[Middleware] = []
        """Extra middleware run innermost, just before the router (simulated tenant plug-ins,
        custom transport faults); each is ``(request, call_next) -> FakeResponse``."""
        options = org.options
        self.faults = FaultPlan(list(options.faults), options=options)
        self.protection = ServiceProtection(
            lambda: self.org.options, org.clock, impersonated=lambda: org.identity.impersonated
        )
        self.latency = LatencySimulator(lambda: self.org.options, sleep=self._sleep)
        # ``$batch`` limits are read from the options here; change ``batch.max_operations`` /
        # ``.changeset_failure`` to alter them later.
        self.batch = BatchProcessor(
            self.dispatch,
            org.store,
            lock=org.store.lock,
            max_operations=options.max_batch_operations,
            changeset_failure=options.changeset_failure,
            new_id=org.store.new_id,
        )
        self.router = Router(org, self.batch)

    def __repr__(self) -> str:
        return f"Pipeline({self.org.org_url!r}, {len(self.journal)} journaled)"

    @property
    def middlewares(self) -> list[Middleware]:
        """The chain in order, outermost first (the after-commit hook and ``hooks`` wrap the
        router)."""
        return [
            self._journal,
            self.faults.before,
            self._auth,
            self._impersonation,
            self.protection,
            self.latency,
            self.faults.after_commit,
            *self.hooks,
        ]

    def __call__(self, request: FakeRequest) -> FakeResponse:
        """Handle one request through the whole middleware chain."""
        if admin.is_admin_request(request):
            refused = self._auth(request, lambda r: FakeResponse.empty(204))
            if self.org.options.strict_auth and refused.status == 401:
                return refused
            return admin.handle_admin(self.control, request)
        self.faults.options = self.org.options
        handler: Handler = self.dispatch
        for middleware in reversed(self.middlewares):
            handler = _bind(middleware, handler)
        response = handler(request)
        if self.org.options.affinity_cookie and response.fault is None:
            response.headers.setdefault("Set-Cookie", self._affinity_cookie(request))
        return response

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Route one request without middleware (``$batch`` operations come through here)."""
        if self.replay is not None:
            return self.replay(request)
        try:
            return self.router(request)
        except Exception as exc:  # a bug in the fake: answer 500 and keep it for the test
            self.errors.append(exc)
            return fault_response(
                FakeFault(
                    500,
                    CODE_UNEXPECTED,
                    f"The fake raised {type(exc).__name__}: {exc} (a bug in the d365leads fake).",
                )
            )

    def journal_entries(self) -> list[tuple[FakeRequest, FakeResponse]]:
        """A copy of the kept journal (safe while other threads handle requests)."""
        return self.journal.snapshot()

    def clear(self) -> None:
        """Forget the journal, errors, faults (re-adding ``options.faults``) and throttling."""
        self.journal.clear()
        self.errors.clear()
        self.faults.clear()
        for spec in self.org.options.faults:
            self.faults.add(spec)
        self.protection.reset()

    # --- middleware ------------------------------------------------------------------------

    def _journal(self, request: FakeRequest, call_next: Handler) -> FakeResponse:
        response = call_next(request)
        self.journal.append((request, response))
        return response

    def _auth(self, request: FakeRequest, call_next: Handler) -> FakeResponse:
        options = self.org.options
        if not options.require_auth:
            return call_next(request)
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return fault_response(unauthorized())
        if options.strict_auth and token.strip() not in self.accepted_tokens:
            return fault_response(unauthorized("The bearer token was not issued for this org."))
        return call_next(request)

    def _impersonation(self, request: FakeRequest, call_next: Handler) -> FakeResponse:
        # CallerObjectId: <Entra object id> (preferred) or MSCRMCallerID: <systemuserid>
        # (legacy), dataverse-web-api.md 4.9 and
        # https://learn.microsoft.com/power-apps/developer/data-platform/webapi/impersonate-another-user-web-api
        object_id = request.header("CallerObjectId")
        caller = request.header("MSCRMCallerID")
        if object_id is None and caller is None:
            return call_next(request)
        header = "CallerObjectId" if object_id is not None else "MSCRMCallerID"
        text = object_id if object_id is not None else caller
        assert text is not None
        try:
            key = normalize_id(text)
        except ValueError:
            return fault_response(bad_request(f"{header} '{text}' is not a GUID."))
        if object_id is not None:
            found = self.org.store.find(
                "systemuser",
                lambda row: str(row.get("azureactivedirectoryobjectid") or "").lower() == key,
            )
            if not found:
                return fault_response(
                    FakeFault(
                        404,
                        CODE_NOT_FOUND,
                        f"systemuser With azureactivedirectoryobjectid = {key} Does Not Exist",
                    )
                )
            user = found[0]
        else:
            known = self.org.store.get("systemuser", key)
            if known is None:
                return fault_response(not_found("systemuser", key))
            user = known
        user_id = str(user["systemuserid"])
        if user.get("isdisabled"):
            return fault_response(disabled_user(user_id, self.org.identity.organization_id))
        with self.org.identity.acting(user_id):
            return call_next(request)

    def _affinity_cookie(self, request: FakeRequest) -> str:
        # Dataverse pins a client to one web server with this cookie; bulk clients should drop
        # it: https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
        secure = "; Secure" if request.url.lower().startswith("https://") else ""
        server = org_guid(self.org.org_url, "web-server-1")
        return f"ARRAffinity={server}; Path=/; HttpOnly{secure}"

    def _sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def _bind(middleware: Middleware, call_next: Handler) -> Handler:
    def handler(request: FakeRequest) -> FakeResponse:
        return middleware(request, call_next)

    return handler
