"""The error catalogue on the wire: a :class:`FakeFault` as Dataverse's OData v4 error body.

Every layer raises :class:`~d365leads.fake.core.fault.FakeFault`; the router, the ``$batch``
handler and the control plane answer it with :func:`fault_response`.
"""

from __future__ import annotations

from ..core.fault import FakeFault
from .messages import FakeResponse

__all__ = ["error_body", "fault_response"]


def error_body(fault: FakeFault) -> dict[str, dict[str, str]]:
    """The JSON error body ``{"error": {"code", "message"}}`` of ``fault``."""
    return {"error": {"code": fault.code, "message": fault.message}}


def fault_response(fault: FakeFault) -> FakeResponse:
    """``fault`` as a JSON error response with its status and extra headers."""
    return FakeResponse.json_body(fault.status, error_body(fault), dict(fault.headers))
