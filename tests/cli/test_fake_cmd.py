"""``d365leads fake serve`` argument handling (the server itself runs in test_subprocess.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from d365leads.cli.app import cli


def test_options_are_forwarded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import d365leads.fake as fake_module

    seed = tmp_path / "seed.json"
    seed.write_text('{"lead": [{"subject": "x", "lastname": "y"}]}')
    calls: list[dict[str, Any]] = []

    def fake_run_server(**kwargs: Any) -> None:
        calls.append(kwargs)
        kwargs["out"].write("http://127.0.0.1:1\n")

    monkeypatch.setattr(fake_module, "run_server", fake_run_server)
    result = CliRunner().invoke(
        cli,
        [
            "fake",
            "serve",
            "--port",
            "8123",
            "--seed",
            str(seed),
            "--demo-data",
            "--strict-auth",
            "--token",
            "tok",
            "--latency-ms",
            "5",
            "--op-cost-ms",
            "2",
            "--max-requests",
            "0",
            "--window-s",
            "60",
            "--max-exec-ms",
            "1000",
            "--max-concurrency",
            "3",
            "--dop-hint",
            "0",
            "--fault",
            "throttle:2",
            "--change-retention-days",
            "1",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "http://127.0.0.1:1"
    (call,) = calls
    options = call["options"]
    assert call["port"] == 8123 and call["host"] == "127.0.0.1"
    assert call["seed_file"] == seed and call["demo_data"] is True
    assert call["accepted_tokens"] == ("tok",)
    assert options.strict_auth is True
    assert (options.latency_ms, options.op_cost_ms, options.window_s) == (5, 2, 60)
    assert options.max_requests is None  # 0 switches the limit off
    assert options.dop_hint is None
    assert (options.max_exec_ms, options.max_concurrency) == (1000, 3)
    assert options.faults == ["throttle:2"]
    assert options.change_retention_days == 1


def test_bad_fault_spec_is_usage_error() -> None:
    result = CliRunner().invoke(cli, ["fake", "serve", "--fault", "explode:everything"])
    assert result.exit_code == 2
    assert "--fault" in result.stderr


def test_bad_seed_file_is_usage_error(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text('{"lead": [{"no_such_column": 1}]}')
    result = CliRunner().invoke(cli, ["fake", "serve", "--seed", str(seed)])
    assert result.exit_code == 2
    assert "no_such_column" in result.stderr


def test_port_in_use_is_usage_error() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["fake", "serve", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
