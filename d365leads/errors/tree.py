"""The exception classes of :mod:`d365leads.errors`; the tree is drawn in its docstring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
