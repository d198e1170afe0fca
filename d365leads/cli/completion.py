"""``d365leads completion bash|zsh|fish``: print the shell completion script.

The scripts are click's own (https://click.palletsprojects.com/en/stable/shell-completion/):
they call ``d365leads`` back with ``_D365LEADS_COMPLETE`` set, so completions always match the
installed version, including profile names and table names.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

__all__ = ["COMPLETE_VAR", "SHELLS", "completion"]

SHELLS = ("bash", "zsh", "fish")
#: The environment variable click's completion scripts set when they call the program.
COMPLETE_VAR = "_D365LEADS_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash: d365leads completion bash > ~/.local/share/bash-completion/completions/d365leads
    zsh:  d365leads completion zsh > "${fpath[1]}/_d365leads"
    fish: d365leads completion fish > ~/.config/fish/completions/d365leads.fish
    """
    cls = get_completion_class(shell)
    if cls is None:  # click knows all three; guard against a click without one of them
        raise click.UsageError(f"this version of click cannot complete {shell}")
    root = ctx.find_root().command
    script = cls(root, {}, "d365leads", COMPLETE_VAR).source()
    click.echo(script)
