"""Helpers for CLI tests: a runner bound to the fake, output parsing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from click.testing import CliRunner, Result

from d365leads.cli.app import cli

TOKEN = "cli-test-token"


class Cli:
    """Runs ``d365leads`` in-process with click's CliRunner."""

    def __init__(self, url: str | None = None, token: str | None = TOKEN) -> None:
        self.url = url
        self.token = token
        self.runner = CliRunner()

    def __call__(
        self,
        *args: str,
        env: dict[str, str | None] | None = None,
        input: str | None = None,
        use_url: bool = True,
        output: str | None = "json",
    ) -> Result:
        argv: list[str] = []
        if use_url and self.url:
            argv += ["--url", self.url]
        if output:
            argv += ["-o", output]
        argv += list(args)
        full_env: dict[str, str | None] = {}
        if self.token:
            full_env["D365_ACCESS_TOKEN"] = self.token
        full_env.update(env or {})
        return self.runner.invoke(cli, argv, env=full_env, input=input, catch_exceptions=False)


def json_out(result: Result) -> Any:
    """Parse the command's stdout as JSON, showing stderr if that fails."""
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def lines(result: Result) -> Sequence[str]:
    """The non-empty lines of stderr."""
    return [line for line in result.stderr.splitlines() if line.strip()]
