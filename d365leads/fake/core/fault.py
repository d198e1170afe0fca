"""Dataverse-shaped faults: the exception every layer raises, its codes and its catalogue.

Raise :class:`FakeFault` anywhere below the router; the wire
(:func:`d365leads.fake.wire.errors.fault_response`) turns it into
``{"error": {"code": "0x…", "message": "…"}}`` with the fault's HTTP status.  The catalog
functions give the codes and messages the reference material documents
(``dataverse-web-api.md`` §4.4); where the platform value is unconfirmed, the caller passes the
switch from :class:`~d365leads.fake.core.options.FakeOptions`.
"""

from __future__ import annotations

__all__ = [
    "CODE_BAD_QUERY",
    "CODE_CONCURRENCY_MISMATCH",
    "CODE_DUPLICATE_DETECTED",
    "CODE_DUPLICATE_KEY",
    "CODE_INVALID_ARGUMENT",
    "CODE_NOT_FOUND",
    "CODE_UNEXPECTED",
    "CODE_USER_DISABLED",
    "FakeFault",
    "bad_request",
    "concurrency_mismatch",
    "disabled_user",
    "duplicate_key",
    "invalid_guid",
    "method_not_allowed",
    "not_found",
    "not_implemented",
    "property_not_found",
    "resource_not_found",
    "unauthorized",
]

CODE_NOT_FOUND = "0x80040217"
CODE_CONCURRENCY_MISMATCH = "0x80060882"
CODE_DUPLICATE_KEY = "0x80040237"
CODE_DUPLICATE_DETECTED = "0x80040333"
CODE_BAD_QUERY = "0x80060888"
CODE_INVALID_ARGUMENT = "0x80040203"
CODE_UNEXPECTED = "0x80040216"
CODE_USER_DISABLED = "0x80040225"


class FakeFault(Exception):
    """An error response: HTTP ``status``, Dataverse ``code``, ``message`` and extra headers.

    ``annotations`` (name without ``@`` -> value) are error details the wire adds inside
    ``error`` when the request's ``Prefer: odata.include-annotations`` names them.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.annotations = dict(annotations or {})

    def __repr__(self) -> str:
        return f"FakeFault({self.status}, {self.code!r}, {self.message!r})"


def not_found(logical_name: str, record_id: str) -> FakeFault:
    """404 ``0x80040217`` "Entity 'lead' With Id = <guid> Does Not Exist"."""
    return FakeFault(
        404, CODE_NOT_FOUND, f"Entity '{logical_name}' With Id = {record_id} Does Not Exist"
    )


def disabled_user(user_id: str, organization_id: str) -> FakeFault:
    """403 ``0x80040225`` for a request acting as a disabled systemuser (impersonation).

    The message is the one real orgs answer; the status and code are UNCONFIRMED (the
    impersonation docs do not list the error).
    """
    return FakeFault(
        403,
        CODE_USER_DISABLED,
        f"The user with SystemUserId={user_id} in OrganizationContext={organization_id} is "
        "disabled. Disabled users cannot access the system. Consider enabling this user.",
    )


def resource_not_found(segment: str) -> FakeFault:
    """404 for a path that names no entity set, function or action."""
    return FakeFault(404, CODE_BAD_QUERY, f"Resource not found for the segment '{segment}'.")


def bad_request(message: str, code: str = CODE_INVALID_ARGUMENT) -> FakeFault:
    """400 with a specific message."""
    return FakeFault(400, code, message)


def property_not_found(name: str, logical_name: str) -> FakeFault:
    """400 for an unknown column in a body, ``$select``, ``$filter`` or ``$orderby``."""
    return FakeFault(
        400,
        CODE_BAD_QUERY,
        f"Could not find a property named '{name}' on type "
        f"'Microsoft.Dynamics.CRM.{logical_name}'.",
    )


def invalid_guid(text: str) -> FakeFault:
    """400 for a key that is not a GUID."""
    return FakeFault(
        400,
        CODE_BAD_QUERY,
        f"Unrecognized 'Edm.Guid' literal '{text}'. Expected a GUID such as "
        "'00000000-0000-0000-0000-000000000000'.",
    )


def concurrency_mismatch() -> FakeFault:
    """412 ``0x80060882``: the If-Match ETag is stale."""
    return FakeFault(
        412,
        CODE_CONCURRENCY_MISMATCH,
        "The version of the existing record doesn't match the RowVersion property provided.",
    )


def duplicate_key(status: int = 412) -> FakeFault:
    """``0x80040237``: create-only upsert (If-None-Match: *) hit an existing row."""
    return FakeFault(
        status, CODE_DUPLICATE_KEY, "A record with matching key values already exists."
    )


def method_not_allowed(method: str, path: str, reason: str = "") -> FakeFault:
    """405 for a method the resource does not support (e.g. PATCH on a collection).

    ``reason`` (optional) is appended to the message after a semicolon.
    """
    because = f"; {reason}" if reason else ""
    return FakeFault(
        405,
        CODE_BAD_QUERY,
        f"The HTTP method '{method}' is not allowed for the resource '{path}'{because}.",
    )


def not_implemented(feature: str) -> FakeFault:
    """501 naming the feature the fake does not implement (never a plausible 200).

    The code is left empty on purpose: no platform code exists for "not in the fake".
    """
    return FakeFault(
        501,
        "",
        f"Not implemented in the d365leads fake: {feature}. "
        "See d365leads/fake/SUPPORTED.md for what the fake supports.",
    )


def unauthorized(
    message: str = "Authorization header is missing or not a Bearer token.",
) -> FakeFault:
    """401 as Dataverse answers a missing or refused bearer token."""
    return FakeFault(
        401,
        "0x80072560",
        message,
        {
            "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'
        },
    )
