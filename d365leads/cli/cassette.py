"""``d365leads cassette``: inspect and check recorded cassettes."""

from __future__ import annotations

from pathlib import Path

import click

from d365leads.cassette import Cassette, CassetteFormatError, scan_paths
from d365leads.cli.context import State, pass_state
from d365leads.cli.errors import Failure, UsageProblem

__all__ = ["cassette"]


@click.group()
def cassette() -> None:
    """Inspect recorded cassettes and scan them for secrets."""


@cassette.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_state
def scan(state: State, paths: tuple[Path, ...]) -> None:
    """Fail when a cassette holds a token, a secret or unredacted personal data.

    PATHS are cassette files or folders (every *.json below a folder is scanned).
    """
    try:
        findings, count = scan_paths(paths)
    except FileNotFoundError as exc:
        raise UsageProblem(str(exc), hint="check the path") from exc
    out = state.out
    for finding in findings:
        click.echo(str(finding), err=True)
    if findings:
        raise Failure(
            f"{len(findings)} problem(s) in {count} file(s) scanned",
            hint="re-record with redaction on, or remove the values shown above",
        )
    out.info(f"{count} file(s) scanned, no secrets or personal data found")


@cassette.command("show")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_state
def show(state: State, path: Path) -> None:
    """List the interactions of a cassette (method, path, status)."""
    try:
        loaded = Cassette.load(path)
    except CassetteFormatError as exc:
        raise UsageProblem(str(exc), hint="is this a d365leads cassette?") from exc
    rows = [
        {
            "#": n,
            "method": i.request.method,
            "path": i.request.path,
            "status": i.response.status,
        }
        for n, i in enumerate(loaded.interactions, start=1)
    ]
    state.out.rows(rows, ["#", "method", "path", "status"])
