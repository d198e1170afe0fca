"""The options every ``list`` command shares (``--filter --select --order-by --top --all``) and
the query they build: one implementation for leads, accounts, contacts, opportunities and
``records list``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from d365leads.cli.errors import UsageProblem
from d365leads.cli.output import Output
from d365leads.models import DataverseModel
from d365leads.odata.query import Query

__all__ = ["DEFAULT_TOP", "ListOptions", "limited", "list_options"]

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


def limited(items: Iterable[T], limit: int | None, out: Output, noun: str) -> Iterator[T]:
    """The first ``limit`` items; says on stderr when more were available."""
    for count, item in enumerate(items):
        if limit is not None and count >= limit:
            out.info(f"Showing the first {limit} {noun}; use --top N or --all for more.")
            return
        yield item
