"""The exchange files are well formed: every exchange names its page, section and area, and
the set covers the Web API areas the conformance suite promises."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from ._exchanges import AREAS, SOURCE_PREFIX, load_exchanges, load_pages

PAGES = load_pages()
EXCHANGES = load_exchanges()


@pytest.mark.parametrize("page", PAGES, ids=[p["_file"] for p in PAGES])
def test_page_header(page: dict[str, object]) -> None:
    assert isinstance(page.get("page"), str) and page["page"]
    source = page.get("source")
    assert isinstance(source, str) and source.startswith(SOURCE_PREFIX), source
    assert isinstance(page.get("doc_path"), str) and page["doc_path"]
    assert isinstance(page.get("exchanges"), list) and page["exchanges"]


def test_ids_are_unique() -> None:
    counts = Counter(ex.id for ex in EXCHANGES)
    assert not [name for name, n in counts.items() if n > 1]


@pytest.mark.parametrize("exchange", EXCHANGES, ids=[ex.id for ex in EXCHANGES])
def test_exchange_shape(exchange: object) -> None:
    data = exchange.data  # type: ignore[attr-defined]
    assert data["area"] in AREAS, data["area"]
    assert isinstance(data["section"], str) and data["section"]
    request, response = data["request"], data["response"]
    assert request["method"] in {"GET", "POST", "PATCH", "PUT", "DELETE"}
    assert not request["path"].startswith("/"), "paths are relative to /api/data/v9.2/"
    assert not ("body" in request and "body_text" in request)
    assert isinstance(response["status"], int)
    assert sum(k in response for k in ("body", "body_text", "batch")) <= 1
    for key in ("known_gap", "composed", "adapted", "errata"):
        if key in data:
            assert isinstance(data[key], str) and data[key].strip(), key
    steps = [request, response, *(data.get("before") or [])]
    for headers in (step.get("headers") or {} for step in steps):
        _check_headers(headers)
    unknown = set(data) - {
        "id", "section", "area", "composed", "adapted", "errata", "known_gap", "options",
        "seed", "before", "request", "response", "vary", "patterns", "truncated", "open", "ordered",
    }  # fmt: skip
    assert not unknown


def _check_headers(headers: dict[Any, Any]) -> None:
    # A comma inside a YAML flow mapping ends the value: catch a header split that way.
    for name, value in headers.items():
        assert isinstance(name, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name), name
        assert isinstance(value, str), (name, value)
        assert value.count('"') % 2 == 0, (name, value)


def test_coverage() -> None:
    """At least 60 documented exchanges, over every promised area."""
    assert len(EXCHANGES) >= 60
    assert {ex.data["area"] for ex in EXCHANGES} == AREAS
