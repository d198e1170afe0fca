"""Bounded, scrubbed copies of error response bodies, kept on :class:`HTTPError`."""

from __future__ import annotations

import re

__all__ = ["kept_body"]

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


def kept_body(body: bytes | str | None) -> tuple[bytes, bool]:
    """The body an :class:`HTTPError` keeps (bounded, credentials scrubbed), and if it was cut."""
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    truncated = len(raw) > _MAX_ERROR_BODY_BYTES
    # surrogateescape keeps bytes that are not UTF-8 as they were.
    text = raw[:_MAX_ERROR_BODY_BYTES].decode("utf-8", "surrogateescape")
    for pattern, replacement in _BODY_SECRETS:
        text = pattern.sub(replacement, text)
    return text.encode("utf-8", "surrogateescape"), truncated
