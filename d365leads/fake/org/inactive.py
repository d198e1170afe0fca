"""The inactive-record rule (product rule 3): a closed row is read-only except for its state.

Inactive records (lead, opportunity, account, contact with ``statecode != 0``): a change to any
other column is refused (``enforce_inactive_edit_rule``, status/code from
``inactive_edit_status``/``inactive_edit_code``); a PATCH that only changes
``statecode``/``statuscode`` (reactivate, or another closed reason) is always allowed and never
touches ``ownerid``.  The platform itself is lenient here (UNCONFIRMED 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.fault import FakeFault
from ..core.options import FakeOptions
from .schema import Table
from .states import INITIAL_STATE, STATE_COLUMNS, resolve_table, state_name

__all__ = ["INACTIVE_RULE_TABLES", "check_inactive_edit", "is_inactive"]

INACTIVE_RULE_TABLES = frozenset({"lead", "opportunity", "account", "contact"})
"""Tables whose inactive records are read-only under the product rule (lead-lifecycle.md 3)."""

# Columns the platform maintains itself; a write of the same row never counts as an "edit".
_SYSTEM_COLUMNS = frozenset({"modifiedon", "modifiedby", "versionnumber", "createdon", "createdby"})


def is_inactive(table: Table | str, row: Mapping[str, Any]) -> bool:
    """True when ``row`` is closed/inactive (``statecode`` other than 0) in a state table."""
    meta = resolve_table(table)
    state = row.get("statecode")
    return meta.has_state and state is not None and state != INITIAL_STATE


def check_inactive_edit(
    meta: Table,
    current: Mapping[str, Any],
    changes: Mapping[str, Any],
    record_id: str | None,
    options: FakeOptions,
) -> None:
    """Refuse ``changes`` to columns other than the state of an inactive ``current`` row."""
    if not options.enforce_inactive_edit_rule or meta.logical_name not in INACTIVE_RULE_TABLES:
        return
    if not is_inactive(meta, current):
        return
    edited = sorted(
        name
        for name, value in changes.items()
        if name not in STATE_COLUMNS
        and name not in _SYSTEM_COLUMNS
        and name != meta.primary_key
        and current.get(name) != value
    )
    if not edited:
        return
    state_label = state_name(meta, int(current["statecode"]))
    raise FakeFault(
        options.inactive_edit_status,
        options.inactive_edit_code,
        f"The {meta.logical_name} with Id {record_id} is inactive ({state_label}) and can't be "
        f"edited: {', '.join(edited)}. Reactivate it first (PATCH statecode 0 with an open "
        "status reason), then change it.",
    )
