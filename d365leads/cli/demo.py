"""``d365leads demo``: the lifecycle tour against the built-in fake (README command 1)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from d365leads.cli.context import State, pass_state

__all__ = ["demo"]


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the bulk journal and the SQLite mirror (default: a new temp folder).",
)
@click.option("--fast", is_flag=True, help="No simulated network latency (the demo never pauses).")
@click.option("--no-color", is_flag=True, help="Plain text without colours.")
@pass_state
def demo(state: State, workdir: Path | None, fast: bool, no_color: bool) -> None:
    """Lifecycle tour on a built-in fake org (no tenant needed)."""
    from d365leads.demo import run_demo

    color = state.color and not no_color
    stdout = sys.stdout
    console = Console(file=stdout, no_color=not color, highlight=False)
    result = run_demo(console, workdir=workdir, fast=fast)
    if result.bulk_failed:
        state.out.warn(f"{result.bulk_failed} leads failed in the bulk step")
