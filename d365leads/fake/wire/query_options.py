"""Query options on the wire: ``$select``, ``$expand``, allowed options, paging preferences.

Dataverse refuses ``$skip`` with 400; ``$apply``/``$search``/``$format``/``$levels``/``$compute``
answer 501.  ``$expand`` takes single-valued navigation properties with a nested ``$select``/
``$filter``/``$expand`` (``$orderby``/``$top`` -> the documented 400) or as ``<nav>/$ref``, and
collection-valued ones with nested ``$select``/``$filter``/``$orderby``/``$top``/``$expand`` (no
``$orderby``/``$top`` anywhere once a collection is nested, :func:`nests_collection`); the
table and relationship look-ups come from the caller (:class:`SchemaLookup`), so tenant columns
count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..core.fault import CODE_BAD_QUERY, FakeFault, bad_request, not_implemented
from ..core.values import split_top_level
from ..org.schema import Relationship, Table
from . import odata_eval
from .messages import FakeRequest
from .serialize import AnnotationFilter, NavigationName, annotation_filter

__all__ = [
    "COLLECTION_OPTIONS",
    "ENTITY_OPTIONS",
    "OTHER_READ_PARAMETERS",
    "PREDEFINED_QUERY_OPTIONS",
    "UNIMPLEMENTED_PARAMETERS",
    "Expand",
    "SchemaLookup",
    "aliases",
    "annotation_preference",
    "check_options",
    "check_parameter",
    "entity_options",
    "nested_context",
    "nests_collection",
    "parse_expand",
    "parse_page_size",
    "select_expand",
    "unsupported_parameter",
]

COLLECTION_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken"}
ENTITY_OPTIONS = {"$select", "$expand"}
UNIMPLEMENTED_PARAMETERS = {"sql": "Dataverse's SQL query endpoint"}
"""Non-``$`` query parameters Dataverse knows and the fake does not implement (501)."""
PREDEFINED_QUERY_OPTIONS = ("fetchXml", "savedQuery", "userQuery")
"""Options that run a FetchXML query or a saved view on ``GET /<set>`` (``handlers.fetch``)."""
OTHER_READ_PARAMETERS = frozenset(PREDEFINED_QUERY_OPTIONS)
"""Parameters answered by a special read of the router's ``COLLECTION_READS``."""


class SchemaLookup(Protocol):
    """The tables and relationships a query may name (the org's tenant schema)."""

    def table(self, logical_name: str) -> Table:
        """The table ``logical_name`` (``KeyError`` when unknown)."""
        ...

    def relationship(self, referenced: str, name: str) -> Relationship | None:
        """The collection-valued navigation ``name`` of table ``referenced``, or ``None``."""
        ...


@dataclass(frozen=True)
class Expand:
    """One ``$expand`` item.

    Single-valued: ``column`` is the lookup of the expanded row, ``target`` its table;
    ``ref`` for ``<nav>/$ref`` (the reference only); ``predicate`` from a nested ``$filter``
    (a related row that does not match expands as ``null``); ``expand`` the nested items.
    Collection-valued (``collection`` set): the ``target`` rows whose ``column`` points back,
    filtered, ordered and cut by the nested options; ``options`` is the nested option text
    (``$select=subject``) that the ``<nav>@odata.nextLink`` repeats.
    """

    navigation: str
    column: str
    target: str
    select: list[str] | None
    collection: bool = False
    predicate: odata_eval.Predicate | None = None
    order: tuple[tuple[str, bool], ...] = ()
    top: int | None = None
    ref: bool = False
    expand: tuple[Expand, ...] = ()
    options: str = ""
    context: tuple[str, ...] = ()


def nested_context(target: Table, select: list[str] | None, items: Iterable[Expand]) -> list[str]:
    """The names an expansion lists in ``@odata.context`` (``fullname,createdby(fullname)``):
    the selected properties (lookups as ``_x_value``), then each nested expansion."""
    names = []
    for name in select or []:
        column = target.column(name)
        names.append(column.value_property if column is not None else name)
    for item in items:
        if item.ref:
            names.extend([NavigationName(item.navigation), f"{item.navigation}/$ref()"])
        else:
            names.append(f"{item.navigation}({','.join(item.context)})")
    return names


@dataclass
class _Nested:
    select: list[str] | None = None
    predicate: odata_eval.Predicate | None = None
    order: tuple[tuple[str, bool], ...] = ()
    top: int | None = None
    expand: tuple[Expand, ...] = ()


# The documented answer for $orderby/$top inside a many-to-one (single-valued) $expand.
_SINGLE_VALUED_ONLY = (
    "Only $select and $filter clause can be provided while doing $expand on many-to-one "
    "relationship or nested one-to-many relationship."
)
_REF_ON_COLLECTION = "Expand with $ref is only supported on lookup type navigation property."


@dataclass(frozen=True)
class _FilterScope:
    """What a nested ``$filter`` reads besides its text: the request's parameter aliases (they
    hold for the whole query string) and the org's query environment (lookup paths, clock)."""

    aliases: Mapping[str, str]
    env: odata_eval.QueryEnv | None


def _expand_options(
    text: str,
    body: str,
    target: Table,
    *,
    collection: bool,
    schema: SchemaLookup,
    depth: int,
    scope: _FilterScope,
) -> _Nested:
    nested = _Nested()
    for option in split_top_level(body, ";") if body.strip() else []:
        name, _, value = option.strip().partition("=")
        name, value = name.strip(), value.strip()
        if name == "$select":
            nested.select = odata_eval.parse_select(value, target)
        elif name in ("$orderby", "$top") and not collection:
            raise bad_request(_SINGLE_VALUED_ONLY, CODE_BAD_QUERY)
        elif name == "$filter":
            nested.predicate = odata_eval.compile_filter(
                value, target, scope.aliases, env=scope.env
            )
        elif name == "$orderby":
            nested.order = tuple(
                (k.column, k.descending) for k in odata_eval.parse_orderby(value, target)
            )
        elif name == "$top":
            if not value.isdigit() or int(value) < 1:
                raise bad_request(f"Invalid $top '{value}' inside $expand.", CODE_BAD_QUERY)
            nested.top = int(value)
        elif name == "$expand":
            nested.expand = tuple(
                _parse_items(value, target, schema=schema, depth=depth + 1, scope=scope)
            )
        else:
            raise bad_request(
                f"The query option '{name}' is not supported inside $expand '{text}'.",
                CODE_BAD_QUERY,
            )
    return nested


def _parse_items(
    text: str, meta: Table, *, schema: SchemaLookup, depth: int, scope: _FilterScope
) -> list[Expand]:
    if depth > _MAX_DEPTH:
        raise bad_request(f"$expand is nested more than {_MAX_DEPTH} levels deep.", CODE_BAD_QUERY)
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
        ref = nav.endswith("/$ref")
        if ref:
            nav = nav[: -len("/$ref")]
            if paren:
                raise bad_request(
                    f"'{nav}/$ref' in $expand '{text}' takes no nested options.", CODE_BAD_QUERY
                )
        resolved = meta.navigation(nav)
        relationship = schema.relationship(meta.logical_name, nav)
        if resolved is not None:
            column, target = resolved
            nested = _expand_options(
                text,
                body,
                schema.table(target),
                collection=False,
                schema=schema,
                depth=depth,
                scope=scope,
            )
            items.append(
                Expand(
                    nav,
                    column.name,
                    target,
                    nested.select,
                    predicate=nested.predicate,
                    ref=ref,
                    expand=nested.expand,
                    context=tuple(
                        nested_context(schema.table(target), nested.select, nested.expand)
                    ),
                )
            )
        elif relationship is not None:
            if ref:
                raise bad_request(_REF_ON_COLLECTION, CODE_BAD_QUERY)
            nested = _expand_options(
                text,
                body,
                schema.table(relationship.referencing),
                collection=True,
                schema=schema,
                depth=depth,
                scope=scope,
            )
            items.append(
                Expand(
                    nav,
                    relationship.column,
                    relationship.referencing,
                    nested.select,
                    collection=True,
                    predicate=nested.predicate,
                    order=nested.order,
                    top=nested.top,
                    expand=nested.expand,
                    options=body,
                    context=tuple(
                        nested_context(
                            schema.table(relationship.referencing), nested.select, nested.expand
                        )
                    ),
                )
            )
        else:
            raise FakeFault(
                400,
                CODE_BAD_QUERY,
                f"Could not find a property named '{nav}' on type '{meta.type_name}'.",
            )
    return items


# Nested $expand depth the fake follows (the join-tables page shows three levels).
_MAX_DEPTH = 10


def parse_expand(
    text: str,
    meta: Table,
    *,
    max_expand: int = 15,
    schema: SchemaLookup,
    aliases: Mapping[str, str] | None = None,
    env: odata_eval.QueryEnv | None = None,
) -> list[Expand]:
    """Parse ``$expand`` (``parentaccountid($select=name),contact_customer_accounts``,
    ``primarycontactid/$ref``, ``primarycontactid($select=fullname;$expand=createdby)``).

    ``schema`` resolves target tables and relationships (the org's, so tenant columns count);
    nested ``$filter``s read the query's parameter ``aliases`` and the org's ``env``.
    """
    scope = _FilterScope(aliases or {}, env)
    items = _parse_items(text, meta, schema=schema, depth=0, scope=scope)
    joins = _count_items(items)
    if joins > max_expand:
        # "You can include up to 15 $expand options in a query. Each $expand option creates a
        # join" (join-tables page): nested items are joins too.
        raise bad_request(
            f"The $expand has {joins} items (nested ones included); Dataverse allows at most "
            f"{max_expand}.",
            CODE_BAD_QUERY,
        )
    if nests_collection(items) and any(
        i.order or i.top is not None for i in _walk(items) if i.collection
    ):
        # With a nested $expand anywhere, the expanded collections are paged and take no
        # $orderby/$top (join-tables page, "Nested $expand on collection-valued navigation
        # properties").
        raise bad_request(_SINGLE_VALUED_ONLY, CODE_BAD_QUERY)
    return items


def _walk(items: Iterable[Expand]) -> Iterator[Expand]:
    for item in items:
        yield item
        yield from _walk(item.expand)


def _count_items(items: Iterable[Expand]) -> int:
    return sum(1 for _ in _walk(items))


def nests_collection(items: Iterable[Expand], *, inside: bool = False) -> bool:
    """Whether ``$expand`` uses a nested ``$expand`` with a collection-valued navigation: a
    collection expanded with a ``$expand`` inside it, or inside another expansion.

    Dataverse then pages every expanded collection (``Prefer: odata.maxpagesize`` applies to
    each, and ``<nav>@odata.nextLink`` carries a ``$skiptoken``) and refuses ``$orderby``/
    ``$top`` inside them (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables).
    """
    for item in items:
        if item.collection and (inside or item.expand):
            return True
        if nests_collection(item.expand, inside=True):
            return True
    return False


def aliases(request: FakeRequest) -> dict[str, str]:
    """The parameter aliases (``@p1=…``) of the query string."""
    return {name: value for name, value in request.query if name.startswith("@")}


def check_options(request: FakeRequest, allowed: set[str]) -> None:
    """Refuse query parameters the read does not take; none is ignored in silence.

    ``$skip`` -> 400 (as Dataverse); ``$apply``/``$search``/… and the known non-``$``
    parameters the fake lacks (:data:`UNIMPLEMENTED_PARAMETERS`) -> 501 naming them; any other
    parameter not in ``allowed`` (a ``$`` option or not) -> 400 "The query parameter <name> is
    not supported", Dataverse's answer to an unknown parameter
    (https://github.com/rappen/FetchXMLBuilder/issues/437).  Parameter aliases (``@p``) and the
    parameters of other reads (:data:`OTHER_READ_PARAMETERS`) pass.
    """
    for name, _ in request.query:
        if name.startswith("@") or name in OTHER_READ_PARAMETERS:
            continue
        if name == "$skip":
            raise bad_request(
                "The query parameter $skip is not supported. Use paging with "
                "Prefer: odata.maxpagesize and @odata.nextLink instead.",
                CODE_BAD_QUERY,
            )
        if name in ("$apply", "$search", "$format", "$levels", "$compute"):
            raise not_implemented(f"the {name} query option")
        if not name.startswith("$"):
            check_parameter(name)
        elif name not in allowed:
            raise unsupported_parameter(name)


def check_parameter(name: str) -> None:
    """Refuse a non-``$`` query parameter (aliases and other reads' parameters pass): 501 for
    the ones Dataverse knows and the fake lacks, else 400 as Dataverse answers."""
    if name.startswith(("@", "$")) or name in OTHER_READ_PARAMETERS:
        return
    feature = UNIMPLEMENTED_PARAMETERS.get(name)
    if feature is not None:
        raise not_implemented(f"the {name} query parameter ({feature})")
    raise unsupported_parameter(name)


def unsupported_parameter(name: str) -> FakeFault:
    """Dataverse's 400 for a query parameter it does not take (code ``0x0``, as it answers)."""
    return FakeFault(400, "0x0", f"The query parameter {name} is not supported")


def annotation_preference(
    request: FakeRequest,
) -> tuple[AnnotationFilter | None, list[str]]:
    """The ``odata.include-annotations`` filter and its ``Preference-Applied`` entry."""
    prefer = request.prefer()
    value = prefer.get("odata.include-annotations")
    applied = [f'odata.include-annotations="{value}"'] if value is not None else []
    return annotation_filter(value), applied


def entity_options(
    request: FakeRequest,
    meta: Table,
    max_expand: int,
    *,
    schema: SchemaLookup,
    env: odata_eval.QueryEnv | None = None,
) -> tuple[list[str] | None, list[Expand]]:
    """``$select`` and ``$expand`` of a single-entity request."""
    check_options(request, ENTITY_OPTIONS)
    return select_expand(request, meta, max_expand, schema, env)


def select_expand(
    request: FakeRequest,
    meta: Table,
    max_expand: int,
    schema: SchemaLookup,
    env: odata_eval.QueryEnv | None = None,
) -> tuple[list[str] | None, list[Expand]]:
    """``$select`` and ``$expand`` of a request (any collection or entity read); ``env`` lets
    a nested ``$filter`` follow lookup paths and use the org's clock."""
    select_text = request.query_value("$select")
    select = odata_eval.parse_select(select_text, meta) if select_text is not None else None
    expand_text = request.query_value("$expand")
    expand = (
        parse_expand(
            expand_text,
            meta,
            max_expand=max_expand,
            schema=schema,
            aliases=aliases(request),
            env=env,
        )
        if expand_text
        else []
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
