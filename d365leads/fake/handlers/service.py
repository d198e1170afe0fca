"""The service root: the service document (``GET /``) and ``WhoAmI``."""

from __future__ import annotations

from ..core.fault import method_not_allowed
from ..wire.messages import FakeResponse, service_root
from .context import RequestContext

__all__ = ["handle_service_document", "handle_whoami"]


def handle_service_document(ctx: RequestContext) -> FakeResponse:
    """``GET /api/data/v9.2/``: every entity set of the org (tenant tables included)."""
    root = service_root(ctx.request)
    return FakeResponse.json_body(
        200,
        {
            "@odata.context": f"{root}$metadata",
            "value": [
                {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
                for t in ctx.org.schema.tables.values()
            ],
        },
    )


def handle_whoami(ctx: RequestContext) -> FakeResponse:
    """``GET WhoAmI``: the effective caller, its business unit and the organization."""
    if ctx.request.method != "GET":
        raise method_not_allowed(ctx.request.method, "WhoAmI")
    root = service_root(ctx.request)
    return FakeResponse.json_body(
        200,
        {
            "@odata.context": f"{root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": ctx.org.business_unit_id,
            "UserId": ctx.caller_id,
            "OrganizationId": ctx.org.organization_id,
        },
    )
