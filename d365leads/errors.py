"""Every error d365leads raises, in one tree.

::

    DataverseError
    ├── ConfigError                      a setting is missing or malformed (names the variable)
    ├── AuthError                        a token could not be obtained or was refused
    ├── InvalidInputError                refused before any request was sent
    │   ├── InvalidIdError               not a GUID
    │   ├── LeadClosedError              qualify on a qualified/disqualified lead
    │   ├── NoCustomerError              qualify would leave the opportunity with no customer
    │   ├── InactiveRecordError          edit of an inactive record without ``force=True``
    │   └── InvalidStatusError           unknown status reason for the target state
    ├── TransportError                   the request may not have reached Dataverse
    │   ├── ConnectError                 no connection was made: nothing was sent
    │   └── RequestTimeoutError          no answer in time (the write may have happened)
    ├── HTTPError                        Dataverse answered with an error status
    │   ├── BadRequestError              400
    │   │   └── InvalidStateTransitionError  0x80048408 invalid statecode/statuscode pair
    │   ├── UnauthorizedError            401 (also an AuthError)
    │   ├── PermissionDeniedError        403
    │   ├── NotFoundError                404 / 0x80040217
    │   ├── PreconditionFailedError      412 / 0x80060882 stale ETag
    │   ├── DuplicateRecordError         0x80040237 / 0x80040333
    │   ├── ThrottledError               429 with ``retry_after`` (service protection)
    │   ├── NotSupportedError            501
    │   └── ServerError                  5xx
    ├── BatchError                       a ``$batch`` failed; holds the per-operation results
    │   └── MalformedBatchResponseError  the answer was cut short or has the wrong number of parts
    ├── BulkJobError                     a bulk job cannot start or resume
    └── SyncError                        a sync cannot run (for example an expired delta token)

HTTP errors are built from the OData v4 error body ``{"error": {"code", "message"}}``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors#parse-errors-from-the-response).
They keep the response body too (``HTTPError.body``: at most 1 MiB, with
bearer tokens, JWTs and private keys scrubbed), so that the answer of a ``$batch`` that stopped
at a failing operation can still be decoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from d365leads import _wire

__all__ = [
    "AuthError",
    "BadRequestError",
    "BatchError",
    "BulkJobError",
    "ConfigError",
    "ConnectError",
    "DataverseError",
    "DuplicateRecordError",
    "HTTPError",
    "InactiveRecordError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidStateTransitionError",
    "InvalidStatusError",
    "LeadClosedError",
    "MalformedBatchResponseError",
    "NoCustomerError",
    "NotFoundError",
    "NotSupportedError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RequestTimeoutError",
    "ServerError",
    "SyncError",
    "ThrottledError",
    "TransportError",
    "UnauthorizedError",
    "error_from_response",
    "parse_retry_after",
]


class DataverseError(Exception):
    """Base class of every error raised by d365leads."""


class ConfigError(DataverseError):
    """A setting is missing or malformed; the message names it and what to set."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class AuthError(DataverseError):
    """A token could not be obtained, or Dataverse refused it."""


class InvalidInputError(DataverseError, ValueError):
    """Input was refused before any request was sent."""


class InvalidIdError(InvalidInputError):
    """A record id is not a GUID."""


class LeadClosedError(InvalidInputError):
    """The lead is qualified or disqualified; reactivate it first."""


class NoCustomerError(InvalidInputError):
    """Qualifying would create an opportunity with no customer."""


class InactiveRecordError(InvalidInputError):
    """The record is inactive; edits are refused unless ``force=True``.

    The message may name the override as ``{override}``; it reads ``force=True`` here, and a
    front end words it its own way with :meth:`message_for` (the CLI says ``--force``).
    """

    def __init__(self, message: str) -> None:
        self.template = message
        super().__init__(self.message_for("force=True"))

    @property
    def names_override(self) -> bool:
        """True when the message itself tells how to override the refusal."""
        return "{override}" in self.template

    def message_for(self, override: str) -> str:
        """The message with the override spelled ``override``."""
        return self.template.replace("{override}", override)


class InvalidStatusError(InvalidInputError):
    """A status reason does not belong to the target state (or is unknown)."""


class TransportError(DataverseError):
    """The request failed below HTTP: connection refused, reset, or TLS failure."""


class ConnectError(TransportError):
    """No connection could be made (refused, DNS, connect timeout): nothing was sent."""


class RequestTimeoutError(TransportError):
    """No response arrived in time; a write may or may not have been applied."""


# The most of an error response's body an HTTPError keeps (body_truncated says when more was
# cut off): enough for the answer of a stopped $batch, bounded against a hostile server.
_MAX_ERROR_BODY_BYTES = 1024 * 1024

# Credentials as they could appear in a response body (echoed by a proxy or an error page).
# errors.py sits below d365leads.redaction in the layers, so it carries its own short list.
_BODY_SECRETS = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/=]+"), r"\1 ***"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "***"),
    (
        re.compile(
            r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.DOTALL
        ),
        "-----*** PRIVATE KEY-----",
    ),
)


def _kept_body(body: bytes | str | None) -> tuple[bytes, bool]:
    """The body an :class:`HTTPError` keeps (bounded, credentials scrubbed), and if it was cut."""
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    truncated = len(raw) > _MAX_ERROR_BODY_BYTES
    # surrogateescape keeps bytes that are not UTF-8 as they were.
    text = raw[:_MAX_ERROR_BODY_BYTES].decode("utf-8", "surrogateescape")
    for pattern, replacement in _BODY_SECRETS:
        text = pattern.sub(replacement, text)
    return text.encode("utf-8", "surrogateescape"), truncated


class HTTPError(DataverseError):
    """Dataverse answered with an error status.

    Attributes: ``status`` (HTTP status), ``code`` (Dataverse hex code, may be empty),
    ``message`` (Dataverse's text), ``request_id``, ``method`` and ``url`` of the request;
    ``body`` and ``content_type`` of the response (the body bounded by
    1 MiB, ``body_truncated`` when it was longer, credentials scrubbed;
    never part of ``str()`` or ``repr()``).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str = "",
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        retry_after: float | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        body_truncated: bool = False,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.method = method
        self.url = url
        self.retry_after = retry_after
        self.body = body
        self.content_type = content_type
        self.body_truncated = body_truncated
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        code = f" [{self.code}]" if self.code else ""
        return f"HTTP {self.status}{code}: {self.message}{where}"

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {
            "status": self.status,
            "code": self.code,
            "request_id": self.request_id,
            "method": self.method,
            "url": self.url,
            "retry_after": self.retry_after,
            "body": self.body,
            "content_type": self.content_type,
            "body_truncated": self.body_truncated,
        }
        return (_rebuild_http_error, (type(self), self.message, kwargs))


def _rebuild_http_error(cls: type[HTTPError], message: str, kwargs: dict[str, Any]) -> HTTPError:
    return cls(message, **kwargs)


class BadRequestError(HTTPError):
    """HTTP 400: the request or a value in it is invalid."""


class InvalidStateTransitionError(BadRequestError):
    """The statecode/statuscode pair is invalid (``0x80048408``)."""


class UnauthorizedError(HTTPError, AuthError):
    """HTTP 401: the token was missing, expired or for another audience."""


class PermissionDeniedError(HTTPError):
    """HTTP 403: the caller lacks a privilege."""


class NotFoundError(HTTPError):
    """HTTP 404 / ``0x80040217``: the record or resource does not exist."""


class PreconditionFailedError(HTTPError):
    """HTTP 412 / ``0x80060882``: the record changed since its ETag was read."""


class DuplicateRecordError(HTTPError):
    """A record with the same key exists (``0x80040237``) or duplicate detection fired."""


class ThrottledError(HTTPError):
    """HTTP 429: a service-protection limit was hit; ``retry_after`` says how long to wait."""


class NotSupportedError(HTTPError):
    """HTTP 501: the server does not implement this request."""


class ServerError(HTTPError):
    """HTTP 5xx: the server failed."""


class BatchError(DataverseError):
    """A ``$batch`` request failed as a whole, or a changeset was rolled back.

    ``results`` holds the per-operation results that were returned.
    """

    def __init__(self, message: str, results: list[Any] | None = None) -> None:
        super().__init__(message)
        self.results = list(results or [])


class MalformedBatchResponseError(BatchError):
    """The answer to a ``$batch`` cannot be matched to what was sent as a whole.

    It was cut short (no closing delimiter), or it has more or fewer parts than operations were
    sent. ``results`` holds one result per operation when the parts that did arrive could be
    matched (those without an answer are marked not executed: their outcome is unknown, re-read
    the records before sending them again), and is empty otherwise; ``unanswered`` lists the
    indexes of the operations without an answer.
    """

    def __init__(
        self, message: str, results: list[Any] | None = None, *, unanswered: Sequence[int] = ()
    ) -> None:
        super().__init__(message, results)
        self.unanswered = list(unanswered)


class BulkJobError(DataverseError):
    """A bulk job cannot start or resume (bad selection, unknown job id, corrupt journal)."""


class SyncError(DataverseError):
    """A sync cannot run (bad target URL, corrupt state, unsupported table)."""


_BY_CODE: dict[str, type[HTTPError]] = {
    _wire.CODE_NOT_FOUND: NotFoundError,
    _wire.CODE_CONCURRENCY_MISMATCH: PreconditionFailedError,
    _wire.CODE_DUPLICATE_KEY: DuplicateRecordError,
    _wire.CODE_DUPLICATE_DETECTED: DuplicateRecordError,
    _wire.CODE_INVALID_STATE_STATUS: InvalidStateTransitionError,
    **dict.fromkeys(_wire.THROTTLE_CODES, ThrottledError),
}

_BY_STATUS: dict[int, type[HTTPError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    412: PreconditionFailedError,
    429: ThrottledError,
    501: NotSupportedError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header given in seconds (Dataverse never sends a date)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes | str | None,
    *,
    method: str | None = None,
    url: str | None = None,
) -> HTTPError:
    """Build the most specific :class:`HTTPError` for an error response."""
    code = ""
    message = ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        code = str(parsed["error"].get("code") or "")
        message = str(parsed["error"].get("message") or "")
    kept, truncated = _kept_body(body)
    if not message:
        # Not an OData error: quote the start of the body, credentials scrubbed.
        shown = kept[:2000].decode("utf-8", "replace").strip()[:500]
        message = shown or f"HTTP {status} with no error body"
    lowered = _lower_keys(headers)
    cls = _BY_CODE.get(code.lower())
    if cls is None:
        cls = _BY_STATUS.get(status, ServerError if status >= 500 else HTTPError)
    if cls is PreconditionFailedError and "already exists" in message.lower():
        cls = DuplicateRecordError
    return cls(
        message,
        status=status,
        code=code,
        request_id=lowered.get(_wire.HEADER_REQUEST_ID.lower()) or lowered.get("req_id"),
        method=method,
        url=url,
        retry_after=parse_retry_after(lowered.get(_wire.HEADER_RETRY_AFTER.lower())),
        body=kept,
        content_type=lowered.get("content-type"),
        body_truncated=truncated,
    )
