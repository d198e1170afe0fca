"""``list``, ``show``, ``create`` and ``update`` for a typed table, built once for accounts,
contacts and opportunities (the same options and checks as the lead commands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from d365leads.cli.assignments import parse_assignments, typed_lookups
from d365leads.cli.context import State, pass_state
from d365leads.cli.errors import UsageProblem
from d365leads.cli.listing import (
    ListOptions,
    SavedQuery,
    limited,
    list_options,
    saved_query_options,
)
from d365leads.cli.params import guid_argument
from d365leads.cli.present import record_dict, record_row
from d365leads.cli.views import read_fetchxml_file
from d365leads.models import DataverseModel
from d365leads.resources.base import EntitySet

__all__ = ["NamedOption", "TableSpec", "table_group"]


@dataclass(frozen=True)
class NamedOption:
    """A ``create`` option that sets one column (``--name`` -> ``name``)."""

    flag: str
    column: str
    help: str
    required: bool = False


@dataclass(frozen=True)
class TableSpec:
    """What differs between the table command groups."""

    name: str  #: command group and client attribute: ``accounts``
    model: type[DataverseModel]
    columns: tuple[str, ...]  #: ``list`` columns without ``--select``
    create_options: tuple[NamedOption, ...]
    state_hint: str  #: the commands that change state, for the update error

    @property
    def noun(self) -> str:
        """The table's logical name (``account``)."""
        return self.model.logical_name

    def resource(self, state: State) -> EntitySet[Any]:
        """``client.accounts`` (etc.) of a client built from the invocation's settings."""
        resource = getattr(state.client(), self.name)
        assert isinstance(resource, EntitySet)
        return resource


def table_group(spec: TableSpec, help_text: str) -> click.Group:
    """A click group with ``list``, ``show``, ``create`` and ``update`` for ``spec``."""
    group = click.Group(spec.name, help=help_text)
    check_id = guid_argument(f"{spec.noun} id")
    title = spec.noun.capitalize()

    @group.command("list")
    @saved_query_options(spec.name)
    @list_options(spec.name)
    @pass_state
    def list_command(state: State, /, **kwargs: Any) -> None:
        listing = ListOptions.pop(kwargs)
        saved = SavedQuery.pop(kwargs, listing)
        limit = listing.limit
        columns = listing.columns(spec.columns)
        resource = spec.resource(state)
        if saved.fetchxml is not None:
            found = resource.fetch(read_fetchxml_file(saved.fetchxml))
        elif saved.view is not None:
            found = resource.view(saved.view)
        else:
            found = resource.list(listing.query(spec.model.entity_set, spec.model, columns))
        out = state.out
        out.rows(
            (record_row(r, columns) for r in limited(found, limit, out, spec.name)),
            columns,
            title=saved.title(spec.name.capitalize()) if saved.chosen else spec.name.capitalize(),
        )

    list_command.help = (
        f"List {spec.name}, newest first (--filter, --select, --top, --all), or the rows of a "
        "saved --view or a --fetchxml query (their own filter and order)."
    )

    @group.command("show")
    @click.argument("record_id", metavar="ID", callback=check_id)
    @pass_state
    def show(state: State, record_id: str) -> None:
        record = spec.resource(state).get(record_id)
        state.out.record(record_dict(record), title=f"{title} {record_id}")

    show.help = f"Show every column of one {spec.noun}."

    @pass_state
    def create(state: State, /, assignments: tuple[str, ...], **named: Any) -> None:
        data = typed_lookups(spec.model, parse_assignments(assignments))
        for option in spec.create_options:
            value = named.get(option.column)
            if value is None:
                continue
            if option.required and not str(value).strip():
                raise UsageProblem(f"{option.flag} cannot be empty")
            if option.column in data:
                raise UsageProblem(f"{option.column} is given both as an option and with --set")
            data[option.column] = value
        data = typed_lookups(spec.model, data)
        created = spec.resource(state).create(data)
        state.out.info(f"Created {spec.noun} {created.id}.")
        state.out.record(record_dict(created), title=f"New {spec.noun}")

    create.__doc__ = f"Create an active {spec.noun} and print it."
    for option in reversed(spec.create_options):
        create = click.option(
            option.flag, option.column, required=option.required, help=option.help
        )(create)
    create = click.option(
        "--set",
        "assignments",
        multiple=True,
        metavar="COL=VALUE",
        help="Any other column (repeatable): col=text, col:=JSON, lookup=table:ID.",
    )(create)
    group.command("create")(create)

    @group.command("update")
    @click.argument("record_id", metavar="ID", callback=check_id)
    @click.option(
        "--set",
        "assignments",
        multiple=True,
        required=True,
        metavar="COL=VALUE",
        help="col=text, col:=JSON, lookup=table:ID, or col= to clear (repeatable).",
    )
    @click.option("--force", is_flag=True, help=f"Edit an inactive {spec.noun} anyway.")
    @pass_state
    def update(state: State, record_id: str, assignments: tuple[str, ...], force: bool) -> None:
        changes = typed_lookups(spec.model, parse_assignments(assignments))
        if {"statecode", "statuscode"} & set(changes):
            raise UsageProblem(
                f"use {spec.state_hint} to change a {spec.noun}'s state or status",
                hint=f"d365leads {spec.name} {spec.state_hint.split(',')[0].split()[0]} ID",
            )
        resource = spec.resource(state)
        resource.update(record_id, changes, force=force)
        state.out.info(f"Updated {spec.noun} {record_id}.")
        state.out.record(record_dict(resource.get(record_id)), title=f"{title} {record_id}")

    update.help = f"Change columns of a {spec.noun} (inactive ones are read-only unless --force)."
    return group
