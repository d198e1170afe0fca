"""Root group: help, version, global options, settings precedence and error -> exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Cli
from click.testing import CliRunner

from d365leads import __version__, errors
from d365leads.cli.app import cli, hoist_global_options
from d365leads.cli.errors import (
    EXIT_AUTH,
    EXIT_USAGE,
    ConfirmationRequired,
    PartialFailure,
    StoppedWithCheckpoint,
    describe,
)
from d365leads.errors import UnauthorizedError


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_help_lists_exit_codes_and_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for word in ("auth", "leads", "whoami", "demo", "fake", "Exit codes", "D365_URL"):
        assert word in result.stdout


def test_unknown_command_is_usage_error() -> None:
    result = CliRunner().invoke(cli, ["nope"])
    assert result.exit_code == 2


def test_missing_url_names_the_variable() -> None:
    result = Cli(url=None)("whoami")
    assert result.exit_code == EXIT_USAGE
    assert "D365_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_malformed_url_is_config_error() -> None:
    result = Cli(url="ftp://example.com")("whoami")
    assert result.exit_code == EXIT_USAGE
    assert "not an org URL" in result.stderr


def test_missing_credentials_is_config_error(fake_dataverse: object) -> None:
    result = Cli(url="https://fake-org.crm.dynamics.com", token=None)("whoami")
    assert result.exit_code == EXIT_USAGE
    assert "D365_ACCESS_TOKEN" in result.stderr


def test_whoami(run: Cli) -> None:
    result = run("whoami")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"user_id", "business_unit_id", "organization_id", "url"}
    assert data["url"] == run.url


def test_env_url_used_when_no_flag(run: Cli) -> None:
    result = run("whoami", use_url=False, env={"D365_URL": run.url})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["url"] == run.url


def test_flag_beats_environment(run: Cli) -> None:
    # The env URL points nowhere; the flag must win.
    result = run("whoami", env={"D365_URL": "https://elsewhere.crm.dynamics.com"})
    assert result.exit_code == 0, result.stderr


def test_expired_token_exits_3(fake_dataverse: object) -> None:
    fake_dataverse.options.strict_auth = True  # type: ignore[attr-defined]
    url = fake_dataverse.org_url  # type: ignore[attr-defined]
    result = Cli(url, token="expired-or-foreign-token")("whoami")
    assert result.exit_code == EXIT_AUTH
    assert "auth login" in result.stderr
    assert "expired-or-foreign-token" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_debug_logs_requests_without_secrets(run: Cli) -> None:
    result = run("--debug", "whoami")
    assert result.exit_code == 0, result.stderr
    assert "WhoAmI" in result.stderr
    assert "debug:" in result.stderr
    assert run.token not in result.stderr  # type: ignore[operator]


def test_describe_redacts_bearer_tokens() -> None:
    exc = UnauthorizedError("token Bearer abc.def.ghi rejected", status=401)
    code, message = describe(exc)
    assert code == EXIT_AUTH
    assert "abc.def.ghi" not in message
    assert "\n" not in message


def test_unexpected_error_exit_1_and_no_traceback_without_debug(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from d365leads.records import RecordsAPI

    def boom(self: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(RecordsAPI, "whoami", boom)
    result = run("whoami")
    assert result.exit_code == 1
    assert "unexpected error: RuntimeError: kaboom" in result.stderr
    assert "Traceback" not in result.stderr
    result = run("--debug", "whoami")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_keyboard_interrupt_exits_130(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from d365leads.records import RecordsAPI

    def interrupted(self: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(RecordsAPI, "whoami", interrupted)
    result = run("whoami")
    assert result.exit_code == 130
    assert "Interrupted" in result.stderr


def test_profile_supplies_url(run: Cli, isolated_env: Path) -> None:
    result = run(
        "auth", "login", "--url", run.url or "", "--profile", "dev", "--device-code", "--no-verify"
    )
    assert result.exit_code == 0, result.stderr
    # No --url and no D365_URL: the default profile's URL is used; the env token wins over
    # the profile's device-code sign-in.
    result = run("whoami", use_url=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["url"] == run.url


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (
            errors.PermissionDeniedError("no prvReadLead", status=403, code="0x80040220"),
            3,
            ["0x80040220", "security role"],
        ),
        (
            errors.ThrottledError("slow down", status=429, code="0x80072322"),
            1,
            ["0x80072322", "service protection"],
        ),
        (errors.RequestTimeoutError("read timed out"), 1, ["may have been applied"]),
        (errors.TransportError("connection refused"), 1, ["--url"]),
        (errors.ConfigError("bad", setting="D365_TIMEOUT"), 2, ["D365_TIMEOUT"]),
        (errors.InactiveRecordError("lead is closed"), 2, ["--force"]),
        (PartialFailure("3 of 10 failed"), 4, ["3 of 10 failed"]),
        (StoppedWithCheckpoint("time budget reached"), 5, ["time budget"]),
        (ConfirmationRequired(), 2, ["--yes"]),
    ],
)
def test_describe_maps_errors(exc: BaseException, code: int, words: list[str]) -> None:
    got, message = describe(exc)
    assert got == code
    assert message.startswith("Error: ")
    assert "\n" not in message
    for word in words:
        assert word in message


def test_output_and_debug_may_follow_the_subcommand(run: Cli) -> None:
    result = run("whoami", "-o", "csv", "--debug", output=None)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "url,user_id,business_unit_id,organization_id"
    assert "debug:" in result.stderr
    result = run("whoami", "--output=jsonl", output=None)
    assert json.loads(result.stdout)["url"] == run.url


def test_hoisting_leaves_other_arguments_alone() -> None:
    assert hoist_global_options(["--url", "u", "leads", "list", "-o", "csv", "--top", "3"]) == [
        "--url",
        "u",
        "-o",
        "csv",
        "leads",
        "list",
        "--top",
        "3",
    ]
    assert hoist_global_options(["leads", "list", "--", "-o", "x"]) == [
        "leads",
        "list",
        "--",
        "-o",
        "x",
    ]
    assert hoist_global_options(["-o", "json", "leads", "show", "-ojsonl"]) == [
        "-o",
        "json",
        "-ojsonl",
        "leads",
        "show",
    ]


def test_environment_beats_profile(run: Cli) -> None:
    elsewhere = "https://elsewhere.crm.dynamics.com"
    saved = run("auth", "login", "--url", elsewhere, "--device-code", "--no-verify", use_url=False)
    assert saved.exit_code == 0, saved.stderr
    # The environment's URL wins over the saved profile's...
    result = run("auth", "status", "--offline", use_url=False, env={"D365_URL": run.url})
    assert json.loads(result.stdout)["url"] == run.url
    assert json.loads(result.stdout)["profile"] == "default"
    # ...and without it the profile's URL is used.
    result = run("auth", "status", "--offline", use_url=False)
    assert json.loads(result.stdout)["url"] == elsewhere
    # A flag beats both.
    result = run("auth", "status", "--offline", env={"D365_URL": elsewhere})
    assert json.loads(result.stdout)["url"] == run.url


def test_main_exits_with_the_mapped_code(capsys: pytest.CaptureFixture[str]) -> None:
    from d365leads.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["leads", "list"])
    assert exit_info.value.code == 2
    assert "D365_URL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
