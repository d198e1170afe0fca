"""``d365leads views list``: the saved views of a table (system and personal)."""

from __future__ import annotations

from pathlib import Path

import click

from d365leads.bulk import Selection
from d365leads.cli.context import State, pass_state
from d365leads.cli.errors import UsageProblem
from d365leads.client import DataverseClient
from d365leads.fetchxml import check_fetchxml

__all__ = ["query_selection", "read_fetchxml_file", "views"]

VIEW_COLUMNS = ("name", "kind", "id", "isdefault", "querytype")


def read_fetchxml_file(path: Path) -> str:
    """The text of a FetchXML file (checked as XML by the client before anything is sent)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"cannot read the FetchXML file {path}: {exc}") from None


def query_selection(
    client: DataverseClient, saved_view: str | None, fetchxml_file: Path | None
) -> Selection:
    """A bulk job's selection from a saved view or a FetchXML file, not yet run.

    The view is found (or the file read and checked) here; its leads are read when the job
    is planned, after the job is journalled, so a kill while they are read leaves a job that
    ``--resume-last`` continues. The ids it returns are then kept in the journal, so a resumed
    job works on the same leads even if the view's answer has changed since.
    """
    if fetchxml_file is not None:
        text = read_fetchxml_file(fetchxml_file)
        check_fetchxml(text)
        return Selection(fetchxml=text, description=f"leads of the FetchXML of {fetchxml_file}")
    view = client.views.find("lead", str(saved_view))
    return Selection(
        fetchxml=view.fetchxml,
        query=(view.parameter, view.id),
        description=f"leads of the view {view.describe()}",
    )


@click.group()
def views() -> None:
    """Saved views: the org's system views and your personal views."""


@views.command("list")
@click.option(
    "--table", default="lead", show_default=True, metavar="NAME", help="Table (logical name)."
)
@click.option("--system-only", is_flag=True, help="Leave out your personal views.")
@pass_state
def list_views(state: State, /, table: str, system_only: bool) -> None:
    """List the views of a table: name, system or personal, id."""
    client = state.client()
    found = client.views.list(table, personal=not system_only)
    state.out.rows(
        (
            {
                "name": view.name,
                "kind": "personal" if view.personal else "system",
                "id": view.id,
                "isdefault": view.isdefault,
                "querytype": view.querytype,
            }
            for view in found
        ),
        VIEW_COLUMNS,
        title=f"Views of {table}",
    )
