"""Real processes: ``d365leads fake serve`` and the CLI against ``python -m d365leads.fake``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytestmark = pytest.mark.slow


@contextmanager
def serving(*argv: str) -> Iterator[str]:
    """Start a fake server process, yield its org URL (first stdout line), stop it."""
    proc = subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()  # blocks until the server is listening
        assert url.startswith("http://127.0.0.1:"), (url, proc.stderr.read() if proc.stderr else "")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("D365", "AZURE_"))}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "d365leads", *argv],
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
    )


def test_cli_against_python_m_fake() -> None:
    with serving("-m", "d365leads.fake", "--port", "0", "--demo-data") as url:
        env = {"D365_URL": url, "D365_ACCESS_TOKEN": "anything"}
        listed = cli("leads", "list", "--open", "--top", "3", env=env)
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)  # not a terminal: JSON by default
        assert len(rows) == 3
        assert all(r["status"].startswith("Open/") for r in rows)
        lead = rows[0]["leadid"]
        done = cli("leads", "disqualify", lead, "--reason", "canceled", env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["status"] == "Disqualified/Canceled"


def test_fake_serve_command_strict_auth() -> None:
    with serving(
        "-m", "d365leads", "fake", "serve", "--demo-data", "--strict-auth", "--token", "good"
    ) as url:
        ok = cli("whoami", env={"D365_URL": url, "D365_ACCESS_TOKEN": "good"})
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["url"] == url
        expired = cli("whoami", env={"D365_URL": url, "D365_ACCESS_TOKEN": "expired"})
        assert expired.returncode == 3
        assert "auth login" in expired.stderr
        assert "expired" not in expired.stdout
