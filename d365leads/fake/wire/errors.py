"""The error catalogue on the wire: a :class:`FakeFault` as Dataverse's OData v4 error body.

Every layer raises :class:`~d365leads.fake.core.fault.FakeFault`; the router, the ``$batch``
handler and the control plane answer it with :func:`fault_response`.
"""

from __future__ import annotations

from ..core.fault import FakeFault
from .messages import FakeRequest, FakeResponse
from .serialize import AnnotationFilter, annotation_filter

__all__ = ["error_body", "fault_response"]


def error_body(
    fault: FakeFault, wanted: AnnotationFilter | None = None
) -> dict[str, dict[str, str]]:
    """The JSON error body ``{"error": {"code", "message"}}`` of ``fault``, with the fault's
    annotations that ``wanted`` (an ``odata.include-annotations`` filter) names."""
    error = {"code": fault.code, "message": fault.message}
    if wanted is not None:
        error.update({f"@{k}": v for k, v in fault.annotations.items() if wanted(k)})
    return {"error": error}


def fault_response(fault: FakeFault, request: FakeRequest | None = None) -> FakeResponse:
    """``fault`` as a JSON error response with its status and extra headers; error-detail
    annotations only as the ``request``'s ``Prefer: odata.include-annotations`` asks."""
    wanted = None
    if request is not None and fault.annotations:
        wanted = annotation_filter(request.prefer().get("odata.include-annotations"))
    return FakeResponse.json_body(fault.status, error_body(fault, wanted), dict(fault.headers))
