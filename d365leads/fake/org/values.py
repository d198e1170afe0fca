"""Web API values -> stored attribute values: column types, record keys and references.

Shared by the API's write path and by seeding: :func:`coerce_value` checks a value against its
column type, :func:`parse_key` reads ``leads(<id>)`` / ``leads(name='value')``,
:func:`parse_reference` an ``@odata.bind`` target, and :func:`attributes_from_body` turns a
request body into an attribute dict (lookups written as
``<navigation>@odata.bind: "/accounts(<id>)"``, polymorphic ones ``customerid_account`` /
``customerid_contact``; unknown properties -> 400 "Could not find a property named …").
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from ..core.fault import (
    CODE_BAD_QUERY,
    FakeFault,
    bad_request,
    invalid_guid,
    not_found,
    not_implemented,
    property_not_found,
)
from ..core.values import Row, format_datetime, normalize_id, split_top_level
from .schema import Column, Table
from .state import OrgState

__all__ = [
    "CODE_PAYLOAD",
    "CODE_VALIDATION",
    "KeySpec",
    "attributes_from_body",
    "bind_reference",
    "coerce_value",
    "key_text",
    "parse_key",
    "parse_reference",
    "resolve_key",
]

CODE_PAYLOAD = "0x80048d19"
CODE_VALIDATION = "0x80044331"
KeySpec = str | dict[str, Any]
_REFERENCE_RE = re.compile(r"^(?P<set>[A-Za-z_][A-Za-z0-9_]*)\((?P<key>.*)\)$")


# --- values -------------------------------------------------------------------------------


def _type_error(meta: Table, column: Column, value: Any, expected: str) -> FakeFault:
    return FakeFault(
        400,
        CODE_PAYLOAD,
        f"Cannot convert the literal {value!r} to the expected type '{expected}' of the property "
        f"'{column.name}' on '{meta.type_name}'.",
    )


def coerce_value(meta: Table, column: Column, value: Any) -> Any:
    """Check ``value`` against the column type and return it in stored form (400 if wrong)."""
    if value is None:
        return None
    kind = column.type
    if kind in ("string", "memo"):
        if not isinstance(value, str):
            raise _type_error(meta, column, value, "Edm.String")
        if column.max_length is not None and len(value) > column.max_length:
            raise FakeFault(
                400,
                CODE_VALIDATION,
                f"A validation error occurred.  The length of the '{column.name}' attribute of "
                f"the '{meta.logical_name}' entity exceeded the maximum allowed length of "
                f"'{column.max_length}'.",
            )
        return value
    if kind in ("int", "bigint", "picklist", "state", "status"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(meta, column, value, "Edm.Int32")
        if kind == "picklist" and column.options and value not in column.options:
            allowed = ", ".join(str(v) for v in column.options)
            raise bad_request(
                f"Value {value} is not a valid option for the '{column.name}' column of "
                f"'{meta.logical_name}'; valid values: {allowed}.",
                CODE_PAYLOAD,
            )
        return value
    if kind in ("decimal", "money"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(meta, column, value, "Edm.Decimal")
        if column.precision is not None and isinstance(value, float):
            return round(value, column.precision)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _type_error(meta, column, value, "Edm.Boolean")
        return value
    if kind == "datetime":
        if not isinstance(value, str):
            raise _type_error(meta, column, value, "Edm.DateTimeOffset")
        try:
            if len(value) == 10:
                parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
            else:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _type_error(meta, column, value, "Edm.DateTimeOffset") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return format_datetime(parsed)
    if kind == "date":
        if not isinstance(value, str):
            raise _type_error(meta, column, value, "Edm.Date")
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            raise _type_error(meta, column, value, "Edm.Date") from None
    if kind == "guid" or column.is_lookup:
        try:
            return normalize_id(str(value))
        except ValueError:
            raise invalid_guid(str(value)) from None
    raise not_implemented(f"writing columns of type {kind}")  # pragma: no cover - all handled


# --- keys and references ------------------------------------------------------------------


def _parse_key_literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    return text


def parse_key(text: str) -> KeySpec:
    """Parse the inside of ``leads(...)``: a GUID, or ``name='value'[,name2=...]`` pairs."""
    text = text.strip()
    if "=" not in text:
        try:
            return normalize_id(text)
        except ValueError:
            raise invalid_guid(text) from None
    values: dict[str, Any] = {}
    for part in split_top_level(text):
        name, sep, literal = part.partition("=")
        if not sep or not name.strip():
            raise bad_request(f"Syntax error in the key '({text})'.", CODE_BAD_QUERY)
        values[name.strip()] = _parse_key_literal(literal)
    return values


def resolve_key(org: OrgState, meta: Table, key: KeySpec) -> str | None:
    """The id of the row ``key`` names (GUID or alternate key), or ``None`` if absent."""
    if isinstance(key, str):
        return key if org.store.exists(meta.logical_name, key) else None
    names = set(key)
    if len(names) == 1 and meta.primary_key in names:
        return resolve_key(
            org, meta, coerce_value(meta, meta.by_name[meta.primary_key], key[meta.primary_key])
        )
    matching_key = next((k for k in meta.alternate_keys if set(k) == names), None)
    if matching_key is None:
        defined = "; ".join(",".join(k) for k in meta.alternate_keys) or "none"
        raise bad_request(
            f"The key ({', '.join(sorted(names))}) is not an alternate key of "
            f"'{meta.logical_name}'. Defined keys: {defined}.",
            CODE_BAD_QUERY,
        )

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, str) and isinstance(b, str):
            return a.casefold() == b.casefold()
        return bool(a == b)

    for row in org.store.rows(meta.logical_name):
        if all(same(row.get(name), value) for name, value in key.items()):
            return str(row[meta.primary_key])
    return None


def parse_reference(org: OrgState, text: str) -> tuple[Table, KeySpec]:
    """Parse ``/accounts(<id>)``, ``accounts(<id>)`` or an absolute record URL."""
    path = text
    if "://" in text:
        path = urlsplit(text).path
    path = unquote(path)
    index = path.find("/api/data/v9.2/")
    if index >= 0:
        path = path[index + len("/api/data/v9.2/") :]
    path = path.lstrip("/")
    match = _REFERENCE_RE.match(path)
    if match is None:
        raise bad_request(
            f"'{text}' is not a record reference; use '/<entityset>(<id>)', "
            "for example '/accounts(00000000-0000-0000-0000-000000000001)'.",
            CODE_PAYLOAD,
        )
    meta = org.schema.table_for_set(match.group("set"))
    if meta is None:
        raise bad_request(f"'{match.group('set')}' is not an entity set of this org.", CODE_PAYLOAD)
    return meta, parse_key(match.group("key"))


def bind_reference(
    org: OrgState, meta: Table, nav: str, value: Any, attrs: Row, *, check: bool
) -> None:
    """Resolve ``<nav>@odata.bind: value`` into ``attrs`` (a missing target is 404 if ``check``)."""
    resolved = meta.navigation(nav)
    if resolved is None:
        raise FakeFault(
            400,
            CODE_PAYLOAD,
            f"An undeclared property '{nav}' which only has property annotations in the payload "
            f"but no property value was found in the payload. '{meta.logical_name}' has the "
            f"navigation properties: {', '.join(meta.navigation_names)}.",
        )
    column, target = resolved
    if value is None:
        attrs[column.name] = None
        if column.is_polymorphic:
            attrs[column.type_attribute] = None
        return
    if not isinstance(value, str):
        raise bad_request(
            f"'{nav}@odata.bind' must be a string like "
            f"'/{org.schema.table(target).entity_set}(<id>)'.",
            CODE_PAYLOAD,
        )
    target_meta, key = parse_reference(org, value)
    if column.navigation.get(target_meta.logical_name) == nav:
        target = target_meta.logical_name  # one navigation, several targets (ownerid)
    if target_meta.logical_name != target:
        raise bad_request(
            f"'{nav}@odata.bind' points to '{target_meta.entity_set}', but '{nav}' needs a "
            f"'{target}' record ('/{org.schema.table(target).entity_set}(<id>)').",
            CODE_PAYLOAD,
        )
    record_id = resolve_key(org, target_meta, key) if check or not isinstance(key, str) else key
    if record_id is None:
        if isinstance(key, str):
            raise not_found(target, key)
        raise FakeFault(
            404,
            "0x80040217",
            f"A record with the specified key values does not exist in {target} entity",
        )
    attrs[column.name] = record_id
    if column.is_polymorphic or column.type == "owner":
        attrs[column.type_attribute] = target


def attributes_from_body(
    org: OrgState,
    meta: Table,
    payload: Any,
    *,
    allow_readonly: bool = False,
) -> Row:
    """Turn a Web API body into an attribute dict (types checked, binds resolved).

    ``allow_readonly`` (seeding) keeps system columns; otherwise they are ignored or refused
    per ``options.readonly_on_write``.  Attribute names (``parentaccountid``) with a GUID are
    accepted only when ``allow_readonly`` is set (seed files).
    """
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object of column values.", CODE_PAYLOAD)
    attrs: Row = {}
    check = org.options.validate_references
    for key, value in payload.items():
        if not isinstance(key, str):
            raise bad_request("Property names must be strings.", CODE_PAYLOAD)
        if key.endswith("@odata.bind"):
            bind_reference(org, meta, key[: -len("@odata.bind")], value, attrs, check=check)
            continue
        if key == "@odata.type":
            expected = {meta.type_name, "#" + meta.type_name}
            if value not in expected:
                raise bad_request(
                    f"'@odata.type' is {value!r} but the request addresses '{meta.type_name}'.",
                    CODE_PAYLOAD,
                )
            continue
        if "@" in key:
            continue  # instance annotations in a payload carry no data
        if value is None and not allow_readonly and meta.navigation(key) is not None:
            # A single-valued navigation property set to null clears the lookup, like
            # "<nav>@odata.bind": null (the associate/disassociate page shows both forms).
            bind_reference(org, meta, key, None, attrs, check=check)
            continue
        column = meta.column(key)
        if column is not None and column.is_lookup:
            if allow_readonly:
                attrs[key] = coerce_value(meta, column, value)
                continue
            nav_hint = ", ".join(f"'{n}@odata.bind'" for n in column.navigation.values())
            raise bad_request(
                f"'{key}' is a lookup; set it with {nav_hint} and a value like "
                f"'/{org.schema.table(column.targets[0]).entity_set}(<id>)'.",
                CODE_PAYLOAD,
            )
        if column is None and allow_readonly and key.endswith("type"):
            base = meta.column(key[:-4])
            if base is not None and base.is_lookup:
                if value not in base.targets:
                    raise bad_request(f"{key} must be one of {', '.join(base.targets)}.")
                attrs[key] = value
                continue
        if column is None:
            if meta.navigation(key) is not None:
                raise not_implemented(f"deep insert through the navigation property '{key}'")
            raise property_not_found(key, meta.logical_name)
        if column.readonly and not allow_readonly:
            if org.options.readonly_on_write == "reject":
                raise bad_request(
                    f"The column '{key}' of '{meta.logical_name}' is read-only.", CODE_PAYLOAD
                )
            continue
        attrs[key] = coerce_value(meta, column, value)
    return attrs


def key_text(key: KeySpec) -> str:
    """``key`` as text for messages (the GUID, or ``name='value'`` pairs)."""
    if isinstance(key, str):
        return key
    return ",".join(f"{k}={v!r}" for k, v in key.items())
