"""``python -m d365leads`` runs the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "d365leads", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout
