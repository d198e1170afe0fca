"""The fake's control plane under ``/_fake/`` (like moto's ``/moto-api/``), for server mode.

=============================  =====================================================
``GET /_fake/health``          ``{"status": "ok", "org_url", "version", "rows"}``
``POST /_fake/reset``          forget all data, journal and faults (204)
``POST /_fake/seed``           a seed file's content as the body: ``{table: [rows]}`` (+
                               ``$schema``, ``$plugins``) -> ``{table: [ids]}``
``GET /_fake/journal``         ``[{"method", "url", "status", "fault"}]`` (never headers/bodies)
``GET /_fake/stats``           counters: requests, faults fired, early retries, pause left
``GET /_fake/applied``         per record: state transitions, QualifyLead, keyed creates
                               applied (``?table=lead`` for one table; counts only)
``POST /_fake/faults``         body ``{"spec": "throttle:2:5"}`` (``--fault`` syntax) (204)
``DELETE /_fake/faults``       remove every scripted fault (204)
``POST /_fake/clock``          body ``{"advance": seconds}``; only with a ``ManualClock`` (200)
=============================  =====================================================

Control requests are not journaled and bypass faults and throttling.  Under ``strict_auth``
they need an accepted bearer token like any other request.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from ..core.clock import ManualClock
from ..core.fault import CODE_INVALID_ARGUMENT, FakeFault, bad_request, resource_not_found
from ..core.values import format_datetime
from ..org.seeding import SeedError
from ..org.state import OrgState
from ..wire.errors import fault_response
from ..wire.messages import FakeRequest, FakeResponse

__all__ = ["ADMIN_PREFIX", "ControlPlane", "handle_admin", "is_admin_request"]

ADMIN_PREFIX = "/_fake/"


def is_admin_request(request: FakeRequest) -> bool:
    """True for a request to the control plane."""
    return urlsplit(request.url).path.startswith(ADMIN_PREFIX)


class ControlPlane(Protocol):
    """What the control plane drives: the org's test API and the pipeline's journal and faults
    (the facade provides it, so this handler never imports the pipeline)."""

    @property
    def org(self) -> OrgState:
        """The org whose state the control plane reads and changes."""
        ...

    def reset(self) -> None:
        """Forget all data, the journal, faults and throttling state."""
        ...

    def seed_document(self, data: Any, *, source: str) -> dict[str, list[str]]:
        """Seed a seed file's content (``SeedError`` naming ``source`` when it does not fit)."""
        ...

    def journal_entries(self) -> list[tuple[FakeRequest, FakeResponse]]:
        """A copy of the journal."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters over every request (kept or dropped from the journal)."""
        ...

    def add_fault(self, spec: str) -> None:
        """Script a fault (``ValueError`` naming what is wrong with ``spec``)."""
        ...

    def clear_faults(self) -> None:
        """Remove every scripted fault."""
        ...


def _body(request: FakeRequest) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The control request body must be JSON.") from None


def _route(control: ControlPlane, request: FakeRequest) -> FakeResponse:
    org = control.org
    name = urlsplit(request.url).path[len(ADMIN_PREFIX) :].strip("/")
    method = request.method
    if (name, method) == ("health", "GET"):
        with org.store.lock:
            counts = {t: org.store.count(t) for t in ("lead", "account", "contact", "opportunity")}
            version = org.store.version
        return FakeResponse.json_body(
            200, {"status": "ok", "org_url": org.org_url, "version": version, "rows": counts}
        )
    if (name, method) == ("reset", "POST"):
        control.reset()
        return FakeResponse.empty(204)
    if (name, method) == ("seed", "POST"):
        data = _body(request)
        if not isinstance(data, dict):
            raise bad_request("Seed with an object {table: [rows]}.")
        try:
            # The same document, checks and messages as a seed file's (--seed).
            ids = control.seed_document(data, source="POST /_fake/seed")
        except (SeedError, TypeError) as exc:
            raise bad_request(str(exc)) from None
        return FakeResponse.json_body(200, ids)
    if (name, method) == ("journal", "GET"):
        entries = control.journal_entries()
        return FakeResponse.json_body(
            200,
            [
                {
                    "method": req.method,
                    "url": req.url,
                    "status": resp.status,
                    "fault": resp.fault.kind if resp.fault else None,
                }
                for req, resp in entries
            ],
        )
    if (name, method) == ("applied", "GET"):
        table = parse_qs(urlsplit(request.url).query).get("table", [None])[0]
        return FakeResponse.json_body(200, org.store.applied.to_json(table))
    if (name, method) == ("stats", "GET"):
        return FakeResponse.json_body(200, control.stats())
    if name == "faults" and method == "POST":
        data = _body(request)
        spec = data.get("spec") if isinstance(data, dict) else None
        if not isinstance(spec, str):
            raise bad_request('Add a fault with {"spec": "<fault spec>"}, e.g. "throttle:2:5".')
        try:
            control.add_fault(spec)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        return FakeResponse.empty(204)
    if name == "faults" and method == "DELETE":
        control.clear_faults()
        return FakeResponse.empty(204)
    if (name, method) == ("clock", "POST"):
        if not isinstance(org.clock, ManualClock):
            raise FakeFault(
                409,
                CODE_INVALID_ARGUMENT,
                "This fake runs on the system clock; start it with a ManualClock to advance time.",
            )
        data = _body(request)
        seconds = data.get("advance") if isinstance(data, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise bad_request('Advance the clock with {"advance": <seconds, at least 0>}.')
        now = org.clock.advance(float(seconds))
        return FakeResponse.json_body(200, {"now": format_datetime(now)})
    raise resource_not_found(f"/_fake/{name} ({method})")


def handle_admin(control: ControlPlane, request: FakeRequest) -> FakeResponse:
    """Answer one control-plane request (errors as Dataverse-style JSON)."""
    try:
        return _route(control, request)
    except FakeFault as fault:
        return fault_response(fault)
