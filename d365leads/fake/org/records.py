"""The write path of rows through the business rules: create, update, keys and duplicates.

:func:`create_record` and :func:`update_record` are the row-level entry points of every write
made through the API (the crud handlers, QualifyLead, Win/LoseOpportunity), so all writes obey
the same rules (:mod:`~d365leads.fake.org.states`, :mod:`~d365leads.fake.org.transitions`).
"""

from __future__ import annotations

from ..core.fault import CODE_DUPLICATE_DETECTED, FakeFault, duplicate_key, not_found
from ..core.values import Row
from . import states, transitions
from .email_table import check_party_role
from .plugins import write_with_steps
from .schema import Table
from .state import OrgState
from .team_table import check_owner_team
from .values import resolve_key

__all__ = [
    "DUPLICATE_RULES",
    "check_alternate_keys",
    "create_record",
    "detect_duplicates",
    "fill_computed",
    "fill_currency",
    "update_record",
]

_NAME_PARTS = frozenset({"lead", "contact", "systemuser"})


def fill_computed(meta: Table, row: Row, current: Row | None = None) -> None:
    """Recompute ``fullname`` from first/last name (lead, contact, systemuser)."""
    if meta.logical_name in _NAME_PARTS and meta.column("fullname") is not None:
        merged = dict(current or {})
        merged.update(row)
        if current is None or "firstname" in row or "lastname" in row:
            parts = [merged.get("firstname"), merged.get("lastname")]
            row["fullname"] = " ".join(p for p in parts if p) or None


def check_alternate_keys(org: OrgState, meta: Table, row: Row, own_id: str | None) -> None:
    """Refuse ``row`` when another row (not ``own_id``) has the same alternate-key values."""
    for key in meta.alternate_keys:
        values = {name: row.get(name) for name in key}
        if any(v is None for v in values.values()):
            continue
        found = resolve_key(org, meta, values)
        if found is not None and found != own_id:
            raise duplicate_key(org.options.duplicate_key_status)


DUPLICATE_RULES: dict[str, tuple[str, ...]] = {
    "account": ("name",),
    "contact": ("emailaddress1",),
    "lead": ("emailaddress1",),
}
"""The out-of-box duplicate detection rules the fake applies (same value, case-insensitive):
accounts with the same name, contacts and leads with the same email address."""


def detect_duplicates(org: OrgState, meta: Table, row: Row, own_id: str | None) -> None:
    """Raise ``0x80040333`` when ``row`` matches another row by :data:`DUPLICATE_RULES`.

    Dataverse runs duplicate detection on create/update only when asked
    (``MSCRM.SuppressDuplicateDetection: false``; QualifyLead's ``SuppressDuplicateDetection``).
    """
    for column in DUPLICATE_RULES.get(meta.logical_name, ()):
        value = row.get(column)
        if not isinstance(value, str) or not value.strip():
            continue
        wanted = value.strip().casefold()
        for other in org.store.rows(meta.logical_name):
            other_value = other.get(column)
            if (
                other[meta.primary_key] != own_id
                and isinstance(other_value, str)
                and other_value.strip().casefold() == wanted
            ):
                raise FakeFault(
                    org.options.duplicate_detection_status,
                    CODE_DUPLICATE_DETECTED,
                    "A record was not created or updated because a duplicate of the current "
                    "record already exists.",
                )


def create_record(org: OrgState, meta: Table, attrs: Row, *, duplicate_check: bool = False) -> Row:
    """Create a row through the business rules (actions use this too); returns the stored row.

    ``duplicate_check`` runs :func:`detect_duplicates` first (the request asked for it).
    """
    with org.store.lock:
        row = dict(attrs)
        pk = row.get(meta.primary_key)
        if pk is not None and org.store.exists(meta.logical_name, str(pk)):
            raise duplicate_key(org.options.duplicate_key_status)
        states.validate_create(meta, row, org.options)
        check_party_role(meta, row, org.options)
        if meta.has_state:
            state = row.setdefault("statecode", 0)
            if row.get("statuscode") is None:
                option = meta.state(int(state))
                if option is not None:
                    row["statuscode"] = option.default_status
        fill_computed(meta, row)
        fill_currency(org, meta, row)
        check_alternate_keys(org, meta, row, None)
        if row.get("owneridtype") == "team":
            check_owner_team(org.store.get("team", str(row.get("ownerid"))))
        if duplicate_check:
            detect_duplicates(org, meta, row, None)
        actor = org.caller_id if meta.ownership == "user" else None

        def insert() -> Row:
            stored = org.store.insert(meta.logical_name, row, actor=actor)
            for key in meta.alternate_keys:
                if all(stored.get(name) is not None for name in key):
                    org.store.applied.created_with_key(
                        meta.logical_name, {name: stored[name] for name in key}
                    )
            return stored

        return write_with_steps(org, "Create", meta, row, insert)


def fill_currency(org: OrgState, meta: Table, row: Row) -> bool:
    """Give a row holding a money value the base currency when it has none (True if set).

    A money value never comes without its currency (select-columns doc:
    ``_transactioncurrencyid_value`` comes back with every money column).
    """
    if (
        meta.column("transactioncurrencyid") is not None
        and row.get("transactioncurrencyid") is None
        and any(c.type == "money" and row.get(c.name) is not None for c in meta.columns)
    ):
        row["transactioncurrencyid"] = org.base_currency_id
        return True
    return False


def update_record(
    org: OrgState,
    meta: Table,
    record_id: str,
    changes: Row,
    *,
    duplicate_check: bool = False,
) -> Row:
    """Update a row through the business rules (404 when missing); returns the stored row."""
    with org.store.lock:
        current = org.store.get(meta.logical_name, record_id)
        if current is None:
            raise not_found(meta.logical_name, record_id)
        data = dict(changes)
        data.pop(meta.primary_key, None)
        transitions.validate_update(meta, current, data, org.options, store=org.store)
        fill_computed(meta, data, current)
        merged = dict(current)
        merged.update(data)
        if fill_currency(org, meta, merged):
            data["transactioncurrencyid"] = merged["transactioncurrencyid"]
        check_alternate_keys(org, meta, merged, str(current[meta.primary_key]))
        if data.get("owneridtype") == "team":
            check_owner_team(org.store.get("team", str(data.get("ownerid"))))
        if duplicate_check and any(c in data for c in DUPLICATE_RULES.get(meta.logical_name, ())):
            detect_duplicates(org, meta, merged, str(current[meta.primary_key]))
        actor = org.caller_id if meta.ownership == "user" else None
        before = {k: current.get(k) for k in ("statecode", "statuscode")}

        def update() -> Row:
            stored = org.store.update(meta.logical_name, record_id, data, actor=actor)
            if meta.has_state and ("statecode" in data or "statuscode" in data):
                own_id = str(current[meta.primary_key])
                org.store.applied.state_written(meta.logical_name, own_id, before, stored)
            return stored

        return write_with_steps(org, "Update", meta, merged, update, changed=data)
