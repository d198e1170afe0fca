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
"""``cli.bulk_run.run_job``: handed to :func:`field_commands` by the group module."""


def field_commands(run: RunJob) -> list[click.Command]:
    """The ``update`` and ``assign`` commands, running their jobs through ``run``."""
    return [_update_command(run), _assign_command(run)]


def _resuming(kw: dict[str, Any]) -> bool:
    return bool(kw.get("resume_id") or kw.get("resume_last"))


_include_inactive = click.option(
    "--include-inactive",
    is_flag=True,
    help="Also write qualified and disqualified leads (left out of the plan by default: "
    "Dataverse refuses edits of inactive leads unless the org allows them).",
)


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
    @_include_inactive
    @selection_options
    @click.pass_context
    def update(
        ctx: click.Context, /, assignments: tuple[str, ...], include_inactive: bool, **kw: Any
    ) -> None:
        """Write the same column values on many leads (UpdateMultiple where the org has it).

        Inactive leads and leads that already hold every value are left out (see the plan)."""
        if _resuming(kw):
            if assignments or include_inactive:
                raise UsageProblem(
                    "a resumed job keeps its original --set values and plan: drop --set and "
                    "--include-inactive"
                )
            run(ctx, BulkAction.UPDATE, statecode=None, statuscode=None, **kw)
            return
        if not assignments:
            raise UsageProblem("say what to change: --set column=value (repeat for more columns)")
        try:
            changes = parse_assignments(assignments)
        except InvalidInputError as exc:
            raise UsageProblem(str(exc)) from None

        def prepare(session: ApiSession, on_check: Callable[[str], None]) -> JobSpec:
            return update_spec(
                session, changes, include_inactive=include_inactive, on_check=on_check
            )

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
    @_include_inactive
    @selection_options
    @click.pass_context
    def assign(
        ctx: click.Context,
        /,
        owner: str | None,
        owner_type: str | None,
        include_inactive: bool,
        **kw: Any,
    ) -> None:
        """Give many leads to a user or a team (an update of ownerid, UpdateMultiple where it
        can). Inactive leads and leads the owner already has are left out (see the plan)."""
        if _resuming(kw):
            if owner or include_inactive:
                raise UsageProblem(
                    "a resumed job keeps its original owner and plan: drop --owner and "
                    "--include-inactive"
                )
            run(ctx, BulkAction.ASSIGN, statecode=None, statuscode=None, **kw)
            return
        if not owner:
            raise UsageProblem("name the new owner: --owner USER|TEAM")
        table = {"user": "systemuser", "team": "team"}.get(owner_type or "")

        def prepare(session: ApiSession, on_check: Callable[[str], None]) -> JobSpec:
            del on_check  # the owner is checked by plan_bulk_job, which reports the check
            return assign_spec(session, owner, table=table, include_inactive=include_inactive)

        run(ctx, BulkAction.ASSIGN, statecode=None, statuscode=None, prepare=prepare, **kw)

    return assign
