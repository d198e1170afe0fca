"""A malformed cassette is refused with an error that names the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from d365leads.cassette import Cassette, CassetteFormatError

GOOD: dict[str, Any] = {
    "format": "d365leads-cassette",
    "version": 1,
    "recorded_at": "2026-01-01T00:00:00Z",
    "api_version": "v9.2",
    "org_url": "https://fake-org.crm.dynamics.com",
    "interactions": [
        {
            "request": {
                "method": "GET",
                "path": "leads",
                "query": [["$top", "1"]],
                "headers": {"accept": "application/json"},
                "body": None,
            },
            "response": {"status": 200, "headers": {}, "body": {"value": []}},
        }
    ],
}


def broken(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the field at ``path`` (dots and [n]) set to ``value`` (``...``: removed)."""
    data = copy.deepcopy(GOOD)
    keys: list[Any] = []
    for part in path.replace("]", "").replace("[", ".").split("."):
        keys.append(int(part) if part.isdigit() else part)
    target = data
    for key in keys[:-1]:
        target = target[key]
    if value is ...:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


def test_the_good_cassette_loads() -> None:
    cassette = Cassette.from_json(GOOD)
    assert cassette.interactions[0].request.query == [("$top", "1")]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("interactions", {}, "interactions must be a list, not {}"),
        ("interactions[0]", "x", 'interactions[0] must be an object, not "x"'),
        ("interactions[0].request", ..., "interactions[0].request is missing"),
        ("interactions[0].response", [], "interactions[0].response must be an object"),
        ("interactions[0].request.method", ..., "interactions[0].request.method is missing"),
        ("interactions[0].request.method", 7, "interactions[0].request.method must be a string"),
        ("interactions[0].request.path", None, "interactions[0].request.path must be a string"),
        ("interactions[0].request.query", "a=1", "interactions[0].request.query must be a list"),
        ("interactions[0].request.query[0]", ["$top"], "interactions[0].request.query[0] must"),
        ("interactions[0].request.headers", [], "interactions[0].request.headers must be an obj"),
        (
            "interactions[0].request.headers.accept",
            1,
            "interactions[0].request.headers['accept'] must be a string, not 1",
        ),
        ("interactions[0].response.status", ..., "interactions[0].response.status is missing"),
        ("interactions[0].response.status", "200", "response.status must be a whole number"),
        ("interactions[0].response.status", True, "response.status must be a whole number"),
        ("interactions[0].response.status", 42, "response.status must be an HTTP status, not 42"),
        ("org_url", 5, "org_url must be a string, not 5"),
        ("recorded_at", ["x"], "recorded_at must be a string"),
    ],
)
def test_malformed_fields_are_named(path: str, value: Any, message: str) -> None:
    with pytest.raises(CassetteFormatError) as info:
        Cassette.from_json(broken(path, value))
    assert message in str(info.value)


def test_load_names_the_file_and_the_field(tmp_path: Path) -> None:
    file = tmp_path / "c.json"
    file.write_text(json.dumps(broken("interactions[0].response.status", "ok")), encoding="utf-8")
    with pytest.raises(CassetteFormatError, match=r"c\.json: interactions\[0\]\.response\.status"):
        Cassette.load(file)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"format": "d365leads-cassette", "version": 1, "interactions": [', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"[]", "not a d365leads cassette"),
        (b'{"format": "d365leads-cassette", "version": 99}', "version 99 is not supported"),
    ],
)
def test_unreadable_files_say_why(tmp_path: Path, content: bytes, message: str) -> None:
    file = tmp_path / "c.json"
    file.write_bytes(content)
    with pytest.raises(CassetteFormatError, match=message):
        Cassette.load(file)
