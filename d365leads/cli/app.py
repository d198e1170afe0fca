"""The root click group ``d365leads`` and its global options."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import click

from d365leads._version import __version__
from d365leads.cli.context import State
from d365leads.cli.errors import EXIT_INTERRUPTED, report
from d365leads.cli.output import OUTPUT_FORMATS, compile_query
from d365leads.cli.profiles import complete_profile

__all__ = ["RootGroup", "cli", "hoist_global_options"]


def _exists(module: str) -> bool:
    return importlib.util.find_spec(f"d365leads.cli.{module}") is not None


_EPILOG = """\b
Settings precedence: flags > environment (D365_URL, D365_ACCESS_TOKEN, AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, D365_PROFILE)
> saved profile > defaults.

\b
Exit codes: 0 ok, 1 error, 2 usage or configuration, 3 authentication or permission,
4 partial failure, 5 stopped with a checkpoint saved, 130 interrupted.

Try it without a tenant: d365leads demo
"""


class RootGroup(click.Group):
    """A click group that loads its commands lazily and turns every exception into one
    message and an exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(name for name, (module, _) in _LAZY_COMMANDS.items() if _exists(module))
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in _LAZY_COMMANDS:
            return command
        module_name, attribute = _LAZY_COMMANDS[cmd_name]
        if not _exists(module_name):
            return None
        loaded = getattr(importlib.import_module(f"d365leads.cli.{module_name}"), attribute)
        if not isinstance(loaded, click.Command):
            raise TypeError(f"d365leads.cli.{module_name}.{attribute} is not a click command")
        return loaded

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt as exc:
            report(exc)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            state = ctx.find_object(State)
            code = report(exc, debug=bool(state and state.debug))
            raise click.exceptions.Exit(code) from None


@click.group(
    cls=RootGroup, epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--url",
    metavar="URL",
    help="Org URL, e.g. https://contoso.crm.dynamics.com (default: $D365_URL or the profile).",
)
@click.option(
    "--profile",
    metavar="NAME",
    shell_complete=complete_profile,
    help="Saved profile to use (default: $D365_PROFILE or the default profile).",
)
@click.option(
    "-o",
    "--output",
    "output_format",
    type=click.Choice(OUTPUT_FORMATS),
    help="Output format (default: table on a terminal, json otherwise).",
)
@click.option(
    "--query",
    "query",
    metavar="JMESPATH",
    help='JMESPath expression applied to the JSON result, as in az (e.g. "[].name").',
)
@click.option("--wide", is_flag=True, help="Show long text in tables whole (not shortened).")
@click.option(
    "--raw-csv",
    is_flag=True,
    help="Write CSV/TSV cells as they are (no ' before a leading = + - @ tab or CR).",
)
@click.option("--debug", is_flag=True, help="Log HTTP requests to stderr (secrets redacted).")
@click.option("--no-color", is_flag=True, help="Plain output without colours (also NO_COLOR).")
@click.option(
    "--record",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Record this command's Web API traffic, redacted, to a cassette (JSON) for replay.",
)
@click.version_option(__version__, "--version", prog_name="d365leads")
@click.pass_context
def cli(
    ctx: click.Context,
    url: str | None,
    profile: str | None,
    output_format: str | None,
    query: str | None,
    wide: bool,
    raw_csv: bool,
    debug: bool,
    no_color: bool,
    record: Path | None,
) -> None:
    """Work with Dynamics 365 Sales leads over the Dataverse Web API."""
    state = ctx.ensure_object(State)
    state.url = url
    state.profile = profile
    state.output_format = output_format
    state.query = compile_query(query) if query is not None else None
    state.wide = wide
    state.raw_csv = raw_csv
    state.debug = debug
    state.color = not no_color
    state.record = record
    # Callbacks run last-in first-out: clients close while logging is still installed.
    ctx.call_on_close(state.install_logging())
    ctx.call_on_close(state.close)


_VALUE_OPTIONS = frozenset({"--url", "--profile", "-o", "--output", "--record", "--query"})
#: Global options that may also follow the subcommand (output shaping and --debug).
_HOISTED_VALUES = ("-o", "--output", "--query")
_HOISTED_FLAGS = ("--debug", "--wide", "--raw-csv")


def hoist_global_options(args: list[str]) -> list[str]:
    """Let output options (``-o``, ``--query``, ``--wide``, ``--raw-csv``) and ``--debug`` also
    follow the subcommand, as in ``az`` and ``gh``.

    ``d365leads leads list --open -o csv`` becomes ``d365leads -o csv leads list --open``.
    Nothing after ``--`` is touched.
    """
    index = 0
    while index < len(args):  # find the subcommand: the first word not an option or its value
        token = args[index]
        if token == "--" or not token.startswith("-"):
            break
        index += 2 if token in _VALUE_OPTIONS else 1
    head, rest = list(args[:index]), list(args[index:])
    hoisted: list[str] = []
    kept: list[str] = []
    position = 0
    while position < len(rest):
        token = rest[position]
        if token == "--":
            kept.extend(rest[position:])
            break
        if token in _HOISTED_VALUES and position + 1 < len(rest):
            hoisted += [token, rest[position + 1]]
            position += 2
            continue
        if (
            token.startswith(("--output=", "--query="))
            or (token.startswith("-o") and len(token) > 2)
            or token in _HOISTED_FLAGS
        ):
            hoisted.append(token)
        else:
            kept.append(token)
        position += 1
    return head + hoisted + kept


#: Command name -> (module under d365leads.cli, attribute). Modules load on first use, so
#: ``d365leads leads list`` does not pay for SQLAlchemy; a module that is not installed is
#: simply absent from the command list.
_LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "accounts": ("sales", "accounts"),
    "auth": ("auth", "auth"),
    "bulk": ("bulk", "bulk"),
    "cassette": ("cassette", "cassette"),
    "demo": ("demo", "demo"),
    "fake": ("fake", "fake"),
    "completion": ("completion", "completion"),
    "contacts": ("sales", "contacts"),
    "leads": ("leads", "leads"),
    "opportunities": ("sales", "opportunities"),
    "query": ("records", "query"),
    "records": ("records", "records"),
    "sync": ("sync", "sync"),
    "views": ("views", "views"),
    "whoami": ("leads", "whoami"),
}
