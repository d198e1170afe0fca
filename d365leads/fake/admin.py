"""The fake's control plane under ``/_fake/`` (like moto's ``/moto-api/``), for server mode.

=============================  =====================================================
``GET /_fake/health``          ``{"status": "ok", "org_url", "version", "rows"}``
``POST /_fake/reset``          forget all data, journal and faults (204)
``POST /_fake/seed``           seed body ``{table: [rows]}`` (+ ``$schema``) -> ``{table: [ids]}``
``GET /_fake/journal``         ``[{"method", "url", "status", "fault"}]`` (never headers/bodies)
``POST /_fake/faults``         body ``{"spec": "throttle:2:5"}`` (``--fault`` syntax) (204)
``DELETE /_fake/faults``       remove every scripted fault (204)
``POST /_fake/clock``          body ``{"advance": seconds}``; only with a ``ManualClock`` (200)
=============================  =====================================================

Control requests are not journaled and bypass faults and throttling.  Under ``strict_auth``
they need an accepted bearer token like any other request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .clock import ManualClock
from .errors import CODE_INVALID_ARGUMENT, FakeFault, bad_request, resource_not_found
from .faults import FaultSpecError
from .http import FakeRequest, FakeResponse
from .store import format_datetime

if TYPE_CHECKING:
    from .app import FakeDataverse

__all__ = ["ADMIN_PREFIX", "handle_admin", "is_admin_request"]

ADMIN_PREFIX = "/_fake/"


def is_admin_request(request: FakeRequest) -> bool:
    """True for a request to the control plane."""
    return urlsplit(request.url).path.startswith(ADMIN_PREFIX)


def _body(request: FakeRequest) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The control request body must be JSON.") from None


def _route(fake: FakeDataverse, request: FakeRequest) -> FakeResponse:
    name = urlsplit(request.url).path[len(ADMIN_PREFIX) :].strip("/")
    method = request.method
    if (name, method) == ("health", "GET"):
        with fake.store.lock:
            counts = {t: fake.store.count(t) for t in ("lead", "account", "contact", "opportunity")}
            version = fake.store.version
        return FakeResponse.json_body(
            200, {"status": "ok", "org_url": fake.org_url, "version": version, "rows": counts}
        )
    if (name, method) == ("reset", "POST"):
        fake.reset()
        return FakeResponse.empty(204)
    if (name, method) == ("seed", "POST"):
        from .app import SeedError

        data = _body(request)
        if not isinstance(data, dict):
            raise bad_request("Seed with an object {table: [rows]}.")
        saved = (fake.options.custom_columns, fake.options.alternate_keys)
        try:
            with fake.store.transaction():
                if "$schema" in data:
                    fake.apply_schema(data.pop("$schema"))
                ids = {str(t): fake.seed(str(t), rows) for t, rows in data.items()}
        except (SeedError, TypeError) as exc:
            fake.options.custom_columns, fake.options.alternate_keys = saved
            raise bad_request(str(exc)) from None
        return FakeResponse.json_body(200, ids)
    if (name, method) == ("journal", "GET"):
        with fake._journal_lock:
            entries = list(fake.journal)
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
    if name == "faults" and method == "POST":
        data = _body(request)
        spec = data.get("spec") if isinstance(data, dict) else None
        if not isinstance(spec, str):
            raise bad_request('Add a fault with {"spec": "<fault spec>"}, e.g. "throttle:2:5".')
        try:
            fake.faults.add(spec)
        except FaultSpecError as exc:
            raise bad_request(str(exc)) from None
        return FakeResponse.empty(204)
    if name == "faults" and method == "DELETE":
        fake.faults.clear()
        return FakeResponse.empty(204)
    if (name, method) == ("clock", "POST"):
        if not isinstance(fake.clock, ManualClock):
            raise FakeFault(
                409,
                CODE_INVALID_ARGUMENT,
                "This fake runs on the system clock; start it with a ManualClock to advance time.",
            )
        data = _body(request)
        seconds = data.get("advance") if isinstance(data, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise bad_request('Advance the clock with {"advance": <seconds, at least 0>}.')
        now = fake.clock.advance(float(seconds))
        return FakeResponse.json_body(200, {"now": format_datetime(now)})
    raise resource_not_found(f"/_fake/{name} ({method})")


def handle_admin(fake: FakeDataverse, request: FakeRequest) -> FakeResponse:
    """Answer one control-plane request (errors as Dataverse-style JSON)."""
    try:
        return _route(fake, request)
    except FakeFault as fault:
        return fault.to_response()
