"""The HTTP layer: the only code that sends requests to Dataverse."""

from __future__ import annotations

from d365leads.http.impersonation import Caller
from d365leads.http.json_body import json_object, json_value
from d365leads.http.pipeline import ApiSession, Page, encode_params
from d365leads.http.retry import RetryPolicy, is_idempotent
from d365leads.http.throttle import ThrottleSnapshot, ThrottleState
from d365leads.http.transport import Request, RequestsTransport, Response, Transport

__all__ = [
    "ApiSession",
    "Caller",
    "Page",
    "Request",
    "RequestsTransport",
    "Response",
    "RetryPolicy",
    "ThrottleSnapshot",
    "ThrottleState",
    "Transport",
    "encode_params",
    "is_idempotent",
    "json_object",
    "json_value",
]
