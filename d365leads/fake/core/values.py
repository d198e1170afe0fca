"""Value conventions shared by every layer: the row type, GUID and date-time text, list syntax.

Rows are plain dicts keyed by attribute logical names with JSON-compatible values (see
:mod:`~d365leads.fake.org.store`); GUIDs are lower-case text, date-times ISO-8601 UTC text.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

__all__ = ["Row", "format_datetime", "normalize_id", "split_top_level"]

Row = dict[str, Any]


def format_datetime(when: datetime) -> str:
    """ISO-8601 UTC text as Dataverse writes it (``2026-01-05T09:00:00Z``)."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_id(value: str | uuid.UUID) -> str:
    """Canonical lower-case GUID text; ``ValueError`` when ``value`` is not a GUID."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip("{}")))


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses and single-quoted strings (OData lists and keys)."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == sep and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
