"""FetchXML text -> :class:`~.nodes.Fetch`, refusing what Dataverse refuses.

Malformed XML, a root other than ``<fetch>`` or a missing ``<entity>`` is ``Invalid XML.``;
an element or attribute that FetchXML has but this engine does not implement raises
:class:`~.errors.FetchXmlUnsupported` naming it. Presentation-only attributes that saved
views carry (``version``, ``output-format``, ``mapping``, ``uiname``, ...) are accepted and
ignored.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Collection

from .errors import (
    CODE_INVALID_ARGUMENT,
    CODE_INVALID_OPERATOR,
    FetchXmlError,
    FetchXmlUnsupported,
    invalid_xml,
)
from .nodes import Attribute, Condition, Fetch, Filter, LinkEntity, Order, Source

__all__ = ["OPERATORS", "parse"]

#: Condition operators the engine evaluates (the subset SUPPORTED.md lists).
OPERATORS: frozenset[str] = frozenset(
    {
        "eq", "ne", "neq", "gt", "ge", "lt", "le",
        "like", "not-like", "begins-with", "ends-with",
        "in", "not-in", "null", "not-null",
        "eq-userid", "ne-userid", "eq-businessid",
        "on", "on-or-after", "on-or-before",
        "last-x-days", "next-x-days", "last-x-months", "this-year", "older-than-x-months",
    }
)  # fmt: skip

#: Operators Dataverse knows that this engine does not evaluate (answered 501, not 400).
KNOWN_UNSUPPORTED: frozenset[str] = frozenset(
    {
        "between", "not-between", "yesterday", "today", "tomorrow", "last-seven-days",
        "next-seven-days", "last-week", "this-week", "next-week", "last-month", "this-month",
        "next-month", "last-year", "next-year", "last-x-hours", "next-x-hours",
        "last-x-weeks", "next-x-weeks", "next-x-months", "last-x-years", "next-x-years",
        "olderthan-x-months", "olderthan-x-years", "olderthan-x-weeks", "olderthan-x-days",
        "olderthan-x-hours", "olderthan-x-minutes", "eq-userteams", "eq-useroruserteams",
        "eq-useroruserhierarchy", "eq-useroruserhierarchyandteams", "eq-userlanguage",
        "under", "eq-or-under", "not-under", "above", "eq-or-above", "contain-values",
        "not-contain-values", "in-fiscal-year", "in-fiscal-period", "this-fiscal-year",
        "this-fiscal-period", "next-fiscal-year", "last-fiscal-year", "in-or-after-fiscal-period",
        "in-or-before-fiscal-period", "not-on", "not-begin-with", "not-end-with",
        "in-fiscal-period-and-year", "last-fiscal-period", "next-fiscal-period",
        "next-x-fiscal-years", "last-x-fiscal-years", "next-x-fiscal-periods",
        "last-x-fiscal-periods", "ne-businessid",
    }
)  # fmt: skip

_IGNORED = frozenset({"uiname", "uitype", "uihidden", "visible", "intersect", "usertimezone"})
_FETCH_ATTRS = frozenset(
    {
        "version", "output-format", "mapping", "distinct", "no-lock", "count", "page",
        "paging-cookie", "top", "aggregate", "aggregatelimit",
    }
)  # fmt: skip
_ATTRIBUTE_ATTRS = frozenset({"name", "alias", "aggregate", "groupby", "distinct"})
_AGGREGATES = frozenset({"count", "countcolumn", "sum", "avg", "min", "max"})


def parse(text: str) -> Fetch:
    """Parse FetchXML ``text``; raises :class:`~.errors.FetchXmlError` when Dataverse would."""
    if not isinstance(text, str) or not text.strip():
        raise invalid_xml()
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        raise invalid_xml() from None
    if root.tag != "fetch":
        raise invalid_xml()
    _check_attributes(root, _FETCH_ATTRS)
    entities = [child for child in root if child.tag == "entity"]
    others = [child for child in root if child.tag != "entity"]
    if others:
        raise FetchXmlUnsupported(f"element <{others[0].tag}> inside <fetch>")
    if len(entities) != 1:
        raise invalid_xml()
    top = _int(root, "top", minimum=1)
    count = _int(root, "count", minimum=1)
    page = _int(root, "page", minimum=1)
    if top is not None and (count is not None or page is not None):
        raise FetchXmlError(
            CODE_INVALID_ARGUMENT,
            "The top attribute can't be used together with the count or page attributes.",
        )
    counters: dict[str, int] = {}
    return Fetch(
        entity=_source(entities[0], counters, link=False),
        top=top,
        count=count,
        page=page,
        paging_cookie=root.get("paging-cookie") or None,
        distinct=_bool(root, "distinct"),
        aggregate=_bool(root, "aggregate"),
        aggregate_limit=_int(root, "aggregatelimit", minimum=1),
    )


def _source(element: ET.Element, counters: dict[str, int], *, link: bool) -> Source:
    name = element.get("name")
    if not name:
        raise invalid_xml()
    allowed = {"name", "from", "to", "link-type", "alias"} if link else {"name"}
    _check_attributes(element, allowed)
    attributes: list[Attribute] = []
    orders: list[Order] = []
    filters: list[Filter] = []
    links: list[LinkEntity] = []
    all_attributes = False
    for child in element:
        if child.tag == "attribute":
            attributes.append(_attribute(child))
        elif child.tag == "all-attributes":
            _check_attributes(child, ())
            all_attributes = True
        elif child.tag == "order":
            orders.append(_order(child))
        elif child.tag == "filter":
            filters.append(_filter(child))
        elif child.tag == "link-entity":
            links.append(_link(child, counters))
        else:
            raise FetchXmlUnsupported(f"element <{child.tag}> inside <{element.tag}>")
    parts = {
        "name": name,
        "attributes": tuple(attributes),
        "all_attributes": all_attributes,
        "orders": tuple(orders),
        "filters": tuple(filters),
        "links": tuple(links),
    }
    if not link:
        return Source(**parts)  # type: ignore[arg-type]
    link_type = element.get("link-type", "inner")
    if link_type not in ("inner", "outer"):
        raise FetchXmlUnsupported(f"link-type '{link_type}'")
    source_from, source_to = element.get("from"), element.get("to")
    if not source_from or not source_to:
        raise FetchXmlUnsupported("link-entity without both 'from' and 'to'")
    alias = element.get("alias")
    if not alias:
        # Without an alias Dataverse names the columns after the table and a counter
        # (UNCONFIRMED for the Web API; the SDK shows "contact1.fullname").
        counters[name] = counters.get(name, 0) + 1
        alias = f"{name}{counters[name]}"
    return LinkEntity(
        **parts,  # type: ignore[arg-type]
        from_attribute=source_from,
        to_attribute=source_to,
        link_type=link_type,  # type: ignore[arg-type]
        alias=alias,
    )


def _link(element: ET.Element, counters: dict[str, int]) -> LinkEntity:
    source = _source(element, counters, link=True)
    assert isinstance(source, LinkEntity)
    return source


def _attribute(element: ET.Element) -> Attribute:
    if element.get("dategrouping") is not None:
        raise FetchXmlUnsupported("attribute 'dategrouping'")
    if element.get("rowaggregate") is not None:
        raise FetchXmlUnsupported("attribute 'rowaggregate'")
    _check_attributes(element, _ATTRIBUTE_ATTRS)
    name = element.get("name")
    if not name:
        raise invalid_xml()
    aggregate = element.get("aggregate")
    if aggregate is not None and aggregate not in _AGGREGATES:
        raise FetchXmlUnsupported(f"aggregate '{aggregate}'")
    return Attribute(
        name=name,
        alias=element.get("alias") or None,
        aggregate=aggregate,
        groupby=_bool(element, "groupby"),
        distinct=_bool(element, "distinct"),
    )


def _order(element: ET.Element) -> Order:
    _check_attributes(element, {"attribute", "alias", "descending"})
    attribute, alias = element.get("attribute"), element.get("alias")
    if bool(attribute) == bool(alias):
        raise invalid_xml()
    return Order(attribute=attribute, alias=alias, descending=_bool(element, "descending"))


def _filter(element: ET.Element) -> Filter:
    _check_attributes(element, {"type", "isquickfindfields"})
    kind = element.get("type", "and")
    if kind not in ("and", "or"):
        raise FetchXmlError(CODE_INVALID_ARGUMENT, f"The filter type '{kind}' is not valid.")
    items: list[Condition | Filter] = []
    for child in element:
        if child.tag == "condition":
            items.append(_condition(child))
        elif child.tag == "filter":
            items.append(_filter(child))
        else:
            raise FetchXmlUnsupported(f"element <{child.tag}> inside <filter>")
    return Filter(type=kind, items=tuple(items))  # type: ignore[arg-type]


def _condition(element: ET.Element) -> Condition:
    for feature in ("valueof", "column", "aggregate", "rowaggregate", "alias"):
        if element.get(feature) is not None:
            raise FetchXmlUnsupported(f"condition attribute '{feature}'")
    _check_attributes(element, {"attribute", "operator", "value", "entityname"})
    attribute, operator = element.get("attribute"), element.get("operator")
    if not attribute or not operator:
        raise invalid_xml()
    if operator not in OPERATORS:
        if operator in KNOWN_UNSUPPORTED:
            raise FetchXmlUnsupported(f"condition operator '{operator}'")
        raise FetchXmlError(
            CODE_INVALID_OPERATOR, f"The condition operator '{operator}' is not valid."
        )
    values: list[str] = []
    if element.get("value") is not None:
        values.append(element.get("value", ""))
    for child in element:
        if child.tag != "value":
            raise FetchXmlUnsupported(f"element <{child.tag}> inside <condition>")
        _check_attributes(child, ())
        values.append(child.text or "")
    return Condition(
        attribute=attribute,
        operator=operator,
        values=tuple(values),
        entityname=element.get("entityname") or None,
    )


def _check_attributes(element: ET.Element, allowed: Collection[str]) -> None:
    for name in element.attrib:
        if name not in allowed and name not in _IGNORED:
            raise FetchXmlUnsupported(f"attribute '{name}' on <{element.tag}>")


def _bool(element: ET.Element, name: str) -> bool:
    value = element.get(name)
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise FetchXmlError(
        CODE_INVALID_ARGUMENT, f"The value '{value}' of '{name}' on <{element.tag}> is not a bool."
    )


def _int(element: ET.Element, name: str, *, minimum: int) -> int | None:
    value = element.get(name)
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise FetchXmlError(
            CODE_INVALID_ARGUMENT,
            f"The value '{value}' of '{name}' on <{element.tag}> must be a whole number "
            f"of at least {minimum}.",
        )
    return number
