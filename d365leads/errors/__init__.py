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

from d365leads.errors.from_response import error_from_response, parse_retry_after
from d365leads.errors.tree import (
    AuthError,
    BadRequestError,
    BatchError,
    BulkJobError,
    ConfigError,
    ConnectError,
    DataverseError,
    DuplicateRecordError,
    HTTPError,
    InactiveRecordError,
    InvalidIdError,
    InvalidInputError,
    InvalidStateTransitionError,
    InvalidStatusError,
    LeadClosedError,
    MalformedBatchResponseError,
    MalformedResponseError,
    NoCustomerError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    PreconditionFailedError,
    QualifyResponseError,
    RequestDeadlineError,
    RequestTimeoutError,
    ResponseError,
    ResponseTooLargeError,
    ServerError,
    SyncError,
    ThrottledError,
    TransportError,
    UnauthorizedError,
    UntrustedLinkError,
)

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
