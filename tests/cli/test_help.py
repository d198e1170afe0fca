"""Every command has help text, and every command is documented in README.md."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from d365leads.cli.app import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


COMMANDS = sorted(walk(cli))
_CRUD = ("list", "show", "create", "update")


def test_the_core_commands_exist() -> None:
    for expected in [
        ("auth", "login"),
        ("auth", "status"),
        ("auth", "logout"),
        ("auth", "profiles"),
        ("whoami",),
        ("demo",),
        ("fake", "serve"),
        ("leads", "list"),
        ("leads", "show"),
        ("leads", "create"),
        ("leads", "update"),
        ("leads", "qualify"),
        ("leads", "disqualify"),
        ("leads", "reactivate"),
        *((t, c) for t in ("accounts", "contacts", "opportunities") for c in _CRUD),
        *(("accounts", c) for c in ("deactivate", "activate")),
        *(("contacts", c) for c in ("deactivate", "activate")),
        *(("opportunities", c) for c in ("win", "lose", "reopen")),
        *(("records", c) for c in ("list", "get", "create", "update", "delete")),
        ("query",),
        ("completion",),
    ]:
        assert expected in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert f"{' '.join(path)} [OPTIONS]" in result.stdout
    ctx = click.Context(cli)
    command: click.Command | None = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.get_command(ctx, name)
    assert command is not None
    assert (command.help or "").strip(), f"{' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden and param.name != "help":
            assert (param.help or "").strip(), f"{' '.join(path)} {param.opts[0]} has no help"


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_is_in_the_readme(path: tuple[str, ...]) -> None:
    text = README.read_text(encoding="utf-8")
    assert f"d365leads {' '.join(path)}" in text, (
        f"README.md does not mention d365leads {' '.join(path)}"
    )
