"""Publishing metadata: one version, a Keep-a-Changelog entry for it, the licence file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from d365leads import __version__

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the metadata is the same on 3.10

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_lives_in_one_place() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    hits = [
        p
        for p in (ROOT / "d365leads").rglob("*.py")
        if re.search(r"__version__\s*=", p.read_text(encoding="utf-8"))
    ]
    assert [p.name for p in hits] == ["_version.py"]


def test_changelog_newest_release_is_the_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "keepachangelog.com" in text and "## [Unreleased]" in text
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", text, re.MULTILINE)
    assert releases and releases[0] == __version__
    assert releases[-1] == "0.1.0"


def test_licence_and_classifiers() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    classifiers = project["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # PEP 639: the expression
    assert "pandas" in project["optional-dependencies"]
