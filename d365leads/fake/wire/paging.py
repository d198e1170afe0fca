"""Server-driven paging on the wire: the cookie-shaped ``$skiptoken`` and the next link.

The token is URL-encoded and shaped like Dataverse's paging cookie,
``<cookie pagenumber="2" pagingcookie="…" istracking="False" />``, holding the first and last
values of every sort column (primary key last) so the next page continues after the last row
sent (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results).
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, unquote

from ..core.fault import CODE_BAD_QUERY, bad_request
from ..core.values import Row
from .messages import FakeRequest

__all__ = ["decode_skiptoken", "encode_skiptoken", "next_link"]

_COOKIE_RE = re.compile(
    r'^<cookie pagenumber="(\d+)" pagingcookie="([^"]*)" istracking="(?:True|False)" />$'
)
_PAGING_RE = re.compile(r'<(\w+) last="([^"]*)" first="[^"]*" />')


def encode_skiptoken(page: int, keys: list[tuple[str, bool]], first: Row, last: Row) -> str:
    """The ``$skiptoken`` of page ``page`` after a page running from ``first`` to ``last``."""
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


def decode_skiptoken(token: str, keys: list[tuple[str, bool]]) -> tuple[int, Row]:
    """The page number and the sort values of the last row sent (400 if not valid)."""
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


def next_link(request: FakeRequest, token: str, drop: frozenset[str] = frozenset()) -> str:
    """The request URL with ``$skiptoken`` replaced by ``token``.

    ``$count`` is left out, as in the documented next links of a counted query (later pages
    carry no count); ``drop`` names further options to leave out (an ignored ``$top``).
    https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/count-rows
    """
    base = request.url.split("?", 1)[0]
    left_out = {"$skiptoken", "$count", *drop}
    kept = [
        f"{quote(k, safe='$@')}={quote(v, safe='')}" for k, v in request.query if k not in left_out
    ]
    kept.append(f"$skiptoken={quote(token, safe='')}")
    return base + "?" + "&".join(kept)
