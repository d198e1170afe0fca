"""FetchXML queries over the Web API: ``GET <entityset>?fetchXml=...``, paged by cookie.

The XML is checked before anything is sent (well-formed, one ``<fetch>`` with one
``<entity name=...>``, a table that matches the entity set), so a typo costs no request.
Pages are read one at a time: each response's ``@Microsoft.Dynamics.CRM.fetchxmlpagingcookie``
is an element whose ``pagingcookie`` attribute, URL-decoded twice, goes back as the
``paging-cookie`` attribute of ``<fetch>`` together with the next ``page``, while
``@Microsoft.Dynamics.CRM.morerecords`` is true. Without a cookie (some queries have none)
the next page is asked for by number.
(https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results)

Rows are returned as Dataverse sends them: ``alias.column`` keys for link-entity columns,
aggregate aliases, formatted-value annotations; null columns are absent.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

from d365leads import _wire
from d365leads.errors import DataverseError, InvalidInputError
from d365leads.http.pipeline import ApiSession

__all__ = [
    "ANNOTATION_MORE_RECORDS",
    "ANNOTATION_PAGING_COOKIE",
    "MAX_URL_LENGTH",
    "FetchPage",
    "check_fetchxml",
    "fetch_entity",
    "iter_fetch_pages",
    "next_paging_cookie",
]

ANNOTATION_PAGING_COOKIE = "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
ANNOTATION_MORE_RECORDS = "@Microsoft.Dynamics.CRM.morerecords"
#: The paging annotations only (asked for when formatted values are not wanted).
PREFER_PAGING_ANNOTATIONS = (
    'odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,'
    'Microsoft.Dynamics.CRM.morerecords"'
)
#: Longest URL sent; Dataverse refuses longer GETs (the limit inside $batch is 32,768).
MAX_URL_LENGTH = 32_768
_MAX_PAGE_SIZE = 5000


class FetchPage:
    """One page of a FetchXML query: its rows, and the annotations of the response."""

    __slots__ = ("more_records", "number", "paging_cookie", "rows")

    def __init__(
        self, rows: list[dict[str, Any]], number: int, more: bool, cookie: str | None
    ) -> None:
        self.rows = rows
        self.number = number
        self.more_records = more
        self.paging_cookie = cookie

    def __repr__(self) -> str:
        return f"FetchPage(number={self.number}, rows={len(self.rows)}, more={self.more_records})"


def check_fetchxml(xml: str) -> ET.Element:
    """Parse ``xml`` as FetchXML; :class:`InvalidInputError` naming the line if it is not.

    :returns: the ``<fetch>`` element.
    """
    if not isinstance(xml, str) or not xml.strip():
        raise InvalidInputError("the FetchXML is empty; expected <fetch><entity name='...'>")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        line, column = exc.position
        raise InvalidInputError(
            f"the FetchXML is not well-formed XML at line {line}, column {column + 1}: "
            f"{_reason(exc)}; nothing was sent"
        ) from None
    if root.tag != "fetch":
        raise InvalidInputError(
            f"the FetchXML root element is <{root.tag}>, expected <fetch>; nothing was sent"
        )
    entities = [child for child in root if child.tag == "entity"]
    if len(entities) != 1 or not entities[0].get("name"):
        raise InvalidInputError(
            "the FetchXML needs exactly one <entity name='...'> inside <fetch>; nothing was sent"
        )
    return root


def _reason(exc: ET.ParseError) -> str:
    # "mismatched tag: line 3, column 4" -> "mismatched tag" (the position is given apart)
    return str(exc).split(":")[0]


def fetch_entity(root: ET.Element) -> str:
    """The logical name of the table a checked ``<fetch>`` queries."""
    entity = root.find("entity")
    assert entity is not None
    return entity.get("name", "")


def next_paging_cookie(annotation: str) -> str:
    """The ``paging-cookie`` value for the next request, from the cookie annotation."""
    try:
        element = ET.fromstring(annotation)
    except ET.ParseError:
        raise DataverseError(
            f"{ANNOTATION_PAGING_COOKIE} is not an XML element: {annotation[:200]!r}"
        ) from None
    value = element.get("pagingcookie")
    if value is None:
        raise DataverseError(f"{ANNOTATION_PAGING_COOKIE} has no pagingcookie attribute")
    return unquote(unquote(value))


def iter_fetch_pages(
    session: ApiSession,
    entity_set: str,
    root: ET.Element,
    *,
    page_size: int | None = None,
    annotations: bool = True,
    first: Mapping[str, str] | None = None,
) -> Iterator[FetchPage]:
    """Send a checked ``<fetch>`` page by page (the element is copied, never changed).

    ``first`` replaces the parameters of the first request (``{"savedQuery": id}`` runs a
    view whose FetchXML is ``root``); the following pages send the FetchXML with the cookie.
    An ``@odata.nextLink`` in a response (not documented for FetchXML, possible for a
    predefined query) is followed as it is.
    """
    fetch = _copy(root)
    paged = fetch.get("top") is None
    if paged:
        if page_size is not None:
            if not 1 <= page_size <= _MAX_PAGE_SIZE:
                raise InvalidInputError(
                    f"page_size must be between 1 and {_MAX_PAGE_SIZE}, got {page_size}"
                )
            fetch.set("count", str(page_size))
        fetch.set("page", fetch.get("page") or "1")
    prefer = [_wire.PREFER_INCLUDE_ALL_ANNOTATIONS if annotations else PREFER_PAGING_ANNOTATIONS]
    params: Mapping[str, str] | None = first
    path = entity_set
    while True:
        number = int(fetch.get("page") or 1)
        if params is None:
            params = {"fetchXml": ET.tostring(fetch, encoding="unicode")}
            url = session.build_url(entity_set, params)
            if len(url) > MAX_URL_LENGTH:
                raise InvalidInputError(
                    f"the FetchXML makes a URL of {len(url)} characters; Dataverse takes at "
                    f"most {MAX_URL_LENGTH}. Shorten the query (fewer columns or values)"
                )
        body = session.get_json(path, params=params, prefer=prefer)
        rows = body.get("value")
        if not isinstance(rows, list):
            raise DataverseError(f"GET {entity_set}?fetchXml: the response has no 'value' list")
        more = body.get(ANNOTATION_MORE_RECORDS) is True
        cookie = body.get(ANNOTATION_PAGING_COOKIE)
        yield FetchPage(rows, number, more, cookie if isinstance(cookie, str) else None)
        next_link = body.get(_wire.ODATA_NEXT_LINK)
        if isinstance(next_link, str) and next_link:
            path, params = next_link, {}
            fetch.set("page", str(number + 1))
            continue
        path = entity_set
        if not (paged and more):
            return
        if not rows:
            raise DataverseError(
                f"GET {entity_set}?fetchXml: page {number} is empty but says more records follow"
            )
        if isinstance(cookie, str):
            value = next_paging_cookie(cookie)
            if value == fetch.get("paging-cookie"):
                # the server sent back the cookie it was given: it would loop for ever
                raise DataverseError(
                    f"GET {entity_set}?fetchXml: page {number} returned the paging cookie of "
                    "the page before; stopping instead of reading the same rows again"
                )
            fetch.set("paging-cookie", value)
        else:
            fetch.attrib.pop("paging-cookie", None)
        fetch.set("page", str(number + 1))
        params = None


def _copy(root: ET.Element) -> ET.Element:
    return ET.fromstring(ET.tostring(root, encoding="unicode"))
