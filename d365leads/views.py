"""Saved views: the org's system views (``savedqueries``) and the caller's personal views
(``userqueries``), listed, resolved by name or id, and run with ``?savedQuery=`` /
``?userQuery=``.

A view runs on the server, so a tenant that changed its Closed Leads view gets its own answer.
The first page comes from ``GET <entityset>?savedQuery=<id>``; how the Web API pages a
predefined query is not documented, so when it says more records follow, the next pages run
the view's own FetchXML with the paging cookie of the page before (UNCONFIRMED).
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/retrieve-and-execute-predefined-queries)
"""

from __future__ import annotations

import builtins
import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from d365leads.errors import DataverseError, InvalidInputError
from d365leads.fetchxml import check_fetchxml, fetch_entity, iter_fetch_pages
from d365leads.odata.literals import normalize_guid
from d365leads.odata.query import Query, col
from d365leads.records import RecordsAPI

__all__ = ["View", "ViewsAPI"]

_SYSTEM_COLUMNS = ("savedqueryid", "name", "fetchxml", "querytype", "isdefault", "returnedtypecode")
_PERSONAL_COLUMNS = ("userqueryid", "name", "fetchxml", "querytype", "returnedtypecode")


@dataclass(frozen=True)
class View:
    """A system view (``savedquery``) or a personal view (``userquery``) of a table."""

    id: str
    name: str
    fetchxml: str
    querytype: int
    isdefault: bool
    returnedtypecode: str
    kind: Literal["savedquery", "userquery"] = "savedquery"

    @property
    def personal(self) -> bool:
        """Whether this is one of the caller's personal views."""
        return self.kind == "userquery"

    @property
    def parameter(self) -> str:
        """The query option that runs it: ``savedQuery`` or ``userQuery``."""
        return "userQuery" if self.personal else "savedQuery"

    def describe(self) -> str:
        """``'Closed Leads' (system view 0000...)``: how errors name a view."""
        kind = "personal view" if self.personal else "system view"
        return f"{self.name!r} ({kind} {self.id})"


def _view(row: dict[str, Any], kind: Literal["savedquery", "userquery"]) -> View:
    try:
        return View(
            id=normalize_guid(row[f"{kind}id"], what=f"{kind}id"),
            name=str(row.get("name") or ""),
            fetchxml=str(row.get("fetchxml") or ""),
            querytype=int(row.get("querytype") or 0),
            isdefault=bool(row.get("isdefault", False)),
            returnedtypecode=str(row.get("returnedtypecode") or ""),
            kind=kind,
        )
    except (KeyError, ValueError, InvalidInputError) as exc:
        raise DataverseError(f"{kind}s returned an unexpected row: {exc}") from None


class ViewsAPI:
    """``client.views``: list the views of a table, find one, run it."""

    def __init__(self, records: RecordsAPI) -> None:
        self._records = records

    def __repr__(self) -> str:
        return f"ViewsAPI({self._records.session.org_url!r})"

    def list(self, table: str, *, personal: bool = True) -> list[View]:
        """The system views of ``table`` (a logical name, ``"lead"``), then (unless
        ``personal=False``) the personal views the caller can see; each group sorted by name."""
        if not isinstance(table, str) or not table.isidentifier():
            raise InvalidInputError(f"table must be a logical name such as 'lead', got {table!r}")
        found = self._read("savedqueries", _SYSTEM_COLUMNS, "savedquery", table)
        if personal:
            found.extend(self._read("userqueries", _PERSONAL_COLUMNS, "userquery", table))
        return found

    def _read(
        self,
        entity_set: str,
        columns: tuple[str, ...],
        kind: Literal["savedquery", "userquery"],
        table: str,
    ) -> builtins.list[View]:
        query = Query(entity_set).select(*columns).where(col("returnedtypecode") == table)
        views = [_view(row, kind) for row in self._records.query(entity_set, query)]
        return sorted(views, key=lambda view: (view.name.casefold(), view.id))

    def find(self, table: str, name_or_id: str) -> View:
        """The view of ``table`` named ``name_or_id`` (or with that id).

        A name matches exactly, else ignoring case.

        :raises InvalidInputError: no such view, or the name is ambiguous; the message lists
            the near matches (or the candidates) and their ids.
        """
        if not isinstance(name_or_id, str) or not name_or_id.strip():
            raise InvalidInputError("a view is given by its name or id, got an empty value")
        views = self.list(table)
        wanted = name_or_id.strip()
        try:
            view_id = normalize_guid(wanted, what="view id")
        except InvalidInputError:
            view_id = None
        if view_id is not None:
            for view in views:
                if view.id == view_id:
                    return view
            raise InvalidInputError(f"no view of {table!r} has the id {view_id}")
        matches = [view for view in views if view.name == wanted] or [
            view for view in views if view.name.casefold() == wanted.casefold()
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            listed = "; ".join(view.describe() for view in matches)
            raise InvalidInputError(
                f"{len(matches)} views of {table!r} are named {wanted!r}: {listed}. "
                "Pass the id of the one to run"
            )
        names = sorted({view.name for view in views})
        near = difflib.get_close_matches(wanted, names, n=5, cutoff=0.5)
        hint = (
            f"did you mean: {', '.join(repr(name) for name in near)}?"
            if near
            else f"its views are: {', '.join(repr(name) for name in names) or 'none'}"
        )
        raise InvalidInputError(f"{table!r} has no view named {wanted!r}; {hint}")

    def run(
        self, entity_set: str, view: View, *, annotations: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Run ``view`` on ``entity_set`` and yield its rows, one page in memory at a time.

        Pages have the server's size (a view's first page cannot be sized by the caller).
        """
        root = check_fetchxml(view.fetchxml)
        self._records.check_fetch_table(entity_set, fetch_entity(root))
        pages = iter_fetch_pages(
            self._records.session,
            entity_set,
            root,
            annotations=annotations,
            first={view.parameter: view.id},
        )
        return (row for page in pages for row in page.rows)
