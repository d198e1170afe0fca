"""``d365leads bulk update --set col=value`` and ``bulk assign --owner``: field jobs on leads.

The same selection, dry run, journal, report and resume as the state jobs; the values (and the
owner) are checked against the org before the job is journalled, and every chunk goes through
UpdateMultiple where the lead table supports it, else ``$batch``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from d365leads.bulk import assign_spec, update_spec
from d365leads.bulk.changes import parse_assignments
from d365leads.bulk.planner import BulkAction, JobSpec
from d365leads.cli.bulk_options import selection_options
from d365leads.cli.errors import UsageProblem
from d365leads.errors import InvalidInputError

if TYPE_CHECKING:
    from d365leads.http.pipeline import ApiSession

__all__ = ["field_commands"]

RunJob = Callable[..., None]
"""``cli.bulk._run``: given to :func:`field_commands` (the group module imports this one)."""


def field_commands(run: RunJob) -> list[click.Command]:
    """The ``update`` and ``assign`` commands, running their jobs through ``run``."""
    return [_update_command(run), _assign_command(run)]


def _resuming(kw: dict[str, Any]) -> bool:
    return bool(kw.get("resume_id") or kw.get("resume_last"))


def _update_command(run: RunJob) -> click.Command:
    @click.command("update")
    @click.option(
        "--set",
        "assignments",
        multiple=True,
        metavar="COLUMN=VALUE",
        help="A column and its new value (repeat for more). Lookups: "
        "parentaccountid=account(<id>) or customerid_account@odata.bind=/accounts(<id>); "
        "choices by number or label; an empty value clears the column. statecode/statuscode "
        "are the reactivate/disqualify/qualify jobs.",
    )
    @selection_options
    @click.pass_context
    def update(ctx: click.Context, /, assignments: tuple[str, ...], **kw: Any) -> None:
        """Write the same column values on many leads (UpdateMultiple where the org has it)."""
        if _resuming(kw):
            if assignments:
                raise UsageProblem("a resumed job keeps its original --set values: drop --set")
            run(ctx, BulkAction.UPDATE, statecode=None, statuscode=None, **kw)
            return
        if not assignments:
            raise UsageProblem("say what to change: --set column=value (repeat for more columns)")
        try:
            changes = parse_assignments(assignments)
        except InvalidInputError as exc:
            raise UsageProblem(str(exc)) from None

        def prepare(session: ApiSession) -> JobSpec:
            return update_spec(session, changes)

        run(ctx, BulkAction.UPDATE, statecode=None, statuscode=None, prepare=prepare, **kw)

    return update


def _assign_command(run: RunJob) -> click.Command:
    @click.command("assign")
    @click.option(
        "--owner",
        metavar="USER|TEAM",
        help="New owner: a user (domain name, full name, email or id) or a team (name or id), "
        "looked up once before the job starts.",
    )
    @click.option(
        "--owner-type",
        type=click.Choice(["user", "team"]),
        help="Only look among users or among teams (when a user and a team share a name).",
    )
    @selection_options
    @click.pass_context
    def assign(ctx: click.Context, /, owner: str | None, owner_type: str | None, **kw: Any) -> None:
        """Give many leads to a user or a team (an update of ownerid, UpdateMultiple where it
        can)."""
        if _resuming(kw):
            if owner:
                raise UsageProblem("a resumed job keeps its original owner: drop --owner")
            run(ctx, BulkAction.ASSIGN, statecode=None, statuscode=None, **kw)
            return
        if not owner:
            raise UsageProblem("name the new owner: --owner USER|TEAM")
        table = {"user": "systemuser", "team": "team"}.get(owner_type or "")

        def prepare(session: ApiSession) -> JobSpec:
            return assign_spec(session, owner, table=table)

        run(ctx, BulkAction.ASSIGN, statecode=None, statuscode=None, prepare=prepare, **kw)

    return assign
