"""``GET RetrieveTotalRecordCount(EntityNames=[…])``: rows per table.

The function answers ``{"@odata.context": "…#Microsoft.Dynamics.CRM.<Name>Response",
"EntityRecordCountCollection": {"Count": n, "IsReadOnly": false, "Keys": […], "Values": […]}}``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/retrievetotalrecordcount;
the count-rows page points to it for totals beyond 5,000, and Microsoft's Web API functions
and actions sample calls it). ``EntityNames`` is a collection of
logical names, inline (``['account','contact']``) or as a parameter alias (``@p1=["account"]``).
The platform answers from a snapshot taken within the past 24 hours; the fake counts the rows
as they are (the snapshot's lag is not modelled).
"""

from __future__ import annotations

import json

from ..core.fault import CODE_BAD_QUERY, bad_request, method_not_allowed
from ..wire.messages import FakeResponse, service_root
from ..wire.query_options import aliases
from .context import RequestContext

__all__ = ["handle_record_count", "is_record_count_path"]

_NAME = "RetrieveTotalRecordCount"


def is_record_count_path(path: str) -> bool:
    """True for ``RetrieveTotalRecordCount`` and ``RetrieveTotalRecordCount(…)``."""
    return path == _NAME or path.startswith(f"{_NAME}(")


def _names(ctx: RequestContext) -> list[str]:
    path = ctx.request.path
    inner = path[len(_NAME) + 1 : -1] if path.endswith(")") and "(" in path else ""
    name, equals, value = inner.partition("=")
    if name.strip() != "EntityNames" or not equals:
        raise bad_request(
            f"{_NAME} needs EntityNames: {_NAME}(EntityNames=['account','contact']).",
            CODE_BAD_QUERY,
        )
    value = value.strip()
    if value.startswith("@"):
        found = aliases(ctx.request).get(value)
        if found is None:
            raise bad_request(
                f"The parameter alias '{value}' of {_NAME} has no value in the query.",
                CODE_BAD_QUERY,
            )
        value = found
    try:
        names = json.loads(value.replace("'", '"'))
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad_request(
            f"EntityNames must be a collection of table logical names like ['account'], "
            f"not {value!r}.",
            CODE_BAD_QUERY,
        )
    return names


def handle_record_count(ctx: RequestContext) -> FakeResponse:
    """Answer the row count of each table named in ``EntityNames``."""
    if ctx.request.method != "GET":
        raise method_not_allowed(ctx.request.method, _NAME)
    names = _names(ctx)
    tables = ctx.org.schema.tables
    unknown = [n for n in names if n not in tables]
    if unknown:
        raise bad_request(
            f"{_NAME}: no table named {', '.join(repr(n) for n in unknown)}.", CODE_BAD_QUERY
        )
    counts = [ctx.org.store.count(n) for n in names]
    return FakeResponse.json_body(
        200,
        {
            "@odata.context": (
                f"{service_root(ctx.request)}$metadata#Microsoft.Dynamics.CRM.{_NAME}Response"
            ),
            "EntityRecordCountCollection": {
                "Count": len(names),
                "IsReadOnly": False,
                "Keys": names,
                "Values": counts,
            },
        },
    )
