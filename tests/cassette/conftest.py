"""Fixtures for the record/replay tests: an environment without the developer's org settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No D365_*/AZURE_* variable from the shell; CLI profiles in a temp dir; default key."""
    for name in list(os.environ):
        if name.startswith(("D365", "AZURE_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("D365LEADS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("NO_COLOR", "1")
    yield
