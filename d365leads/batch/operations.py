"""One operation of a ``$batch`` (:class:`BatchOperation`) and the header lookup batches share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchOperation", "header_value"]


@dataclass(frozen=True)
class BatchOperation:
    """One request inside a ``$batch``.

    ``url`` is absolute, or a ``$n`` reference (optionally followed by a path) to an entity
    created earlier in the same changeset.  ``body`` is JSON-serialisable or ``None``.
    """

    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_id: str | None = None
    changeset: int | None = None

    def __repr__(self) -> str:
        cid = f", content_id={self.content_id!r}" if self.content_id else ""
        return f"BatchOperation({self.method} {self.url}{cid})"


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, matched case-insensitively (``None`` when absent)."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None
