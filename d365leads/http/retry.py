"""When to resend a request and how long to wait first.

Resent: 429, 502, 503, 504 and failures below HTTP, within ``max_retries`` and
``max_retry_time``. ``Retry-After`` is honoured exactly
(https://learn.microsoft.com/power-apps/developer/data-platform/api-limits#retry-operations);
otherwise the wait is exponential backoff with full jitter from an injectable RNG.

A write is resent only when the answer proves it was not processed (429, 503, or no
connection at all) or when it is idempotent (GET, HEAD, OPTIONS, PUT, DELETE, or PATCH with
``If-Match``): a timed-out POST is never sent twice blindly.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from d365leads.errors import ConnectError, TransportError

__all__ = ["IDEMPOTENT_METHODS", "RETRY_STATUSES", "RetryPolicy", "is_idempotent"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Answers that prove the server did not process the request.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})


def is_idempotent(method: str, headers: Mapping[str, str] | None = None) -> bool:
    """True when sending the request twice has the same effect as sending it once."""
    method = method.upper()
    if method in IDEMPOTENT_METHODS:
        return True
    if method == "PATCH" and headers:
        return any(name.lower() == "if-match" for name in headers)
    return False


@dataclass
class RetryPolicy:
    """Retry limits and backoff; decisions only (the session owns sleep and clock).

    ``max_retries`` counts resends after the first attempt; ``max_retry_time`` bounds the
    seconds spent waiting and resending. ``rng`` makes the jitter reproducible in tests.
    """

    max_retries: int = 5
    max_retry_time: float = 300.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def can_retry_status(self, status: int, *, idempotent: bool) -> bool:
        """True when a response with ``status`` may be resent."""
        if status not in RETRY_STATUSES:
            return False
        return idempotent or status in _NOT_PROCESSED_STATUSES

    def can_retry_error(self, error: TransportError, *, idempotent: bool) -> bool:
        """True when a request that failed below HTTP may be resent."""
        # Only a failed connect proves nothing was sent; a timeout or reset may have been applied.
        return idempotent or isinstance(error, ConnectError)

    def backoff(self, retry_number: int) -> float:
        """Full-jitter exponential backoff before resend number ``retry_number`` (1-based)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** max(0, retry_number - 1)))
        return self.rng.uniform(0, ceiling)

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        """Seconds to wait before resend ``retry_number``: ``Retry-After`` if given."""
        if retry_after is not None:
            return retry_after
        return self.backoff(retry_number)

    def allows(self, retry_number: int, *, elapsed: float, delay: float) -> bool:
        """True when resend ``retry_number`` after waiting ``delay`` stays within the limits."""
        return retry_number <= self.max_retries and elapsed + delay <= self.max_retry_time

    @classmethod
    def no_retries(cls) -> RetryPolicy:
        """A policy that never resends."""
        return cls(max_retries=0, max_retry_time=0.0)
