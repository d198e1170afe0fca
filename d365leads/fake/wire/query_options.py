"""Query options on the wire: ``$select``, ``$expand``, allowed options, paging preferences.

Dataverse refuses ``$skip`` with 400; ``$apply``/``$search``/``$format``/``$levels``/``$compute``
answer 501.  ``$expand`` takes single-valued navigation properties with a nested ``$select``
and collection-valued ones with nested ``$select``/``$filter``/``$orderby``/``$top``; the table
and relationship look-ups come from the caller (:class:`SchemaLookup`), so tenant columns count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..core.fault import CODE_BAD_QUERY, FakeFault, bad_request, not_implemented
from ..core.values import split_top_level
from ..org.schema import Relationship, Table
from . import odata_eval
from .messages import FakeRequest
from .serialize import AnnotationFilter, annotation_filter

__all__ = [
    "COLLECTION_OPTIONS",
    "ENTITY_OPTIONS",
    "PREDEFINED_QUERY_OPTIONS",
    "Expand",
    "SchemaLookup",
    "aliases",
    "annotation_preference",
    "check_options",
    "entity_options",
    "parse_expand",
    "parse_page_size",
    "select_expand",
]

COLLECTION_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken"}
ENTITY_OPTIONS = {"$select", "$expand"}
PREDEFINED_QUERY_OPTIONS = ("fetchXml", "savedQuery", "userQuery")
"""Options that run a FetchXML query or a saved view on ``GET /<set>`` (``handlers.fetch``)."""


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
    text: str, meta: Table, *, max_expand: int = 15, schema: SchemaLookup
) -> list[Expand]:
    """Parse ``$expand`` (``parentaccountid($select=name),contact_customer_accounts``).

    ``schema`` resolves target tables and relationships (the org's, so tenant columns count).
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
        relationship = schema.relationship(meta.logical_name, nav)
        if resolved is not None:
            column, target = resolved
            select, _, _, _ = _expand_options(text, body, schema.table(target), collection=False)
            items.append(Expand(nav, column.name, target, select))
        elif relationship is not None:
            target_meta = schema.table(relationship.referencing)
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


def aliases(request: FakeRequest) -> dict[str, str]:
    """The parameter aliases (``@p1=…``) of the query string."""
    return {name: value for name, value in request.query if name.startswith("@")}


def check_options(request: FakeRequest, allowed: set[str]) -> None:
    """Refuse ``$skip`` (400), unimplemented options (501) and options not in ``allowed``."""
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


def annotation_preference(
    request: FakeRequest,
) -> tuple[AnnotationFilter | None, list[str]]:
    """The ``odata.include-annotations`` filter and its ``Preference-Applied`` entry."""
    prefer = request.prefer()
    value = prefer.get("odata.include-annotations")
    applied = [f'odata.include-annotations="{value}"'] if value is not None else []
    return annotation_filter(value), applied


def entity_options(
    request: FakeRequest, meta: Table, max_expand: int, *, schema: SchemaLookup
) -> tuple[list[str] | None, list[Expand]]:
    """``$select`` and ``$expand`` of a single-entity request."""
    check_options(request, ENTITY_OPTIONS)
    return select_expand(request, meta, max_expand, schema)


def select_expand(
    request: FakeRequest, meta: Table, max_expand: int, schema: SchemaLookup
) -> tuple[list[str] | None, list[Expand]]:
    """``$select`` and ``$expand`` of a request (any collection or entity read)."""
    select_text = request.query_value("$select")
    select = odata_eval.parse_select(select_text, meta) if select_text is not None else None
    expand_text = request.query_value("$expand")
    expand = (
        parse_expand(expand_text, meta, max_expand=max_expand, schema=schema) if expand_text else []
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
