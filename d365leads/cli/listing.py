"""The options every ``list`` command shares (``--filter --select --order-by --top --all``,
``--view`` and ``--fetchxml``) and the query they build: one implementation for leads,
accounts, contacts, opportunities and ``records list``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from d365leads.cli.errors import UsageProblem
from d365leads.cli.output import Output
from d365leads.models import DataverseModel
from d365leads.odata.query import Query

__all__ = [
    "DEFAULT_TOP",
    "ListOptions",
    "SavedQuery",
    "limited",
    "list_options",
    "saved_query_options",
]

DEFAULT_TOP = 100
_NAMED_LOOKUP_COLUMNS = {"owner": "ownerid"}

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def list_options(noun: str, *, default_order: str | None = "createdon desc") -> Callable[[F], F]:
    """Add ``--filter``, ``--select``, ``--order-by``, ``--top`` and ``--all`` to a command;
    the command receives them as one ``listing`` argument (:class:`ListOptions`)."""

    def decorate(func: F) -> F:
        options = [
            click.option(
                "--filter",
                "filter_text",
                metavar="EXPR",
                help="OData $filter, e.g. \"name eq 'Contoso'\".",
            ),
            click.option("--select", "select", metavar="COLS", help="Comma-separated columns."),
            click.option(
                "--order-by",
                metavar="COL",
                default=default_order,
                show_default=default_order is not None,
                help="Sort order: 'col [asc|desc]', comma-separated.",
            ),
            click.option(
                "--top",
                type=click.IntRange(min=1),
                metavar="N",
                help=f"At most N {noun} (default {DEFAULT_TOP}).",
            ),
            click.option(
                "--all", "all_rows", is_flag=True, help=f"Every matching {noun} (pages through)."
            ),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


@dataclass(frozen=True)
class ListOptions:
    """What the shared list options asked for."""

    filter_text: str | None
    select: str | None
    order_by: str | None
    top: int | None
    all_rows: bool

    @classmethod
    def pop(cls, kwargs: dict[str, Any]) -> ListOptions:
        """Take the shared options out of a command's keyword arguments."""
        return cls(
            kwargs.pop("filter_text"),
            kwargs.pop("select"),
            kwargs.pop("order_by"),
            kwargs.pop("top"),
            kwargs.pop("all_rows"),
        )

    @property
    def limit(self) -> int | None:
        """How many rows to show: None for ``--all``.

        :raises UsageProblem: ``--top`` and ``--all`` together.
        """
        if self.top is not None and self.all_rows:
            raise UsageProblem("--top and --all cannot be combined")
        return None if self.all_rows else (self.top or DEFAULT_TOP)

    def columns(self, default: Sequence[str]) -> tuple[str, ...]:
        """The columns to show: ``--select`` or ``default``."""
        if not self.select:
            return tuple(default)
        columns = tuple(c.strip() for c in self.select.split(",") if c.strip())
        if not columns:
            raise UsageProblem("--select needs at least one column")
        return columns

    def query(
        self,
        entity_set: str,
        model: type[DataverseModel] | None,
        columns: Sequence[str] | None,
    ) -> Query:
        """The query for these options; ``columns`` become ``$select`` (lookups as
        ``_x_value``, ``status`` as statecode and statuscode) when ``--select`` was given."""
        query = Query(entity_set)
        if self.select and columns:
            wire: list[str] = [model.primary_key] if model is not None else []
            for column in columns:
                column = _NAMED_LOOKUP_COLUMNS.get(column, column)
                if column == "status" and model is not None:
                    wire += ["statecode", "statuscode"]
                elif model is not None and column in model.lookups:
                    wire.append(f"_{column}_value")
                else:
                    wire.append(column)
            query = query.select(*dict.fromkeys(wire))
        if self.filter_text:
            query = query.where(self.filter_text)
        if self.order_by:
            query = query.order_by(*[o.strip() for o in self.order_by.split(",") if o.strip()])
        limit = self.limit
        if limit is not None:
            # one more than shown, to know whether to say there are more
            query = query.top(limit + 1)
        return query


def saved_query_options(noun: str) -> Callable[[F], F]:
    """Add ``--view NAME`` and ``--fetchxml FILE``; the command receives them as one
    ``saved`` argument (:class:`SavedQuery`)."""

    def decorate(func: F) -> F:
        options = [
            click.option(
                "--view",
                "saved_view",
                metavar="NAME",
                help=f"Run a saved view of {noun} (name or id; 'd365leads views list').",
            ),
            click.option(
                "--fetchxml",
                "fetchxml_file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="Run the FetchXML query in FILE (its entity must be this table).",
            ),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


@dataclass(frozen=True)
class SavedQuery:
    """``--view`` / ``--fetchxml``: a query that decides the rows and their order."""

    view: str | None
    fetchxml: Path | None

    @classmethod
    def pop(cls, kwargs: dict[str, Any], listing: ListOptions) -> SavedQuery:
        """Take ``--view``/``--fetchxml`` out of a command's keyword arguments and check them
        against the list options.

        :raises UsageProblem: both given, or given with ``--filter`` or a typed ``--order-by``.
        """
        saved = cls(kwargs.pop("saved_view"), kwargs.pop("fetchxml_file"))
        if saved.view is not None and saved.fetchxml is not None:
            raise UsageProblem("choose one of --view and --fetchxml")
        if saved.chosen:
            # --order-by may have a default; only one the user typed is refused.
            source = click.get_current_context().get_parameter_source("order_by")
            ordered = source is not None and source is not ParameterSource.DEFAULT
            if listing.filter_text or ordered:
                raise UsageProblem(
                    "a saved view or a FetchXML query has its own filter and order: "
                    "drop --filter/--order-by"
                )
        return saved

    @property
    def chosen(self) -> bool:
        """Whether a view or a FetchXML file was given."""
        return self.view is not None or self.fetchxml is not None

    def title(self, noun: str) -> str:
        """The title of the rows it lists: ``Accounts of the view 'Active Accounts'``."""
        if self.fetchxml is not None:
            return f"{noun} of {self.fetchxml.name}"
        return f"{noun} of the view {self.view!r}"


def limited(items: Iterable[T], limit: int | None, out: Output, noun: str) -> Iterator[T]:
    """The first ``limit`` items; says on stderr when more were available."""
    for count, item in enumerate(items):
        if limit is not None and count >= limit:
            out.info(f"Showing the first {limit} {noun}; use --top N or --all for more.")
            return
        yield item
