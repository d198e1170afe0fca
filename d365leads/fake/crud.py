"""Create, retrieve, update, upsert and delete of single records, plus row-level helpers.

Wire behaviour (``dataverse-web-api.md`` §4.5-4.7):

* ``POST /leads`` -> ``204`` + ``OData-EntityId``; with ``Prefer: return=representation``
  ``201`` + the row (``$select``/``$expand`` honoured);
* ``GET /leads(<id>)`` with ``$select``/``$expand``; ``If-None-Match: W/"v"`` -> ``304`` when
  unchanged (never with ``$expand`` or annotations);
* ``PATCH /leads(<key>)``: update, or upsert when the row is missing; ``If-Match: *`` = update
  only (404), ``If-Match: W/"v"`` = optimistic concurrency (412 ``0x80060882``),
  ``If-None-Match: *`` = create only (``0x80040237``);
* ``DELETE /leads(<key>)`` (with optional ``If-Match``);
* single properties: ``GET|PUT|DELETE /leads(<id>)/<column>``, lookups
  ``GET /leads(<id>)/<navigation>``, ``PUT|DELETE /leads(<id>)/<navigation>/$ref``;
* lookups are written as ``<navigation>@odata.bind: "/accounts(<id>)"`` (polymorphic:
  ``customerid_account`` / ``customerid_contact``); unknown properties -> 400
  "Could not find a property named …".

Business rules come from :mod:`~d365leads.fake.rules`; :func:`create_record` and
:func:`update_record` are the row-level entry points actions use so their writes obey the same
rules.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from . import rules
from .errors import (
    CODE_BAD_QUERY,
    CODE_DUPLICATE_DETECTED,
    FakeFault,
    bad_request,
    concurrency_mismatch,
    duplicate_key,
    invalid_guid,
    not_found,
    not_implemented,
    property_not_found,
)
from .http import FakeRequest, FakeResponse
from .query import (
    Expand,
    entity_options,
    handle_collection,
    related_rows,
    render_entity,
    service_root,
    split_top_level,
)
from .schema import Column, Table, collection_navigation
from .serialize import annotation_filter, context_url, etag
from .store import Row, format_datetime, normalize_id

if TYPE_CHECKING:
    from .app import FakeDataverse

__all__ = [
    "CODE_PAYLOAD",
    "DUPLICATE_RULES",
    "KeySpec",
    "attributes_from_body",
    "coerce_value",
    "create_record",
    "detect_duplicates",
    "entity_url",
    "fill_computed",
    "handle_create",
    "handle_delete",
    "handle_patch",
    "handle_property",
    "handle_retrieve",
    "parse_key",
    "parse_reference",
    "resolve_key",
    "update_record",
]

CODE_PAYLOAD = "0x80048d19"
CODE_VALIDATION = "0x80044331"
KeySpec = str | dict[str, Any]
_REFERENCE_RE = re.compile(r"^(?P<set>[A-Za-z_][A-Za-z0-9_]*)\((?P<key>.*)\)$")
_NAME_PARTS = frozenset({"lead", "contact", "systemuser"})


def entity_url(root: str, meta: Table, record_id: str) -> str:
    """The canonical URL of a record (``…/leads(<id>)``)."""
    return f"{root}{meta.entity_set}({record_id})"


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


def resolve_key(fake: FakeDataverse, meta: Table, key: KeySpec) -> str | None:
    """The id of the row ``key`` names (GUID or alternate key), or ``None`` if absent."""
    if isinstance(key, str):
        return key if fake.store.exists(meta.logical_name, key) else None
    names = set(key)
    if len(names) == 1 and meta.primary_key in names:
        return resolve_key(
            fake, meta, coerce_value(meta, meta.by_name[meta.primary_key], key[meta.primary_key])
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

    for row in fake.store.rows(meta.logical_name):
        if all(same(row.get(name), value) for name, value in key.items()):
            return str(row[meta.primary_key])
    return None


def parse_reference(fake: FakeDataverse, text: str) -> tuple[Table, KeySpec]:
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
    meta = fake.schema.table_for_set(match.group("set"))
    if meta is None:
        raise bad_request(f"'{match.group('set')}' is not an entity set of this org.", CODE_PAYLOAD)
    return meta, parse_key(match.group("key"))


def _bind(
    fake: FakeDataverse, meta: Table, nav: str, value: Any, attrs: Row, *, check: bool
) -> None:
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
            f"'/{fake.schema.table(target).entity_set}(<id>)'.",
            CODE_PAYLOAD,
        )
    target_meta, key = parse_reference(fake, value)
    if target_meta.logical_name != target:
        raise bad_request(
            f"'{nav}@odata.bind' points to '{target_meta.entity_set}', but '{nav}' needs a "
            f"'{target}' record ('/{fake.schema.table(target).entity_set}(<id>)').",
            CODE_PAYLOAD,
        )
    record_id = resolve_key(fake, target_meta, key) if check or not isinstance(key, str) else key
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
    fake: FakeDataverse,
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
    check = fake.options.validate_references
    for key, value in payload.items():
        if not isinstance(key, str):
            raise bad_request("Property names must be strings.", CODE_PAYLOAD)
        if key.endswith("@odata.bind"):
            _bind(fake, meta, key[: -len("@odata.bind")], value, attrs, check=check)
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
        column = meta.column(key)
        if column is not None and column.is_lookup:
            if allow_readonly:
                attrs[key] = coerce_value(meta, column, value)
                continue
            nav_hint = ", ".join(f"'{n}@odata.bind'" for n in column.navigation.values())
            raise bad_request(
                f"'{key}' is a lookup; set it with {nav_hint} and a value like "
                f"'/{fake.schema.table(column.targets[0]).entity_set}(<id>)'.",
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
            if fake.options.readonly_on_write == "reject":
                raise bad_request(
                    f"The column '{key}' of '{meta.logical_name}' is read-only.", CODE_PAYLOAD
                )
            continue
        attrs[key] = coerce_value(meta, column, value)
    return attrs


# --- row-level operations (rules run) ------------------------------------------------------


def fill_computed(meta: Table, row: Row, current: Row | None = None) -> None:
    """Recompute ``fullname`` from first/last name (lead, contact, systemuser)."""
    if meta.logical_name in _NAME_PARTS and meta.column("fullname") is not None:
        merged = dict(current or {})
        merged.update(row)
        if current is None or "firstname" in row or "lastname" in row:
            parts = [merged.get("firstname"), merged.get("lastname")]
            row["fullname"] = " ".join(p for p in parts if p) or None


def _check_alternate_keys(fake: FakeDataverse, meta: Table, row: Row, own_id: str | None) -> None:
    for key in meta.alternate_keys:
        values = {name: row.get(name) for name in key}
        if any(v is None for v in values.values()):
            continue
        found = resolve_key(fake, meta, values)
        if found is not None and found != own_id:
            raise duplicate_key(fake.options.duplicate_key_status)


DUPLICATE_RULES: dict[str, tuple[str, ...]] = {
    "account": ("name",),
    "contact": ("emailaddress1",),
    "lead": ("emailaddress1",),
}
"""The out-of-box duplicate detection rules the fake applies (same value, case-insensitive):
accounts with the same name, contacts and leads with the same email address."""


def detect_duplicates(fake: FakeDataverse, meta: Table, row: Row, own_id: str | None) -> None:
    """Raise ``0x80040333`` when ``row`` matches another row by :data:`DUPLICATE_RULES`.

    Dataverse runs duplicate detection on create/update only when asked
    (``MSCRM.SuppressDuplicateDetection: false``; QualifyLead's ``SuppressDuplicateDetection``).
    """
    for column in DUPLICATE_RULES.get(meta.logical_name, ()):
        value = row.get(column)
        if not isinstance(value, str) or not value.strip():
            continue
        wanted = value.strip().casefold()
        for other in fake.store.rows(meta.logical_name):
            other_value = other.get(column)
            if (
                other[meta.primary_key] != own_id
                and isinstance(other_value, str)
                and other_value.strip().casefold() == wanted
            ):
                raise FakeFault(
                    fake.options.duplicate_detection_status,
                    CODE_DUPLICATE_DETECTED,
                    "A record was not created or updated because a duplicate of the current "
                    "record already exists.",
                )


def create_record(
    fake: FakeDataverse, meta: Table, attrs: Row, *, duplicate_check: bool = False
) -> Row:
    """Create a row through the business rules (actions use this too); returns the stored row.

    ``duplicate_check`` runs :func:`detect_duplicates` first (the request asked for it).
    """
    with fake.store.lock:
        row = dict(attrs)
        pk = row.get(meta.primary_key)
        if pk is not None and fake.store.exists(meta.logical_name, str(pk)):
            raise duplicate_key(fake.options.duplicate_key_status)
        rules.validate_create(meta, row, fake.options)
        if meta.has_state:
            state = row.setdefault("statecode", 0)
            if row.get("statuscode") is None:
                option = meta.state(int(state))
                if option is not None:
                    row["statuscode"] = option.default_status
        fill_computed(meta, row)
        if (
            meta.column("transactioncurrencyid") is not None
            and row.get("transactioncurrencyid") is None
            and any(c.type == "money" and row.get(c.name) is not None for c in meta.columns)
        ):
            row["transactioncurrencyid"] = fake.base_currency_id
        _check_alternate_keys(fake, meta, row, None)
        if duplicate_check:
            detect_duplicates(fake, meta, row, None)
        actor = fake.caller_id if meta.ownership == "user" else None
        return fake.store.insert(meta.logical_name, row, actor=actor)


def update_record(
    fake: FakeDataverse,
    meta: Table,
    record_id: str,
    changes: Row,
    *,
    duplicate_check: bool = False,
) -> Row:
    """Update a row through the business rules (404 when missing); returns the stored row."""
    with fake.store.lock:
        current = fake.store.get(meta.logical_name, record_id)
        if current is None:
            raise not_found(meta.logical_name, record_id)
        data = dict(changes)
        data.pop(meta.primary_key, None)
        rules.validate_update(meta, current, data, fake.options, store=fake.store)
        fill_computed(meta, data, current)
        merged = dict(current)
        merged.update(data)
        _check_alternate_keys(fake, meta, merged, str(current[meta.primary_key]))
        if duplicate_check and any(c in data for c in DUPLICATE_RULES.get(meta.logical_name, ())):
            detect_duplicates(fake, meta, merged, str(current[meta.primary_key]))
        actor = fake.caller_id if meta.ownership == "user" else None
        return fake.store.update(meta.logical_name, record_id, data, actor=actor)


# --- HTTP handlers ------------------------------------------------------------------------


def _body(request: FakeRequest) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        raise bad_request(
            "The request body is not valid JSON. Send a JSON object with "
            "Content-Type: application/json.",
            CODE_PAYLOAD,
        ) from None


def _entity_body(
    fake: FakeDataverse,
    root: str,
    meta: Table,
    row: Row,
    select: list[str] | None,
    expand: list[Expand],
    annotations: str | None,
) -> dict[str, Any]:
    """One record as a single-entity body (``annotations``: the include-annotations value)."""
    body = {"@odata.context": context_url(root, meta, select, entity=True)}
    wanted = annotation_filter(annotations)
    body.update(render_entity(fake, meta, row, select=select, expand=expand, annotations=wanted))
    return body


def _representation(
    fake: FakeDataverse, request: FakeRequest, meta: Table, row: Row, status: int
) -> FakeResponse:
    select, expand = entity_options(
        request, meta, fake.options.max_expand, tables=fake.schema.table
    )
    value = request.prefer().get("odata.include-annotations")
    root = service_root(request)
    body = _entity_body(fake, root, meta, row, select, expand, value)
    applied = ["return=representation"]
    if value is not None:
        applied.append(f'odata.include-annotations="{value}"')
    headers = {"Preference-Applied": ",".join(applied), "ETag": etag(row)}
    if status == 201:
        headers["Location"] = entity_url(root, meta, row[meta.primary_key])
    return FakeResponse.json_body(status, body, headers)


def _wants_duplicate_detection(request: FakeRequest) -> bool:
    # Off by default on create and update; "MSCRM.SuppressDuplicateDetection: false" turns it
    # on (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/manage-duplicate-detection-create-update).
    value = request.header("MSCRM.SuppressDuplicateDetection")
    return value is not None and value.strip().lower() == "false"


def _wants_representation(request: FakeRequest) -> bool:
    return request.prefer().get("return") == "representation"


def _entity_id_response(
    request: FakeRequest, meta: Table, row: Row, status: int = 204
) -> FakeResponse:
    url = entity_url(service_root(request), meta, row[meta.primary_key])
    return FakeResponse.empty(status, {"OData-EntityId": url})


def handle_create(fake: FakeDataverse, request: FakeRequest, meta: Table) -> FakeResponse:
    """``POST /<entityset>``."""
    attrs = attributes_from_body(fake, meta, _body(request))
    if attrs.get(meta.primary_key) is None:
        attrs.pop(meta.primary_key, None)
    row = create_record(fake, meta, attrs, duplicate_check=_wants_duplicate_detection(request))
    if _wants_representation(request):
        return _representation(fake, request, meta, row, 201)
    return _entity_id_response(request, meta, row)


def _existing(fake: FakeDataverse, meta: Table, key: KeySpec) -> Row | None:
    if isinstance(key, str):  # a GUID: one look-up, not an existence check and then a read
        return fake.store.get(meta.logical_name, key)
    record_id = resolve_key(fake, meta, key)
    return fake.store.get(meta.logical_name, record_id) if record_id else None


def _key_text(key: KeySpec) -> str:
    if isinstance(key, str):
        return key
    return ",".join(f"{k}={v!r}" for k, v in key.items())


def handle_retrieve(
    fake: FakeDataverse, request: FakeRequest, meta: Table, key: KeySpec
) -> FakeResponse:
    """``GET /<entityset>(<key>)``."""
    select, expand = entity_options(
        request, meta, fake.options.max_expand, tables=fake.schema.table
    )
    row = _existing(fake, meta, key)
    if row is None:
        raise not_found(meta.logical_name, _key_text(key))
    value = request.prefer().get("odata.include-annotations")
    if_none_match = request.header("If-None-Match")
    if (
        if_none_match
        and if_none_match != "null"
        and not expand
        and value is None
        and if_none_match == etag(row)
    ):
        return FakeResponse.empty(304, {"ETag": etag(row)})
    body = _entity_body(fake, service_root(request), meta, row, select, expand, value)
    headers = {"ETag": etag(row)}
    if value is not None:
        headers["Preference-Applied"] = f'odata.include-annotations="{value}"'
    return FakeResponse.json_body(200, body, headers)


def _check_if_match(request: FakeRequest, meta: Table, row: Row | None, key: KeySpec) -> None:
    if_match = request.header("If-Match")
    if if_match is None:
        return
    if row is None:
        raise not_found(meta.logical_name, _key_text(key))
    if if_match.strip() == "*":
        return
    tags = [t.strip() for t in if_match.split(",")]
    if etag(row) not in tags:
        raise concurrency_mismatch()


def handle_patch(
    fake: FakeDataverse, request: FakeRequest, meta: Table, key: KeySpec
) -> FakeResponse:
    """``PATCH /<entityset>(<key>)``: update or upsert (see the module docstring)."""
    payload = _body(request)
    with fake.store.lock:
        row = _existing(fake, meta, key)
        _check_if_match(request, meta, row, key)
        if_none_match = request.header("If-None-Match")
        if row is not None and if_none_match is not None and if_none_match.strip() == "*":
            raise duplicate_key(fake.options.duplicate_key_status)
        attrs = attributes_from_body(fake, meta, payload)
        if row is not None:
            record_id = str(row[meta.primary_key])
            body_id = attrs.get(meta.primary_key)
            if body_id is not None and body_id != record_id:
                raise bad_request(
                    f"The body's {meta.primary_key} ({body_id}) differs from the URL key "
                    f"({record_id}).",
                    CODE_PAYLOAD,
                )
            updated = update_record(
                fake, meta, record_id, attrs, duplicate_check=_wants_duplicate_detection(request)
            )
            if _wants_representation(request):
                return _representation(fake, request, meta, updated, 200)
            return _entity_id_response(request, meta, updated)
        # Upsert: create the row with the key from the URL.
        if isinstance(key, str):
            attrs[meta.primary_key] = key
        else:
            for name, value in key.items():
                column = meta.column(name)
                if column is not None:
                    attrs[name] = coerce_value(meta, column, value)
        created = create_record(
            fake, meta, attrs, duplicate_check=_wants_duplicate_detection(request)
        )
    if _wants_representation(request):
        return _representation(fake, request, meta, created, 201)
    return _entity_id_response(request, meta, created, fake.options.upsert_create_status)


def handle_delete(
    fake: FakeDataverse, request: FakeRequest, meta: Table, key: KeySpec
) -> FakeResponse:
    """``DELETE /<entityset>(<key>)``."""
    with fake.store.lock:
        row = _existing(fake, meta, key)
        if row is None:
            raise not_found(meta.logical_name, _key_text(key))
        _check_if_match(request, meta, row, key)
        fake.store.delete(meta.logical_name, str(row[meta.primary_key]))
    return FakeResponse.empty(204)


def handle_property(
    fake: FakeDataverse,
    request: FakeRequest,
    meta: Table,
    key: KeySpec,
    segments: list[str],
) -> FakeResponse:
    """``/<entityset>(<key>)/<property>[/$ref]`` reads and writes."""
    row = _existing(fake, meta, key)
    if row is None:
        raise not_found(meta.logical_name, _key_text(key))
    record_id = str(row[meta.primary_key])
    name = segments[0]
    root = service_root(request)
    nav = meta.navigation(name)
    if nav is not None:
        column, target = nav
        is_ref = segments[1:] == ["$ref"]
        if len(segments) > 1 and not is_ref:
            raise not_implemented(f"the path segment '{'/'.join(segments[1:])}' after '{name}'")
        current_target = row.get(column.type_attribute) if column.is_polymorphic else target
        points_here = row.get(column.name) is not None and current_target == target
        if request.method == "GET":
            if not points_here:
                return FakeResponse.empty(204)
            target_meta = fake.schema.table(target)
            related = fake.store.get(target, str(row[column.name]))
            if related is None:
                return FakeResponse.empty(204)
            if is_ref:
                return FakeResponse.json_body(
                    200,
                    {
                        "@odata.context": f"{root}$metadata#$ref",
                        "@odata.id": entity_url(
                            root, target_meta, related[target_meta.primary_key]
                        ),
                    },
                )
            return handle_retrieve(
                fake, request, target_meta, str(related[target_meta.primary_key])
            )
        if not is_ref:
            raise bad_request(
                f"Use '{name}/$ref' (PUT or DELETE) or '{name}@odata.bind' in a PATCH to change "
                "a lookup.",
                CODE_BAD_QUERY,
            )
        if request.method == "DELETE":
            changes: Row = {column.name: None}
            if column.is_polymorphic:
                changes[column.type_attribute] = None
            if points_here:
                update_record(fake, meta, record_id, changes)
            return FakeResponse.empty(204)
        if request.method == "PUT":
            body = _body(request)
            if not isinstance(body, dict) or not isinstance(body.get("@odata.id"), str):
                raise bad_request(
                    'A $ref PUT needs a body {"@odata.id": "<record URL>"}.', CODE_PAYLOAD
                )
            attrs: Row = {}
            _bind(fake, meta, name, body["@odata.id"], attrs, check=True)
            update_record(fake, meta, record_id, attrs)
            return FakeResponse.empty(204)
        raise FakeFault(
            405, CODE_BAD_QUERY, f"The HTTP method '{request.method}' is not allowed here."
        )
    relationship = collection_navigation(meta.logical_name, name)
    if relationship is not None:
        if len(segments) > 1 or request.method != "GET":
            raise not_implemented(
                f"{request.method} on '{'/'.join(segments)}' (collection-valued navigation "
                "properties are read-only in the fake; set the lookup on the related row)"
            )
        target_meta = fake.schema.table(relationship.referencing)
        children = related_rows(fake, meta, record_id, target_meta, relationship.column)
        return handle_collection(fake, request, target_meta, children)
    if len(segments) > 1:
        raise not_implemented(f"the path '{'/'.join(segments)}' below a record")
    prop_column = meta.column_for_property(name)
    if prop_column is None:
        raise property_not_found(name, meta.logical_name)
    prop = prop_column.value_property
    if request.method == "GET":
        value = row.get(prop_column.name)
        if value is None:
            return FakeResponse.empty(204)
        return FakeResponse.json_body(
            200,
            {
                "@odata.context": f"{root}$metadata#{meta.entity_set}({record_id})/{prop}",
                "value": value,
            },
        )
    if prop_column.is_lookup:
        raise bad_request(
            f"'{prop}' is read-only; change the lookup through its navigation property.",
            CODE_PAYLOAD,
        )
    if request.method == "PUT":
        body = _body(request)
        if not isinstance(body, dict) or "value" not in body:
            raise bad_request('A property PUT needs a body {"value": …}.', CODE_PAYLOAD)
        attrs = attributes_from_body(fake, meta, {prop_column.name: body["value"]})
        update_record(fake, meta, record_id, attrs)
        return FakeResponse.empty(204)
    if request.method == "DELETE":
        attrs = attributes_from_body(fake, meta, {prop_column.name: None})
        update_record(fake, meta, record_id, attrs)
        return FakeResponse.empty(204)
    raise FakeFault(405, CODE_BAD_QUERY, f"The HTTP method '{request.method}' is not allowed here.")
