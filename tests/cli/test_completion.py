"""Shell completion through click's mechanism: scripts, commands, profile and table names."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from d365leads.cli.app import cli
from d365leads.cli.profiles import Profile, ProfileStore


def _complete(words: str, env: dict[str, str] | None = None) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    result = CliRunner().invoke(
        cli,
        [],
        prog_name="d365leads",
        env={
            "_D365LEADS_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
            **(env or {}),
        },
    )
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.output.splitlines()]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "#compdef d365leads"), ("fish", "complete")],
)
def test_completion_script(shell: str, marker: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert marker in result.stdout and "_D365LEADS_COMPLETE" in result.stdout


def test_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["completion", "tcsh"])
    assert result.exit_code == 2 and "tcsh" in result.output


def test_commands_and_subcommands_complete() -> None:
    assert {"accounts", "opportunities"} <= set(_complete("d365leads "))
    assert _complete("d365leads opp") == ["opportunities"]
    assert set(_complete("d365leads opportunities ")) >= {"win", "lose", "reopen", "list"}


def test_table_names_complete() -> None:
    assert _complete("d365leads records list opp") == ["opportunities", "opportunitycloses"]
    assert "leads" in _complete("d365leads records get ")


def test_profile_names_complete(isolated_env: Path) -> None:
    store = ProfileStore(isolated_env)
    for name in ("prod", "preview", "test"):
        store.save(Profile(name=name, url=f"https://{name}.crm.dynamics.com"))
    assert sorted(_complete("d365leads --profile p")) == ["preview", "prod"]
    assert _complete("d365leads auth use t") == ["test"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_script_loads_in_bash() -> None:
    script = CliRunner().invoke(cli, ["completion", "bash"]).stdout
    checked = subprocess.run(
        ["bash", "-c", script + "\ncomplete -p d365leads"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    assert "_d365leads_completion" in checked.stdout
