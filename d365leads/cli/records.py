"""``d365leads records ...`` (any table, plain columns) and ``d365leads query PATH?OPTIONS``.

Both go through the client's pipeline like every other command: sign-in, retry on 429/5xx,
paging with ``@odata.nextLink`` and redacted ``--debug`` logs. The four sales tables go
through their typed resources for writes, so the inactive-record guard and ``--force`` apply.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import click
from click.shell_completion import CompletionItem

from d365leads import _wire
from d365leads.cli.assignments import parse_assignments
from d365leads.cli.context import State, pass_state
from d365leads.cli.errors import ConfirmationRequired, UsageProblem
from d365leads.cli.listing import (
    ListOptions,
    SavedQuery,
    limited,
    list_options,
    saved_query_options,
)
from d365leads.cli.views import read_fetchxml_file
from d365leads.client import DataverseClient
from d365leads.models import ENTITY_SETS, parse_id
from d365leads.odata.literals import literal
from d365leads.resources.base import EntitySet

__all__ = ["TABLE_NAMES", "query", "records", "table_entity_set"]

_TYPED = {"leads", "accounts", "contacts", "opportunities"}
#: Entity sets offered by shell completion for TABLE (any other name works too).
TABLE_NAMES = tuple(sorted(set(ENTITY_SETS.values())))


def table_entity_set(table: str) -> str:
    """The entity set for TABLE: a known logical name (``account``) maps to its entity set;
    anything else is taken as an entity set name (``new_projects``)."""
    name = table.strip()
    if not name or not all(c.isalnum() or c == "_" for c in name):
        raise UsageProblem(
            f"TABLE {table!r} is not a table name",
            hint="use an entity set name such as accounts, leads or new_projects",
        )
    return ENTITY_SETS.get(name, name)


def _complete_table(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return [CompletionItem(name) for name in TABLE_NAMES if name.startswith(incomplete)]


_table_argument = click.argument("table", metavar="TABLE", shell_complete=_complete_table)


def _plain(row: Mapping[str, Any], annotations: bool) -> dict[str, Any]:
    """The row without annotation keys (``@odata.etag``, ``x@...``) unless they were asked for."""
    if annotations:
        return dict(row)
    return {k: v for k, v in row.items() if "@" not in k}


def _typed(state: State, entity_set: str) -> EntitySet[Any] | None:
    if entity_set not in _TYPED:
        return None
    resource = getattr(state.client(), entity_set)
    assert isinstance(resource, EntitySet)
    return resource


def _data(assignments: tuple[str, ...], data: str | None) -> dict[str, Any]:
    body = parse_assignments(assignments)
    if data is not None:
        text = data
        if data.startswith("@"):
            try:
                text = Path(data[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageProblem(
                    f"--data {data}: cannot read the file ({exc.strerror})"
                ) from None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageProblem(f"--data is not JSON ({exc.msg})") from None
        if not isinstance(parsed, dict):
            raise UsageProblem("--data must be a JSON object of columns")
        for column in parsed:
            if column in body:
                raise UsageProblem(f"{column} is given both in --data and with --set")
        body.update(parsed)
    if not body:
        raise UsageProblem("nothing to write", hint="give columns with --set col=value or --data")
    return body


_SET_OPTION = click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="COL=VALUE",
    help="col=text, col:=JSON, col= to clear; lookups as col@odata.bind=/accounts(ID).",
)
_DATA_OPTION = click.option(
    "--data", metavar="JSON|@FILE", help="The columns as a JSON object (or @file.json)."
)
_ANNOTATIONS_OPTION = click.option(
    "--annotations", is_flag=True, help="Include formatted values and other annotations."
)


@click.group()
def records() -> None:
    """Any table by entity set name: list, get, create, update, delete."""


def _logical_name(client: DataverseClient, entity_set: str) -> str:
    """The logical name of the table of ``entity_set`` (its views are found by it)."""
    for logical, known in ENTITY_SETS.items():
        if known == entity_set:
            return logical
    body = client.session.get_json(
        "EntityDefinitions",
        params={
            "$select": "LogicalName,EntitySetName",
            "$filter": f"EntitySetName eq {literal(entity_set)}",
        },
    )
    found = body.get("value")
    if not isinstance(found, list) or not found or not found[0].get("LogicalName"):
        raise UsageProblem(f"the org has no table whose entity set is {entity_set!r}")
    return str(found[0]["LogicalName"])


@records.command("list")
@_table_argument
@saved_query_options("TABLE")
@list_options("rows", default_order=None)
@_ANNOTATIONS_OPTION
@pass_state
def list_records(state: State, /, table: str, annotations: bool, **kwargs: Any) -> None:
    """List rows of TABLE (--filter, --select, --order-by, --top, --all), or the rows of one
    of its saved views (--view) or of a FetchXML query (--fetchxml)."""
    listing = ListOptions.pop(kwargs)
    saved = SavedQuery.pop(kwargs, listing)
    entity_set = table_entity_set(table)
    limit = listing.limit
    columns = listing.columns(()) or None
    client = state.client()
    found: Iterator[dict[str, Any]]
    if saved.fetchxml is not None:
        xml = read_fetchxml_file(saved.fetchxml)
        found = client.records.fetch(entity_set, xml, annotations=annotations)
    elif saved.view is not None:
        view = client.views.find(_logical_name(client, entity_set), saved.view)
        found = client.views.run(entity_set, view, annotations=annotations)
    else:
        query_ = listing.query(entity_set, None, columns)
        found = client.records.query(entity_set, query_, annotations=annotations)
    out = state.out
    rows = (_plain(row, annotations) for row in limited(found, limit, out, "rows"))
    out.rows(rows, columns, title=saved.title(entity_set) if saved.chosen else entity_set)


@records.command("get")
@_table_argument
@click.argument("record_id", metavar="ID")
@click.option("--select", metavar="COLS", help="Comma-separated columns.")
@click.option("--expand", metavar="NAV", help="$expand, e.g. parentaccountid($select=name).")
@_ANNOTATIONS_OPTION
@pass_state
def get(
    state: State,
    table: str,
    record_id: str,
    select: str | None,
    expand: str | None,
    annotations: bool,
) -> None:
    """Show one row of TABLE by id."""
    entity_set = table_entity_set(table)
    key = parse_id(record_id, what="record id")
    columns = [c.strip() for c in select.split(",") if c.strip()] if select else None
    row = state.client().records.get(
        entity_set, key, select=columns, expand=[expand] if expand else None,
        annotations=annotations,
    )  # fmt: skip
    state.out.record(_plain(row, annotations), title=f"{entity_set} {key}")


@records.command("create")
@_table_argument
@_SET_OPTION
@_DATA_OPTION
@pass_state
def create(state: State, table: str, assignments: tuple[str, ...], data: str | None) -> None:
    """Create a row in TABLE and print it."""
    entity_set = table_entity_set(table)
    body = _data(assignments, data)
    row = state.client().records.create(entity_set, body, return_representation=True)
    state.out.info(f"Created a row in {entity_set}.")
    state.out.record(_plain(row, False), title=f"New row in {entity_set}")


@records.command("update")
@_table_argument
@click.argument("record_id", metavar="ID")
@_SET_OPTION
@_DATA_OPTION
@click.option("--force", is_flag=True, help="Edit an inactive lead/account/contact/opportunity.")
@pass_state
def update(
    state: State,
    table: str,
    record_id: str,
    assignments: tuple[str, ...],
    data: str | None,
    force: bool,
) -> None:
    """Change columns of one row of TABLE (If-Match: *, so a missing row is not created)."""
    entity_set = table_entity_set(table)
    key = parse_id(record_id, what="record id")
    body = _data(assignments, data)
    typed = _typed(state, entity_set)
    client = state.client()
    if typed is not None:
        typed.update(key, body, force=force)
    else:
        client.records.update(entity_set, key, body)
    state.out.info(f"Updated {entity_set} {key}.")
    state.out.record(
        _plain(client.records.get(entity_set, key), False), title=f"{entity_set} {key}"
    )


@records.command("delete")
@_table_argument
@click.argument("record_id", metavar="ID")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete(state: State, table: str, record_id: str, yes: bool) -> None:
    """Delete one row of TABLE (asks first unless --yes)."""
    entity_set = table_entity_set(table)
    key = parse_id(record_id, what="record id")
    message = f"Delete {entity_set} {key}?"
    if not yes:
        if not sys.stdin.isatty():
            raise ConfirmationRequired(
                f"deleting {entity_set} {key} needs confirmation, but stdin is not a terminal",
                hint="pass --yes to confirm",
            )
        if not click.confirm(message, default=False, err=True):
            raise click.exceptions.Exit(1)
    typed = _typed(state, entity_set)
    if typed is not None:
        typed.delete(key)
    else:
        state.client().records.delete(entity_set, key)
    state.out.info(f"Deleted {entity_set} {key}.")


def _split_query(text: str) -> tuple[str, dict[str, str]]:
    """``accounts?$select=name&$top=5`` -> (``accounts``, {``$select``: ``name``, ...}).

    Values are percent-decoded (never ``+`` as space, which OData text may contain) and encoded
    again by the pipeline.
    """
    path, _, options = text.strip().lstrip("/").partition("?")
    if not path:
        raise UsageProblem('the query needs a path, e.g. "accounts?$select=name&$top=5"')
    if "://" in path:
        raise UsageProblem(
            "give the path after /api/data/v9.2/, not a URL",
            hint='e.g. d365leads query "accounts?$select=name"',
        )
    params: dict[str, str] = {}
    for part in options.split("&") if options else []:
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = unquote(name)
        if not sep or not name:
            raise UsageProblem(f"query option {part!r} is not name=value")
        if name in params:
            raise UsageProblem(f"query option {name} is given twice")
        params[name] = unquote(value)
    return unquote(path), params


@click.command()
@click.argument("path", metavar="PATH?OPTIONS")
@click.option("--all", "all_rows", is_flag=True, help="Follow @odata.nextLink to the last page.")
@_ANNOTATIONS_OPTION
@pass_state
def query(state: State, path: str, all_rows: bool, annotations: bool) -> None:
    """GET any Web API path, e.g. "accounts?$select=name&$top=5" (read-only).

    A collection prints its rows (the first page unless --all); a single record or a function
    result prints as one object.
    """
    target, params = _split_query(path)
    client = state.client()
    prefer = [_wire.PREFER_INCLUDE_ALL_ANNOTATIONS] if annotations else []
    # the page size the client pages with (harmless when the path is a single record); not
    # with $top, which Dataverse ignores next to a page size (page-results doc)
    sized = [] if "$top" in params else [_wire.prefer_max_page_size(client.session.page_size)]
    first_prefer = [*sized, *prefer]
    body = client.session.get_json(target, params=params, prefer=first_prefer)
    rows = body.get("value")
    out = state.out
    if not isinstance(rows, list):
        out.record(_plain(body, annotations))
        return
    next_link = body.get(_wire.ODATA_NEXT_LINK)

    def every_row() -> Iterator[dict[str, Any]]:
        for row in rows:
            yield _plain(row, annotations)
        if all_rows and isinstance(next_link, str):
            for page in client.session.iter_pages(next_link, prefer=prefer):
                for row in page.rows:
                    yield _plain(row, annotations)

    out.rows(every_row(), title=target)
    if next_link and not all_rows:
        out.info("More rows are available; use --all to fetch every page.")
