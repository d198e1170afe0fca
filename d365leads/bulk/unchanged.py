"""Whether a lead already holds the values of a field job, so planning leaves it out.

:func:`columns_to_read` names the Web API columns that show a PATCH body's current values
(``jobtitle`` for ``jobtitle``, ``_parentaccountid_value`` for ``parentaccountid@odata.bind``,
``_ownerid_value`` for an assignment); :func:`holds_values` compares them with the body.  The
comparison is strict on purpose: a value it cannot match exactly counts as a change, so the
worst a doubt costs is one harmless write, never a skipped one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from d365leads.models.lead import Lead

__all__ = ["columns_to_read", "holds_values"]

_BIND = "@odata.bind"
_BOUND = re.compile(r"^/[A-Za-z_][A-Za-z0-9_]*\(([0-9a-fA-F-]{36})\)$")


def _lookup_column(nav: str) -> str | None:
    """The lead lookup column a navigation property writes (``None`` when not known)."""
    for name, spec in Lead.lookups.items():
        if spec.navigation == nav:
            return name
        if spec.polymorphic and nav.rsplit("_", 1)[0] == spec.navigation:
            return name
    return None


def columns_to_read(body: Mapping[str, Any]) -> dict[str, str]:
    """``{body key: Web API column}`` for every key whose current value can be read."""
    out: dict[str, str] = {}
    for key in body:
        if key.endswith(_BIND):
            column = _lookup_column(key[: -len(_BIND)])
            if column is not None:
                out[key] = f"_{column}_value"
        else:
            out[key] = key
    return out


def _same(wanted: Any, current: Any) -> bool:
    if wanted is None or current is None:
        return wanted is None and current is None
    if isinstance(wanted, bool) or isinstance(current, bool):
        return isinstance(wanted, bool) and isinstance(current, bool) and wanted is current
    if isinstance(wanted, (int, float)) and isinstance(current, (int, float)):
        return float(wanted) == float(current)
    if isinstance(wanted, str) and isinstance(current, str):
        return wanted == current
    return False


def _same_reference(bound: Any, current: Any) -> bool:
    if bound is None or current is None:
        return bound is None and current is None
    match = _BOUND.match(str(bound))
    return match is not None and match.group(1).lower() == str(current).lower()


def holds_values(body: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """True when ``values`` (a lead row read with :func:`columns_to_read`) already holds
    every value of ``body``; False when any differs or was not read."""
    if not body:
        return False
    columns = columns_to_read(body)
    for key, wanted in body.items():
        column = columns.get(key)
        if column is None or column not in values:
            return False
        current = values[column]
        same = _same_reference if key.endswith(_BIND) else _same
        if not same(wanted, current):
            return False
    return True
