"""Fixtures for CLI tests: an isolated environment and a runner bound to the fake."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Cli


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No D365_*/AZURE_* variable from the developer's shell; profiles in a temp dir."""
    for name in list(os.environ):
        if name.startswith(("D365", "AZURE_")):
            monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    monkeypatch.setenv("D365LEADS_CONFIG_DIR", str(config))
    monkeypatch.setenv("NO_COLOR", "1")
    yield config


@pytest.fixture
def run(fake_dataverse: Any) -> Cli:
    """A CLI runner pointed at the in-process fake with a static token."""
    return Cli(fake_dataverse.org_url)
