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
    │       └── RequestDeadlineError     the whole answer took longer than ``request_deadline``
    ├── ResponseError                    an answer came but is unusable (a write may have happened)
    │   ├── MalformedResponseError       not the JSON the Web API sends (HTML, cut off, 200 + error)
    │   ├── ResponseTooLargeError        the body is over ``max_response_mb``
    │   ├── UntrustedLinkError           a nextLink/deltaLink to another host or to plain http
    │   └── QualifyResponseError         QualifyLead succeeded but did not say what it created
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

import datetime
import email.utils
import json
import re
import time
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
    "MalformedResponseError",
    "NoCustomerError",
    "NotFoundError",
    "NotSupportedError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "QualifyResponseError",
    "RequestDeadlineError",
    "RequestTimeoutError",
    "ResponseError",
    "ResponseTooLargeError",
    "ServerError",
    "SyncError",
    "ThrottledError",
    "TransportError",
    "UnauthorizedError",
    "UntrustedLinkError",
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


class RequestDeadlineError(RequestTimeoutError):
    """The whole exchange (headers and body) took longer than the request deadline.

    The per-read ``timeout`` restarts with every byte, so a server that trickles its answer
    could hold a call forever; the deadline (``request_deadline`` / ``D365_REQUEST_DEADLINE``)
    bounds the total. A write may or may not have been applied.
    """

    def __init__(self, message: str, *, deadline: float | None = None) -> None:
        super().__init__(message)
        self.deadline = deadline


class ResponseError(DataverseError):
    """An answer arrived but cannot be used as it is; a write may have been applied.

    Not retried: sending the same request again would most likely get the same answer.
    """


class MalformedResponseError(ResponseError):
    """A successful answer is not the JSON the Web API sends.

    Seen behind broken proxies and captive portals: HTML instead of JSON, a declared content
    type that is not JSON, a cut-off JSON text, or a 2xx status with an OData ``error`` body
    (then ``code`` holds its Dataverse code).
    """

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class ResponseTooLargeError(ResponseError):
    """The body is larger than ``max_response_mb`` (``D365_MAX_RESPONSE_MB``); reading stopped.

    ``limit`` is the limit in bytes; ``received`` how many bytes had arrived (or were announced
    by ``Content-Length``) when the client stopped.
    """

    def __init__(self, message: str, *, limit: int = 0, received: int = 0) -> None:
        super().__init__(message)
        self.limit = limit
        self.received = received


class UntrustedLinkError(ResponseError):
    """A link in an answer (``@odata.nextLink``/``@odata.deltaLink``) leaves the org.

    It points to another host, port or scheme (plain ``http://``), or outside the Web API, so
    following it would send the bearer token elsewhere; nothing was sent to it.
    """


class QualifyResponseError(ResponseError):
    """QualifyLead answered with success but did not name the records it created.

    The lead was re-read (``lead_state`` is its state afterwards) and the action was not sent
    again: the records may exist. ``missing`` says what the answer lacked.
    """

    def __init__(
        self, message: str, *, lead_id: str = "", missing: str = "", lead_state: str | None = None
    ) -> None:
        super().__init__(message)
        self.lead_id = lead_id
        self.missing = missing
        self.lead_state = lead_state


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

    def with_note(self, note: str) -> HTTPError:
        """A copy of this error (same class and attributes) whose message ends with ``note``."""
        _, (cls, message, kwargs) = self.__reduce__()
        return _rebuild_http_error(cls, f"{message}; {note}", kwargs)

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


_DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")

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


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None when it says nothing usable.

    RFC 9110 section 10.2.3 allows delay-seconds (``"7"``) or an HTTP date (IMF-fixdate, and
    the obsolete RFC 850 and asctime forms), which is converted relative to ``now`` (POSIX
    seconds; default the system clock) and is 0 when already past. Dataverse sends seconds.
    A negative number, a non-number (``inf``, ``1e9``, text) or an unparsable date is treated
    as absent, so the caller falls back to its own backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return float(text)
    if not any(c.isalpha() for c in text):
        return None  # not a date either: a negative or malformed number
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)  # RFC 9110: HTTP dates are GMT
    reference = time.time() if now is None else now
    return max(0.0, when.timestamp() - reference)


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes | str | None,
    *,
    method: str | None = None,
    url: str | None = None,
    now: float | None = None,
) -> HTTPError:
    """Build the most specific :class:`HTTPError` for an error response.

    ``now`` (POSIX seconds) is the reference for a ``Retry-After`` given as an HTTP date.
    """
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
        retry_after=parse_retry_after(lowered.get(_wire.HEADER_RETRY_AFTER.lower()), now=now),
        body=kept,
        content_type=lowered.get("content-type"),
        body_truncated=truncated,
    )
