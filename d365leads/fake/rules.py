"""State/status rules of the fake: valid pairs, create/update validation, inactive records.

The state model comes from :mod:`~d365leads.fake.schema` (``Table.states``/``Table.statuses``)
plus the tenant-defined status reasons in ``FakeOptions.custom_status_reasons`` (add them with
:func:`add_status_reason`).  Sources: ``lead-lifecycle.md`` (business rules) and
``dataverse-web-api.md`` §1-§2 (wire facts).

Rules (each UNCONFIRMED platform behaviour has a :class:`FakeOptions` switch):

* Invalid ``statecode``/``statuscode`` pair -> ``options.invalid_state_status`` (400) with
  ``options.invalid_state_code`` (``0x80048408``) and the message
  ``"<status> is not a valid status code for state code LeadState.Disqualified on lead with Id
  <guid>"``; a status reason that belongs to no state of the table gives
  ``"<status> is not a valid status code on lead"``.
* Create: records start in state 0 with its default status.  ``options.create_state``:
  ``reject`` (default) refuses a ``statecode`` other than 0 or a ``statuscode`` outside state 0,
  ``ignore`` drops such values, ``honour`` accepts any valid pair.
* Update: ``statecode`` + ``statuscode`` together must be a valid pair; ``statuscode`` alone
  must belong to the current state; ``statecode`` alone gets that state's default status
  (``statecode_only_sets_default_status``; off = the current status must fit the new state);
  ``statecode`` alone equal to the current state keeps the current status.
* Inactive records (lead, opportunity, account, contact with ``statecode != 0``): a change to
  any other column is refused (product rule 3, ``enforce_inactive_edit_rule``, status/code from
  ``inactive_edit_status``/``inactive_edit_code``); a PATCH that only changes
  ``statecode``/``statuscode`` (reactivate, or another closed reason) is always allowed and never
  touches ``ownerid``.
* Opportunity: a PATCH to Won/Lost is refused (``opportunity_close_requires_action``; use
  ``WinOpportunity``/``LoseOpportunity``); ``customerid`` is required on create and cannot be
  cleared (``require_opportunity_customer``, business rule 7).
* Lead: disqualifying a lead that has an originating opportunity is refused when
  ``disqualify_requires_no_open_opportunity`` is on and the caller passes ``store``.

Public API: :func:`validate_create`, :func:`validate_update`, :func:`check_pair`,
:func:`default_status`, :func:`is_inactive`, :func:`status_model`, :func:`add_status_reason`,
and the metadata endpoint :func:`handle_metadata` (``GET EntityDefinitions(LogicalName='lead')/
Attributes(LogicalName='statuscode')/Microsoft.Dynamics.CRM.StatusAttributeMetadata?$expand=
OptionSet``, also ``StateAttributeMetadata`` and the collection form without the attribute key).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .errors import (
    CODE_BAD_QUERY,
    CODE_INVALID_ARGUMENT,
    FakeFault,
    method_not_allowed,
    not_implemented,
)
from .http import FakeRequest, FakeResponse, service_root
from .options import FakeOptions
from .schema import Column, StatusOption, Table
from .schema import table as schema_table

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "INACTIVE_RULE_TABLES",
    "STATE_COLUMNS",
    "add_status_reason",
    "check_pair",
    "default_status",
    "handle_metadata",
    "invalid_pair",
    "is_inactive",
    "is_metadata_path",
    "status_model",
    "validate_create",
    "validate_update",
]

STATE_COLUMNS = frozenset({"statecode", "statuscode"})
INACTIVE_RULE_TABLES = frozenset({"lead", "opportunity", "account", "contact"})
"""Tables whose inactive records are read-only under the product rule (lead-lifecycle.md 3)."""

# Columns the platform maintains itself; a write of the same row never counts as an "edit".
_SYSTEM_COLUMNS = frozenset({"modifiedon", "modifiedby", "versionnumber", "createdon", "createdby"})
_INITIAL_STATE = 0


def _resolve(table: Table | str) -> Table:
    return schema_table(table) if isinstance(table, str) else table


# --- the state model ----------------------------------------------------------------------


def status_model(table: Table | str, options: FakeOptions | None = None) -> Table:
    """``table`` with the tenant-defined status reasons of ``options`` merged in.

    The returned table's ``statuses`` and its ``statuscode`` column ``options`` (labels) include
    the custom reasons, so serializers can format them too.
    """
    meta = _resolve(table)
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
        raise KeyError(f"{_resolve(table).logical_name} has no state {state}")
    return option.default_status


def is_inactive(table: Table | str, row: Mapping[str, Any]) -> bool:
    """True when ``row`` is closed/inactive (``statecode`` other than 0) in a state table."""
    meta = _resolve(table)
    state = row.get("statecode")
    return meta.has_state and state is not None and state != _INITIAL_STATE


def _state_name(meta: Table, state: int) -> str:
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
    meta = _resolve(table)
    if state is None:
        message = f"{status} is not a valid status code on {meta.logical_name}"
    else:
        message = (
            f"{status} is not a valid status code for state code {_state_name(meta, state)} "
            f"on {meta.logical_name}"
        )
        if record_id:
            message += f" with Id {record_id}"
    return FakeFault(options.invalid_state_status, options.invalid_state_code, message)


def _invalid_state(meta: Table, state: Any, options: FakeOptions) -> FakeFault:
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
        raise _invalid_state(meta, state, options)
    option = meta.status(status)
    if option is None:
        raise invalid_pair(meta, status, None, record_id, options)
    if option.state != state:
        raise invalid_pair(meta, status, state, record_id, options)


def _int_or_fault(meta: Table, name: str, value: Any) -> int:
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
            state_in = _int_or_fault(meta, "statecode", state_in)
        if status_in is not None:
            status_in = _int_or_fault(meta, "statuscode", status_in)
        state, status = _create_state(meta, state_in, status_in, rid, options)
        row["statecode"] = state
        row["statuscode"] = status
    if (
        meta.logical_name == "opportunity"
        and options.require_opportunity_customer
        and not row.get("customerid")
    ):
        raise _no_customer()


def _create_state(
    meta: Table,
    state_in: int | None,
    status_in: int | None,
    record_id: str | None,
    options: FakeOptions,
) -> tuple[int, int]:
    initial = _INITIAL_STATE
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
                raise _invalid_state(meta, state_in, options)
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
            raise _invalid_state(meta, state_in, options)
        shown = status_in if status_in is not None else default_status(meta, state_in, options)
        raise invalid_pair(meta, shown, initial, record_id, options)
    return initial, status_in if status_in is not None else initial_default


def _no_customer() -> FakeFault:
    return FakeFault(
        400,
        CODE_INVALID_ARGUMENT,
        "An opportunity must have a customer: bind customerid_account@odata.bind or "
        "customerid_contact@odata.bind to an existing account or contact.",
    )


# --- update -------------------------------------------------------------------------------


def validate_update(
    table: Table | str,
    current: Mapping[str, Any],
    changes: MutableMapping[str, Any],
    options: FakeOptions,
    *,
    store: Store | None = None,
) -> None:
    """Check a PATCH (attribute names, lookups resolved) of ``current``; complete ``changes``.

    Fills ``statuscode`` when only ``statecode`` is sent; raises :class:`FakeFault` for an
    invalid pair, an edit of an inactive record, an opportunity closed by PATCH, or a cleared
    opportunity customer (see the module docstring).  ``store`` enables the optional
    "disqualify only without opportunity" check.
    """
    meta = status_model(table, options)
    record_id = str(current.get(meta.primary_key) or "") or None
    if meta.has_state:
        target_state = _check_state_change(meta, current, changes, record_id, options)
        _check_transition(meta, current, target_state, record_id, options, store)
        _check_inactive_edit(meta, current, changes, record_id, options)
    if (
        meta.logical_name == "opportunity"
        and options.require_opportunity_customer
        and "customerid" in changes
        and not changes["customerid"]
    ):
        raise _no_customer()


def _check_state_change(
    meta: Table,
    current: Mapping[str, Any],
    changes: MutableMapping[str, Any],
    record_id: str | None,
    options: FakeOptions,
) -> int | None:
    """Validate the state/status part of ``changes``; return the resulting statecode."""
    cur_state = current.get("statecode")
    cur_status = current.get("statuscode")
    has_state = "statecode" in changes
    has_status = "statuscode" in changes
    if not has_state and not has_status:
        return cur_state if isinstance(cur_state, int) else None
    if has_state and has_status:
        state = _int_or_fault(meta, "statecode", changes["statecode"])
        status = _int_or_fault(meta, "statuscode", changes["statuscode"])
        check_pair(meta, state, status, options, record_id)
        return state
    if has_status:
        status = _int_or_fault(meta, "statuscode", changes["statuscode"])
        option = meta.status(status)
        if option is None:
            raise invalid_pair(meta, status, None, record_id, options)
        state = cur_state if isinstance(cur_state, int) else _INITIAL_STATE
        if option.state != state:
            # The platform does not infer the state from the status reason.
            raise invalid_pair(meta, status, state, record_id, options)
        return state
    state = _int_or_fault(meta, "statecode", changes["statecode"])
    if meta.state(state) is None:
        raise _invalid_state(meta, state, options)
    if state == cur_state:
        return state
    if options.statecode_only_sets_default_status:
        changes["statuscode"] = default_status(meta, state, options)
        return state
    option = meta.status(cur_status) if isinstance(cur_status, int) else None
    if option is None or option.state != state:
        raise invalid_pair(meta, cur_status, state, record_id, options)
    return state


def _check_transition(
    meta: Table,
    current: Mapping[str, Any],
    target_state: int | None,
    record_id: str | None,
    options: FakeOptions,
    store: Store | None,
) -> None:
    cur_state = current.get("statecode")
    if target_state is None or target_state == cur_state:
        return
    if (
        meta.logical_name == "opportunity"
        and options.opportunity_close_requires_action
        and target_state in (1, 2)
    ):
        action = "WinOpportunity" if target_state == 1 else "LoseOpportunity"
        raise FakeFault(
            400,
            CODE_INVALID_ARGUMENT,
            f"An opportunity can't be closed by an update of statecode to "
            f"{_state_name(meta, target_state)}; use the {action} action "
            f"(opportunity Id {record_id}).",
        )
    if (
        meta.logical_name == "lead"
        and target_state == 2
        and options.disqualify_requires_no_open_opportunity
        and store is not None
        and record_id
    ):
        linked = store.find(
            "opportunity",
            lambda r: r.get("originatingleadid") == record_id and r.get("statecode") == 0,
        )
        if linked:
            raise FakeFault(
                400,
                CODE_INVALID_ARGUMENT,
                f"You can disqualify a lead only if there's no open opportunity associated with "
                f"it; lead {record_id} has open opportunity {linked[0]['opportunityid']}.",
            )


def _check_inactive_edit(
    meta: Table,
    current: Mapping[str, Any],
    changes: Mapping[str, Any],
    record_id: str | None,
    options: FakeOptions,
) -> None:
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
    state_label = _state_name(meta, int(current["statecode"]))
    raise FakeFault(
        options.inactive_edit_status,
        options.inactive_edit_code,
        f"The {meta.logical_name} with Id {record_id} is inactive ({state_label}) and can't be "
        f"edited: {', '.join(edited)}. Reactivate it first (PATCH statecode 0 with an open "
        "status reason), then change it.",
    )


# --- status option metadata (EntityDefinitions) -------------------------------------------

_METADATA_RE = re.compile(
    r"^EntityDefinitions\(LogicalName='(?P<entity>[^']*)'\)/Attributes"
    r"(?:\(LogicalName='(?P<attribute>[^']*)'\))?"
    r"/Microsoft\.Dynamics\.CRM\.(?P<cast>\w+)$"
)
_CASTS = {"StatusAttributeMetadata": "statuscode", "StateAttributeMetadata": "statecode"}
_NS = uuid.UUID("6d1f3c2a-5b7e-4c1d-9a8f-0e2b4c6d8f10")
_LANGUAGE = 1033


def is_metadata_path(path: str) -> bool:
    """True when ``path`` (after ``/api/data/v9.2/``) addresses ``EntityDefinitions``."""
    return path == "EntityDefinitions" or path.startswith("EntityDefinitions(")


def _metadata_id(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def _label(text: str, managed: bool, *key: str) -> dict[str, Any]:
    localized = {
        "Label": text,
        "LanguageCode": _LANGUAGE,
        "IsManaged": managed,
        "MetadataId": _metadata_id(*key, "label"),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": dict(localized)}


def _empty_label() -> dict[str, Any]:
    return {"LocalizedLabels": [], "UserLocalizedLabel": None}


def _option_set(meta: Table, column: Column, options: FakeOptions) -> dict[str, Any]:
    custom = {
        value
        for name, value, _label_text, _state in options.custom_status_reasons
        if name == meta.logical_name
    }
    items: list[dict[str, Any]] = []
    if column.name == "statuscode":
        for status in meta.statuses:
            managed = status.value not in custom
            items.append(
                {
                    "@odata.type": "#Microsoft.Dynamics.CRM.StatusOptionMetadata",
                    "Value": status.value,
                    "State": status.state,
                    "TransitionData": None,
                    "Color": None,
                    "IsManaged": managed,
                    "ExternalValue": None,
                    "IsHidden": False,
                    "MetadataId": None,
                    "HasChanged": None,
                    "Label": _label(status.label, managed, meta.logical_name, str(status.value)),
                    "Description": _empty_label(),
                }
            )
        kind = "Status"
    else:
        for state in meta.states:
            items.append(
                {
                    "@odata.type": "#Microsoft.Dynamics.CRM.StateOptionMetadata",
                    "Value": state.value,
                    "DefaultStatus": state.default_status,
                    "InvariantName": state.enum_name,
                    "Color": None,
                    "IsManaged": True,
                    "ExternalValue": None,
                    "IsHidden": False,
                    "MetadataId": None,
                    "HasChanged": None,
                    "Label": _label(
                        state.label, True, meta.logical_name, "state", str(state.value)
                    ),
                    "Description": _empty_label(),
                }
            )
        kind = "State"
    return {
        "MetadataId": _metadata_id(meta.logical_name, column.name, "optionset"),
        "HasChanged": None,
        "IsCustomOptionSet": False,
        "IsGlobal": False,
        "IsManaged": True,
        "Name": f"{meta.logical_name}_{column.name}",
        "ExternalTypeName": None,
        "OptionSetType": kind,
        "IntroducedVersion": "5.0.0.0",
        "Description": _empty_label(),
        "DisplayName": _label(column.label, True, meta.logical_name, column.name, "optionset"),
        "Options": items,
    }


def _attribute(meta: Table, column: Column, options: FakeOptions, expand: bool) -> dict[str, Any]:
    kind = "Status" if column.name == "statuscode" else "State"
    body: dict[str, Any] = {
        "MetadataId": _metadata_id(meta.logical_name, column.name),
        "LogicalName": column.name,
        "SchemaName": "StatusCode" if kind == "Status" else "StateCode",
        "EntityLogicalName": meta.logical_name,
        "AttributeType": kind,
        "AttributeTypeName": {"Value": f"{kind}Type"},
        "IsCustomAttribute": False,
        "IsValidForCreate": kind == "Status",
        "IsValidForUpdate": True,
        "DisplayName": _label(column.label, True, meta.logical_name, column.name),
        "DefaultFormValue": None if kind == "State" else -1,
    }
    if expand:
        body["OptionSet"] = _option_set(meta, column, options)
    return body


def _select(body: dict[str, Any], select: str | None, cast: str) -> dict[str, Any]:
    if select is None:
        return body
    wanted = [s.strip() for s in select.split(",") if s.strip()]
    for name in wanted:
        if name not in body and name != "OptionSet":
            raise FakeFault(
                400,
                CODE_BAD_QUERY,
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{cast}'.",
            )
    keep = {"MetadataId", "OptionSet", *wanted}
    return {k: v for k, v in body.items() if k in keep}


def _wants_option_set(expand: str | None, cast: str) -> bool:
    if expand is None:
        return False
    wanted = False
    for item in expand.split(","):
        name = item.strip().split("(", 1)[0].strip()
        if name == "OptionSet":
            wanted = True
        elif name:
            raise FakeFault(
                400,
                CODE_BAD_QUERY,
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{cast}'.",
            )
    return wanted


def handle_metadata(request: FakeRequest, options: FakeOptions) -> FakeResponse:
    """Answer ``GET EntityDefinitions(LogicalName='<t>')/Attributes(...)/<cast>`` for state tables.

    Supported casts: ``Microsoft.Dynamics.CRM.StatusAttributeMetadata`` (``statuscode``; each
    option has ``Value``, ``State`` and ``Label.UserLocalizedLabel.Label``) and
    ``Microsoft.Dynamics.CRM.StateAttributeMetadata`` (``statecode``; ``DefaultStatus``,
    ``InvariantName``).  ``$expand=OptionSet`` adds the options, ``$select`` trims the
    attribute.  Without ``(LogicalName='...')`` after ``Attributes`` the answer is the
    collection form ``{"value": [...]}``.  Includes tenant-defined status reasons.  Other
    metadata requests raise a 501 :class:`FakeFault`; unknown tables/attributes 404.
    """
    if request.method != "GET":
        raise method_not_allowed(request.method, request.path, "the fake's metadata is read-only")
    match = _METADATA_RE.match(request.path)
    if match is None:
        raise not_implemented(
            f"the metadata request '{request.path}' (only status/state option metadata: "
            "EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='statuscode')/"
            "Microsoft.Dynamics.CRM.StatusAttributeMetadata?$expand=OptionSet)"
        )
    entity, attribute, cast = match.group("entity", "attribute", "cast")
    if cast not in _CASTS:
        raise not_implemented(f"attribute metadata of type Microsoft.Dynamics.CRM.{cast}")
    try:
        meta = status_model(entity, options)
    except KeyError:
        raise FakeFault(
            404, "0x80040217", f"Could not find an entity with logical name '{entity}'."
        ) from None
    column_name = _CASTS[cast]
    column = meta.column(column_name) if meta.has_state else None
    if attribute is not None and meta.column(attribute) is None:
        raise FakeFault(
            404,
            "0x80040217",
            f"Could not find an attribute with logical name '{attribute}' on entity '{entity}'.",
        )
    if attribute is not None and (attribute != column_name or column is None):
        raise FakeFault(
            404,
            "0x80040217",
            f"The attribute '{attribute}' of entity '{entity}' is not of type "
            f"Microsoft.Dynamics.CRM.{cast}.",
        )
    expand = _wants_option_set(request.query_value("$expand"), cast)
    select = request.query_value("$select")
    base = service_root(request)
    context = (
        f"{base}$metadata#EntityDefinitions('{entity}')/Attributes/Microsoft.Dynamics.CRM.{cast}"
    )
    rows: list[dict[str, Any]] = []
    if column is not None:
        rows.append(_select(_attribute(meta, column, options, expand), select, cast))
    if attribute is not None:
        return FakeResponse.json_body(200, {"@odata.context": context + "/$entity", **rows[0]})
    return FakeResponse.json_body(200, {"@odata.context": context, "value": rows})
