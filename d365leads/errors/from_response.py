"""Build the right :mod:`d365leads.errors` exception from an error response."""

from __future__ import annotations

import datetime
import email.utils
import json
import re
import time
from collections.abc import Mapping

from d365leads import _wire
from d365leads.errors.body import kept_body
from d365leads.errors.tree import (
    BadRequestError,
    DuplicateRecordError,
    HTTPError,
    InvalidStateTransitionError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    PreconditionFailedError,
    ServerError,
    ThrottledError,
    UnauthorizedError,
)

__all__ = ["error_from_response", "parse_retry_after"]

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
    kept, truncated = kept_body(body)
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
