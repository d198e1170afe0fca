"""Keep secrets out of logs, exception messages and reprs.

:class:`Secret` wraps a secret string so that ``repr``/``str`` never show it;
:func:`redact_headers` and :func:`redact_text` scrub what is about to be logged;
:class:`RedactingFilter` is a :mod:`logging` filter that applies :func:`redact_text` to every
record of the loggers it is attached to (``d365leads.http`` has one by default).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "SENSITIVE_HEADERS",
    "SENSITIVE_KEYS",
    "RedactingFilter",
    "Secret",
    "redact_headers",
    "redact_text",
    "redact_url",
]

REDACTED = "***"

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-ms-client-secret",
    }
)

SENSITIVE_KEYS = frozenset(
    {
        "access_token",
        "client_assertion",
        "client_secret",
        "code",
        "device_code",
        "id_token",
        "password",
        "refresh_token",
        "sig",
        "token",
    }
)

_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/=]+")
# In free text "code" and "sig" are too common (Dataverse error codes), so only these keys count.
_TEXT_KEYS = SENSITIVE_KEYS - {"code", "sig"}
_KEY_VALUE = re.compile(
    r"(?i)(?<![A-Za-z0-9_$])([\"']?(?:"
    + "|".join(sorted(_TEXT_KEYS, key=len, reverse=True))
    + r")[\"']?\s*[:=]\s*[\"']?)([^\"'&\s,}]+)"
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.DOTALL
)
# Three base64url segments starting with a JSON header: a JWT, whatever label precedes it.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class Secret:
    """A secret string that never shows itself in ``repr``/``str``/logs.

    Call :meth:`reveal` at the single place the value is really needed.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values cannot be pickled")


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of ``headers`` with credential-bearing values replaced by ``***``."""
    return {
        name: (REDACTED if name.lower() in SENSITIVE_HEADERS else value)
        for name, value in headers.items()
    }


def redact_url(url: str) -> str:
    """Replace the values of secret-looking query parameters (``code``, ``sig``, ...)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name.lower() in SENSITIVE_KEYS for name, _ in pairs):
        return url
    cleaned = [(n, REDACTED if n.lower() in SENSITIVE_KEYS else v) for n, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(cleaned, safe="$*'(),/:@")))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Scrub bearer tokens, JWTs, private keys, ``key=value`` secrets and known ``secrets``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _PRIVATE_KEY.sub(f"-----{REDACTED} PRIVATE KEY-----", text)
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    return _KEY_VALUE.sub(rf"\1{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record.

    Known secret values can be registered with :meth:`add_secret` (the client registers the
    client secret and every access token it obtains).
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        # Replaced, never mutated: filter() may iterate it while another thread adds a token.
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add_secret(self, value: str) -> None:
        """Remember ``value`` so that it is replaced wherever it appears."""
        if value and value not in self._secrets:  # the common case (same token again): no lock
            with self._lock:
                self._secrets = self._secrets | {value}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message, self._secrets)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True

    def __repr__(self) -> str:
        return f"RedactingFilter(secrets={len(self._secrets)})"
