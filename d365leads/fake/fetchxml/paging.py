"""Pages of a FetchXML result: ``top``, ``count``/``page`` and the paging cookie.

The cookie Dataverse returns in ``@Microsoft.Dynamics.CRM.fetchxmlpagingcookie`` is
``<cookie pagenumber="N+1" pagingcookie="..." istracking="False" />`` where ``pagingcookie`` is
the page's own cookie, URL-encoded twice: ``<cookie page="N"><col last=".." first=".."/>...
<pk last="{GUID}" first="{GUID}"/></cookie>`` with one element per sort column and the
primary key last. The client sends it back, decoded, as ``paging-cookie`` with ``page=N+1``;
the next page starts after the cookie's ``last`` values, so rows deleted or added meanwhile
neither repeat nor skip rows. A cookie for another page than ``page - 1`` is ignored (simple
paging by offset), as documented.
(https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "CookieColumn",
    "PageSlice",
    "build_cookie",
    "read_cookie",
    "slice_page",
]

DEFAULT_PAGE_SIZE = 5000

_ESCAPE = re.compile(r"%[0-9A-F]{2}")


@dataclass(frozen=True)
class CookieColumn:
    """One sort column of a cookie: its name and how to read a row's value of it."""

    name: str
    raw: Callable[[Any], Any]
    """The row's stored value (written into the cookie)."""
    parse: Callable[[str | None], Any]
    """Cookie text back to a comparable value."""


@dataclass(frozen=True)
class PageSlice:
    """Rows of one page, whether more follow, and the cookie for the next page."""

    rows: list[Any]
    more_records: bool
    paging_cookie: str | None


def _encode(text: str) -> str:
    # Dataverse escapes every reserved character, with lower-case hex digits.
    return _ESCAPE.sub(lambda match: match.group(0).lower(), quote(text, safe=""))


def build_cookie(page: int, first: Any, last: Any, columns: Sequence[CookieColumn]) -> str:
    """The ``fetchxmlpagingcookie`` annotation for ``page`` (rows ``first`` .. ``last``)."""
    cookie = ET.Element("cookie", {"page": str(page)})
    for column in columns:
        attrs: dict[str, str] = {}
        for end, row in (("last", last), ("first", first)):
            value = column.raw(row)
            if value is not None:
                attrs[end] = str(value)
        ET.SubElement(cookie, column.name, attrs)
    inner = ET.tostring(cookie, encoding="unicode")
    outer = ET.Element(
        "cookie",
        {
            "pagenumber": str(page + 1),
            "pagingcookie": _encode(_encode(inner)),
            "istracking": "False",
        },
    )
    return ET.tostring(outer, encoding="unicode")


def read_cookie(text: str, page: int, columns: Sequence[CookieColumn]) -> tuple[Any, ...] | None:
    """The sort key after which ``page`` starts, or ``None`` if the cookie does not apply.

    It applies when it describes page ``page - 1`` of a query sorted the same way.
    """
    try:
        cookie = ET.fromstring(text)
    except ET.ParseError:
        return None
    if cookie.tag != "cookie" or cookie.get("page") != str(page - 1):
        return None
    elements = list(cookie)
    if [element.tag for element in elements] != [column.name for column in columns]:
        return None
    try:
        return tuple(
            column.parse(element.get("last"))
            for column, element in zip(columns, elements, strict=True)
        )
    except (ValueError, ArithmeticError):
        return None


def slice_page(
    rows: Sequence[Any],
    *,
    top: int | None,
    count: int | None,
    page: int | None,
    start_after: Callable[[], int] | None,
    cookie: Callable[[int, Any, Any], str] | None,
) -> PageSlice:
    """Cut one page out of the sorted ``rows``.

    ``start_after`` gives the index of the first row after a valid paging cookie (``None``:
    page by offset); ``cookie`` builds the next page's cookie (``None``: the query has none).
    """
    if top is not None:
        return PageSlice(list(rows[:top]), False, None)
    size = min(count or DEFAULT_PAGE_SIZE, DEFAULT_PAGE_SIZE)
    number = page or 1
    start = start_after() if start_after is not None else (number - 1) * size
    chosen = list(rows[start : start + size])
    more = start + size < len(rows)
    next_cookie = cookie(number, chosen[0], chosen[-1]) if more and cookie and chosen else None
    return PageSlice(chosen, more, next_cookie)
