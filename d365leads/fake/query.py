"""Collection reads (``GET /leads?…``) and the entity rendering shared with single reads.

Supported: ``$select``, ``$filter`` (``odata_eval``), ``$orderby``, ``$top``, ``$count``
(``@odata.count`` capped at ``max_count``; ``Microsoft.Dynamics.CRM.totalrecordcount`` and
``…limitexceeded`` annotations when asked for), single-valued ``$expand`` with a nested
``$select``, parameter aliases (``@p1``), and paging: ``Prefer: odata.maxpagesize=N`` (at most
5000, echoed in ``Preference-Applied``; larger values are ignored like the service) with an
``@odata.nextLink`` whose ``$skiptoken`` is a URL-encoded, cookie-shaped token
``<cookie pagenumber="2" pagingcookie="…" istracking="False" />``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results).
``$skip`` is refused with 400 as Dataverse does; ``$apply``/``$search``/collection-valued
``$expand`` answer 501.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from . import odata_eval, rules
from .errors import CODE_BAD_QUERY, FakeFault, bad_request, not_implemented
from .http import FakeRequest, FakeResponse, service_root
from .schema import Table, collection_navigation, table
from .serialize import AnnotationFilter, annotation_filter, context_url, serialize_row
from .store import Row

if TYPE_CHECKING:
    from .app import FakeDataverse

__all__ = [
    "Expand",
    "handle_collection",
    "handle_count",
    "parse_expand",
    "parse_page_size",
    "related_rows",
    "render_entity",
    "service_root",
    "split_top_level",
]

_COLLECTION_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken"}
_ENTITY_OPTIONS = {"$select", "$expand"}
_COOKIE_RE = re.compile(
    r'^<cookie pagenumber="(\d+)" pagingcookie="([^"]*)" istracking="(?:True|False)" />$'
)
_PAGING_RE = re.compile(r'<(\w+) last="([^"]*)" first="[^"]*" />')


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses and single-quoted strings."""
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


@dataclass(frozen=True)
class Expand:
    """One ``$expand`` item.

    Single-valued: ``column`` is the lookup of the expanded row, ``target`` its table.
    Collection-valued (``collection`` set): the ``target`` rows whose ``column`` points back,
    filtered, ordered and cut by the nested options.
    """

    navigation: str
    column: str
    target: str
    select: list[str] | None
    collection: bool = False
    predicate: odata_eval.Predicate | None = None
    order: tuple[tuple[str, bool], ...] = ()
    top: int | None = None


def _expand_options(
    text: str, body: str, target: Table, *, collection: bool
) -> tuple[list[str] | None, odata_eval.Predicate | None, list[tuple[str, bool]], int | None]:
    select: list[str] | None = None
    predicate: odata_eval.Predicate | None = None
    order: list[tuple[str, bool]] = []
    top: int | None = None
    for option in split_top_level(body, ";") if body.strip() else []:
        name, _, value = option.strip().partition("=")
        if name == "$select":
            select = odata_eval.parse_select(value, target)
        elif name in ("$filter", "$orderby", "$top") and not collection:
            raise not_implemented(f"{name} inside $expand of a single-valued navigation")
        elif name == "$filter":
            predicate = odata_eval.compile_filter(value, target)
        elif name == "$orderby":
            order = [(k.column, k.descending) for k in odata_eval.parse_orderby(value, target)]
        elif name == "$top":
            if not value.isdigit() or int(value) < 1:
                raise bad_request(f"Invalid $top '{value}' inside $expand.", CODE_BAD_QUERY)
            top = int(value)
        elif name == "$expand":
            raise not_implemented("nested $expand")
        else:
            raise bad_request(
                f"The query option '{name}' is not supported inside $expand '{text}'.",
                CODE_BAD_QUERY,
            )
    return select, predicate, order, top


def parse_expand(
    text: str, meta: Table, *, max_expand: int = 15, tables: Callable[[str], Table] = table
) -> list[Expand]:
    """Parse ``$expand`` (``parentaccountid($select=name),contact_customer_accounts``).

    ``tables`` resolves target tables (the fake's ``schema.table``, so tenant columns count).
    """
    items: list[Expand] = []
    for raw in split_top_level(text):
        item = raw.strip()
        if not item:
            raise bad_request(f"Syntax error in $expand '{text}': an empty item.", CODE_BAD_QUERY)
        nav, paren, rest = item.partition("(")
        nav = nav.strip()
        if paren and not rest.endswith(")"):
            raise bad_request(f"Syntax error in $expand '{text}': missing ')'.", CODE_BAD_QUERY)
        body = rest[:-1] if paren else ""
        resolved = meta.navigation(nav)
        relationship = collection_navigation(meta.logical_name, nav)
        if resolved is not None:
            column, target = resolved
            select, _, _, _ = _expand_options(text, body, tables(target), collection=False)
            items.append(Expand(nav, column.name, target, select))
        elif relationship is not None:
            target_meta = tables(relationship.referencing)
            select, predicate, order, top = _expand_options(
                text, body, target_meta, collection=True
            )
            items.append(
                Expand(
                    nav,
                    relationship.column,
                    relationship.referencing,
                    select,
                    collection=True,
                    predicate=predicate,
                    order=tuple(order),
                    top=top,
                )
            )
        else:
            raise FakeFault(
                400,
                CODE_BAD_QUERY,
                f"Could not find a property named '{nav}' on type '{meta.type_name}'.",
            )
    if len(items) > max_expand:
        raise bad_request(
            f"The $expand has {len(items)} items; Dataverse allows at most {max_expand}.",
            CODE_BAD_QUERY,
        )
    return items


def related_rows(
    fake: FakeDataverse, referenced: Table, record_id: str, referencing: Table, column: str
) -> list[Row]:
    """Rows of ``referencing`` whose lookup ``column`` points to ``record_id``."""
    lookup = referencing.by_name[column]

    def points_here(row: Row) -> bool:
        if row.get(column) != record_id:
            return False
        if lookup.is_polymorphic:
            return row.get(lookup.type_attribute) == referenced.logical_name
        return True

    return fake.store.find(referencing.logical_name, points_here)


def render_entity(
    fake: FakeDataverse,
    meta: Table,
    row: Row,
    *,
    select: list[str] | None,
    expand: list[Expand],
    annotations: AnnotationFilter | None,
) -> dict[str, Any]:
    """A row as JSON with its expanded navigation properties."""
    # Tenant-defined status reasons get their labels from the rules' status model.
    meta = rules.status_model(meta, fake.options)
    out = serialize_row(
        meta, row, select=select, annotations=annotations, resolve_name=fake.primary_name
    )
    for item in expand:
        target_meta = rules.status_model(fake.schema.table(item.target), fake.options)
        if item.collection:
            related = related_rows(fake, meta, str(row[meta.primary_key]), target_meta, item.column)
            if item.predicate is not None:
                related = [r for r in related if item.predicate(r)]
            keys = [*item.order, (target_meta.primary_key, False)]
            related = odata_eval.sort_rows(related, keys, target_meta)  # already copies
            # A single-level collection expand is not paged (up to 5000 related rows).
            related = related[: item.top if item.top is not None else fake.options.max_page_size]
            out[item.navigation] = [
                serialize_row(
                    target_meta,
                    r,
                    select=item.select,
                    annotations=annotations,
                    resolve_name=fake.primary_name,
                )
                for r in related
            ]
            continue
        target_id = row.get(item.column)
        column = meta.column(item.column)
        actual_target = item.target
        if column is not None and column.is_polymorphic:
            actual_target = row.get(column.type_attribute) or item.target
        found = (
            fake.store.get(item.target, str(target_id))
            if target_id is not None and actual_target == item.target
            else None
        )
        out[item.navigation] = (
            serialize_row(
                target_meta,
                found,
                select=item.select,
                annotations=annotations,
                resolve_name=fake.primary_name,
            )
            if found is not None
            else None
        )
    return out


def _aliases(request: FakeRequest) -> dict[str, str]:
    return {name: value for name, value in request.query if name.startswith("@")}


def _check_options(request: FakeRequest, allowed: set[str]) -> None:
    for name, _ in request.query:
        if name.startswith("@"):
            continue
        if name == "$skip":
            raise bad_request(
                "The query parameter $skip is not supported. Use paging with "
                "Prefer: odata.maxpagesize and @odata.nextLink instead.",
                CODE_BAD_QUERY,
            )
        if name in ("$apply", "$search", "$format", "$levels", "$compute"):
            raise not_implemented(f"the {name} query option")
        if name.startswith("$") and name not in allowed:
            raise bad_request(f"The query parameter {name} is not supported here.", CODE_BAD_QUERY)


def _annotations(request: FakeRequest) -> tuple[AnnotationFilter | None, list[str]]:
    prefer = request.prefer()
    value = prefer.get("odata.include-annotations")
    applied = [f'odata.include-annotations="{value}"'] if value is not None else []
    return annotation_filter(value), applied


def entity_options(
    request: FakeRequest,
    meta: Table,
    max_expand: int,
    *,
    tables: Callable[[str], Table] = table,
) -> tuple[list[str] | None, list[Expand]]:
    """``$select`` and ``$expand`` of a single-entity request."""
    _check_options(request, _ENTITY_OPTIONS)
    return _select_expand(request, meta, max_expand, tables)


def _select_expand(
    request: FakeRequest, meta: Table, max_expand: int, tables: Callable[[str], Table]
) -> tuple[list[str] | None, list[Expand]]:
    select_text = request.query_value("$select")
    select = odata_eval.parse_select(select_text, meta) if select_text is not None else None
    expand_text = request.query_value("$expand")
    expand = (
        parse_expand(expand_text, meta, max_expand=max_expand, tables=tables) if expand_text else []
    )
    return select, expand


def parse_page_size(request: FakeRequest, maximum: int) -> tuple[int, list[str]]:
    """The page size asked for by ``Prefer: odata.maxpagesize`` and its ``Preference-Applied``."""
    raw = request.prefer().get("odata.maxpagesize")
    if raw is None:
        return maximum, []
    try:
        size = int(raw)
    except ValueError:
        raise bad_request(
            f"odata.maxpagesize must be a whole number, not {raw!r}.", CODE_BAD_QUERY
        ) from None
    if size < 1 or size > maximum:
        return maximum, []
    return size, [f"odata.maxpagesize={size}"]


def _encode_token(page: int, keys: list[tuple[str, bool]], first: Row, last: Row) -> str:
    # Like Dataverse's paging cookie: the first/last values of every sort column, primary key
    # last.  Values are JSON so their types survive for the keyset comparison.
    parts = "".join(
        f'<{name} last="{quote(json.dumps(last.get(name)), safe="")}" '
        f'first="{quote(json.dumps(first.get(name)), safe="")}" />'
        for name, _ in keys
    )
    inner = f'<cookie page="{page - 1}">{parts}</cookie>'
    return (
        f'<cookie pagenumber="{page}" pagingcookie="{quote(inner, safe="")}" istracking="False" />'
    )


def _decode_token(token: str, keys: list[tuple[str, bool]]) -> tuple[int, Row]:
    match = _COOKIE_RE.match(token)
    inner = unquote(match.group(2)) if match else ""
    found = dict(_PAGING_RE.findall(inner))
    invalid = bad_request(
        "The $skiptoken is not valid for this query. Follow @odata.nextLink exactly as "
        "returned, with the same $orderby and Prefer: odata.maxpagesize.",
        CODE_BAD_QUERY,
    )
    if match is None or not inner.startswith("<cookie page=") or set(found) != {n for n, _ in keys}:
        raise invalid
    try:
        last = {name: json.loads(unquote(found[name])) for name, _ in keys}
    except ValueError:
        raise invalid from None
    return int(match.group(1)), last


def _next_link(request: FakeRequest, token: str) -> str:
    base = request.url.split("?", 1)[0]
    kept = [
        f"{quote(k, safe='$@')}={quote(v, safe='')}" for k, v in request.query if k != "$skiptoken"
    ]
    kept.append(f"$skiptoken={quote(token, safe='')}")
    return base + "?" + "&".join(kept)


def _matching_rows(
    fake: FakeDataverse,
    request: FakeRequest,
    meta: Table,
    base: list[Row] | None = None,
) -> tuple[list[Row], list[tuple[str, bool]]]:
    rows = fake.store.rows(meta.logical_name) if base is None else base
    filter_text = request.query_value("$filter")
    if filter_text is not None:
        predicate = odata_eval.compile_filter(
            filter_text,
            meta,
            _aliases(request),
            accept_quoted_guid=fake.options.accept_quoted_guid_in_filter,
        )
        rows = [r for r in rows if predicate(r)]
    orderby_text = request.query_value("$orderby")
    keys: list[tuple[str, bool]] = []
    if orderby_text is not None:
        keys = [(k.column, k.descending) for k in odata_eval.parse_orderby(orderby_text, meta)]
    # The primary key breaks ties so pages are stable.
    keys.append((meta.primary_key, False))
    # The rows are already copies (``store.rows`` / the caller's ``base``).
    return odata_eval.sort_rows(rows, keys, meta), keys


def handle_collection(
    fake: FakeDataverse, request: FakeRequest, meta: Table, base: list[Row] | None = None
) -> FakeResponse:
    """``GET /<entityset>?…``: filter, sort, page and render (``base``: the candidate rows,
    for a collection-valued navigation such as ``accounts(<id>)/contact_customer_accounts``)."""
    _check_options(request, _COLLECTION_OPTIONS)
    options = fake.options
    select, expand = _select_expand(request, meta, options.max_expand, fake.schema.table)
    top_text = request.query_value("$top")
    top: int | None = None
    if top_text is not None:
        if not top_text.isdigit() or int(top_text) < 1:
            raise bad_request(
                f"Invalid value '{top_text}' for $top: use a positive whole number.",
                CODE_BAD_QUERY,
            )
        top = int(top_text)
    count_text = request.query_value("$count")
    if count_text not in (None, "true", "false"):
        raise bad_request(f"Invalid value '{count_text}' for $count: use true or false.")
    annotations, applied = _annotations(request)
    page_size, page_applied = parse_page_size(request, options.max_page_size)
    if top is not None and page_applied and options.top_with_maxpagesize == "ignore_top":
        top = None
    rows, keys = _matching_rows(fake, request, meta, base)
    total = len(rows)
    if top is not None:
        rows = rows[:top]
    start = 0
    page = 1
    token = request.query_value("$skiptoken")
    if token is not None:
        page, last = _decode_token(token, keys)
        # Keyset paging: continue after where the last row sent sorts now (it may be gone).
        marker: Row = dict(last)
        ordered = odata_eval.sort_rows([*rows, marker], keys, meta)
        start = next(i for i, r in enumerate(ordered) if r is marker)
    chunk = rows[start : start + page_size]
    root = service_root(request)
    body: dict[str, Any] = {"@odata.context": context_url(root, meta, select, entity=False)}
    if count_text == "true":
        body["@odata.count"] = min(total, options.max_count)
        if annotations is not None:
            if annotations("Microsoft.Dynamics.CRM.totalrecordcount"):
                body["@Microsoft.Dynamics.CRM.totalrecordcount"] = min(total, options.max_count)
            if annotations("Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"):
                body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = (
                    total > options.max_count
                )
    body["value"] = [
        render_entity(fake, meta, r, select=select, expand=expand, annotations=annotations)
        for r in chunk
    ]
    end = start + len(chunk)
    if end < len(rows) and chunk:
        next_token = _encode_token(page + 1, keys, chunk[0], chunk[-1])
        body["@odata.nextLink"] = _next_link(request, next_token)
    headers: dict[str, str] = {}
    if applied or page_applied:
        headers["Preference-Applied"] = ",".join(applied + page_applied)
    return FakeResponse.json_body(200, body, headers)


def handle_count(fake: FakeDataverse, request: FakeRequest, meta: Table) -> FakeResponse:
    """``GET /<entityset>/$count``: the row count as ``text/plain`` (capped like ``$count``)."""
    _check_options(request, {"$filter"})
    total = len(_matching_rows(fake, request, meta)[0])
    return FakeResponse(
        200,
        {"Content-Type": "text/plain", "OData-Version": "4.0"},
        str(min(total, fake.options.max_count)).encode(),
    )
