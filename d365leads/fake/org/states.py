"""The state model of the fake's tables: status reasons, valid pairs and the state on create.

The model comes from :mod:`~d365leads.fake.org.schema` (``Table.states``/``Table.statuses``)
plus the tenant-defined status reasons in ``FakeOptions.custom_status_reasons`` (add them with
:func:`add_status_reason`).  Sources: ``lead-lifecycle.md`` (business rules) and
``dataverse-web-api.md`` §1-§2 (wire facts).

* Invalid ``statecode``/``statuscode`` pair -> ``options.invalid_state_status`` (400) with
  ``options.invalid_state_code`` (``0x80048408``) and the message
  ``"<status> is not a valid status code for state code LeadState.Disqualified on lead with Id
  <guid>"``; a status reason that belongs to no state of the table gives
  ``"<status> is not a valid status code on lead"``.
* Create: records start in state 0 with its default status.  ``options.create_state``:
  ``reject`` (default) refuses a ``statecode`` other than 0 or a ``statuscode`` outside state 0,
  ``ignore`` drops such values, ``honour`` accepts any valid pair.
* Opportunity: ``customerid`` is required on create (``require_opportunity_customer``,
  business rule 7).

Changes of state on update are :mod:`~d365leads.fake.org.transitions`; edits of inactive
records :mod:`~d365leads.fake.org.inactive`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping
from types import MappingProxyType
from typing import Any

from ..core.fault import CODE_INVALID_ARGUMENT, FakeFault
from ..core.options import FakeOptions
from .schema import StatusOption, Table
from .tables import table as schema_table

__all__ = [
    "INITIAL_STATE",
    "STATE_COLUMNS",
    "add_status_reason",
    "check_pair",
    "default_status",
    "int_or_fault",
    "invalid_pair",
    "invalid_state",
    "no_customer",
    "resolve_table",
    "state_name",
    "status_model",
    "validate_create",
]

STATE_COLUMNS = frozenset({"statecode", "statuscode"})
INITIAL_STATE = 0


def resolve_table(table: Table | str) -> Table:
    """``table`` itself, or the catalogue table of that logical name."""
    return schema_table(table) if isinstance(table, str) else table


# --- the state model ----------------------------------------------------------------------


def status_model(table: Table | str, options: FakeOptions | None = None) -> Table:
    """``table`` with the tenant-defined status reasons of ``options`` merged in.

    The returned table's ``statuses`` and its ``statuscode`` column ``options`` (labels) include
    the custom reasons, so serializers can format them too.
    """
    meta = resolve_table(table)
    extra = tuple(
        StatusOption(value, label, state)
        for name, value, label, state in (options.custom_status_reasons if options else ())
        if name == meta.logical_name
    )
    if not extra:
        return meta
    # Called for every rendered row: build each merged table once per (table, reasons).
    key = (id(meta), extra)
    cached = _MERGED.get(key)
    if cached is not None and cached[0] is meta:
        return cached[1]
    labels = {s.value: s.label for s in (*meta.statuses, *extra)}
    columns = tuple(
        dataclasses.replace(c, options=MappingProxyType(labels)) if c.name == "statuscode" else c
        for c in meta.columns
    )
    merged = dataclasses.replace(meta, statuses=(*meta.statuses, *extra), columns=columns)
    if len(_MERGED) >= 256:
        _MERGED.clear()
    _MERGED[key] = (meta, merged)
    return merged


_MERGED: dict[tuple[int, tuple[StatusOption, ...]], tuple[Table, Table]] = {}


def add_status_reason(
    options: FakeOptions, table: Table | str, value: int, label: str, state: int
) -> None:
    """Add a tenant-defined status reason ``value``/``label`` to ``state`` of ``table``.

    Raises ``ValueError`` when the table has no state model, ``state`` does not exist, the
    value is already used, or the label is empty.  The reason is stored in
    ``options.custom_status_reasons`` (so it is per fake and survives ``options.replace``).
    """
    meta = status_model(table, options)
    if not meta.has_state:
        raise ValueError(f"table {meta.logical_name!r} has no statecode/statuscode option sets")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a status reason value must be an integer, got {value!r}")
    if meta.state(state) is None:
        known = ", ".join(f"{s.value} {s.label}" for s in meta.states)
        raise ValueError(f"{meta.logical_name} has no state {state!r}; states are {known}")
    existing = meta.status(value)
    if existing is not None:
        raise ValueError(
            f"{meta.logical_name} status reason {value} already exists "
            f"({existing.label!r}, state {existing.state})"
        )
    if not label.strip():
        raise ValueError("a status reason needs a non-empty label")
    options.custom_status_reasons = (
        *options.custom_status_reasons,
        (meta.logical_name, value, label, state),
    )


def default_status(table: Table | str, state: int, options: FakeOptions | None = None) -> int:
    """The default ``statuscode`` of ``state`` (``KeyError`` for an unknown state)."""
    option = status_model(table, options).state(state)
    if option is None:
        raise KeyError(f"{resolve_table(table).logical_name} has no state {state}")
    return option.default_status


def state_name(meta: Table, state: int) -> str:
    """The platform enum text of ``state`` (``LeadState.Disqualified``)."""
    option = meta.state(state)
    enum = meta.state_enum or f"{meta.logical_name}State"
    return f"{enum}.{option.enum_name if option else state}"


def invalid_pair(
    table: Table | str,
    status: Any,
    state: int | None,
    record_id: str | None,
    options: FakeOptions,
) -> FakeFault:
    """The Dataverse-shaped fault for ``status`` not being valid in ``state``.

    With ``state=None`` (a value that exists in no state) the short variant is used.
    """
    meta = resolve_table(table)
    if state is None:
        message = f"{status} is not a valid status code on {meta.logical_name}"
    else:
        message = (
            f"{status} is not a valid status code for state code {state_name(meta, state)} "
            f"on {meta.logical_name}"
        )
        if record_id:
            message += f" with Id {record_id}"
    return FakeFault(options.invalid_state_status, options.invalid_state_code, message)


def invalid_state(meta: Table, state: Any, options: FakeOptions) -> FakeFault:
    """The fault for a ``statecode`` the table does not have."""
    known = ", ".join(f"{s.value} ({s.label})" for s in meta.states)
    return FakeFault(
        options.invalid_state_status,
        options.invalid_state_code,
        f"{state} is not a valid state code on {meta.logical_name}; valid state codes: {known}.",
    )


def check_pair(
    table: Table | str,
    state: int,
    status: int,
    options: FakeOptions,
    record_id: str | None = None,
) -> None:
    """Raise the invalid-pair fault unless ``status`` belongs to ``state`` of ``table``."""
    meta = status_model(table, options)
    if meta.state(state) is None:
        raise invalid_state(meta, state, options)
    option = meta.status(status)
    if option is None:
        raise invalid_pair(meta, status, None, record_id, options)
    if option.state != state:
        raise invalid_pair(meta, status, state, record_id, options)


def int_or_fault(meta: Table, name: str, value: Any) -> int:
    """``value`` as a state/status integer, or the 400 Dataverse gives for it."""
    if value is None:
        raise FakeFault(400, CODE_INVALID_ARGUMENT, f"Attribute '{name}' cannot be set to NULL")
    if isinstance(value, bool) or not isinstance(value, int):
        raise FakeFault(
            400,
            CODE_INVALID_ARGUMENT,
            f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32' "
            f"for {meta.logical_name}.{name}.",
        )
    return value


# --- create -------------------------------------------------------------------------------


def validate_create(
    table: Table | str, row: MutableMapping[str, Any], options: FakeOptions
) -> None:
    """Check a new row (attribute names, lookups resolved) and fill state defaults in place.

    Sets ``statecode``/``statuscode`` to the initial state and its default status (see the
    module docstring for ``create_state``) and enforces the opportunity customer rule.
    """
    meta = status_model(table, options)
    record_id = row.get(meta.primary_key)
    rid = str(record_id) if record_id else None
    if meta.has_state:
        state_in = row.get("statecode")
        status_in = row.get("statuscode")
        if state_in is not None:
            state_in = int_or_fault(meta, "statecode", state_in)
        if status_in is not None:
            status_in = int_or_fault(meta, "statuscode", status_in)
        state, status = _create_state(meta, state_in, status_in, rid, options)
        row["statecode"] = state
        row["statuscode"] = status
    if (
        meta.logical_name == "opportunity"
        and options.require_opportunity_customer
        and not row.get("customerid")
    ):
        raise no_customer()


def _create_state(
    meta: Table,
    state_in: int | None,
    status_in: int | None,
    record_id: str | None,
    options: FakeOptions,
) -> tuple[int, int]:
    initial = INITIAL_STATE
    initial_default = default_status(meta, initial, options)
    mode = options.create_state
    if mode == "ignore":
        option = meta.status(status_in) if status_in is not None else None
        if option is not None and option.state == initial:
            return initial, option.value
        return initial, initial_default
    if mode == "honour":
        if state_in is None and status_in is None:
            return initial, initial_default
        if state_in is None:
            assert status_in is not None
            option = meta.status(status_in)
            if option is None:
                raise invalid_pair(meta, status_in, None, record_id, options)
            return option.state, option.value
        if status_in is None:
            if meta.state(state_in) is None:
                raise invalid_state(meta, state_in, options)
            return state_in, default_status(meta, state_in, options)
        check_pair(meta, state_in, status_in, options, record_id)
        return state_in, status_in
    # reject: a new record always starts in the initial state.
    if status_in is not None:
        option = meta.status(status_in)
        if option is None:
            raise invalid_pair(meta, status_in, None, record_id, options)
        if option.state != initial:
            raise invalid_pair(meta, status_in, initial, record_id, options)
    if state_in is not None and state_in != initial:
        if meta.state(state_in) is None:
            raise invalid_state(meta, state_in, options)
        shown = status_in if status_in is not None else default_status(meta, state_in, options)
        raise invalid_pair(meta, shown, initial, record_id, options)
    return initial, status_in if status_in is not None else initial_default


def no_customer() -> FakeFault:
    """The fault for an opportunity without a customer (business rule 7)."""
    return FakeFault(
        400,
        CODE_INVALID_ARGUMENT,
        "An opportunity must have a customer: bind customerid_account@odata.bind or "
        "customerid_contact@odata.bind to an existing account or contact.",
    )
