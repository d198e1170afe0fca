"""The collection query cache: pages continue from kept sorted ids, with the same answers."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d365leads.fake import FakeDataverse, FakeOptions, FakeRequest
from d365leads.fake.handlers import query as query_module
from d365leads.fake.handlers.query_cache import QueryCache, cache_of

_PREFER = {
    "Authorization": "Bearer test-token",
    "Prefer": 'odata.maxpagesize=4,odata.include-annotations="*"',
}


def _fake(n: int) -> FakeDataverse:
    fake = FakeDataverse(
        options=FakeOptions(guid_seed=7),
        clock=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc),
        sleep=lambda seconds: None,
    )
    fake.seed(
        "lead",
        [
            # Repeated subjects: the primary key must break the ties.
            {"subject": f"S{i % 5}", "lastname": f"N{i:02d}", "numberofemployees": i % 7}
            for i in range(n)
        ],
    )
    return fake


def _get(fake: FakeDataverse, url: str) -> dict[str, Any]:
    response = fake(FakeRequest("GET", url, dict(_PREFER)))
    assert response.status == 200, response.body[:300]
    body: dict[str, Any] = json.loads(response.body)
    return body


def _first_url(fake: FakeDataverse, query: str) -> str:
    return f"{fake.org_url}/api/data/v9.2/leads?{query}"


def _count_evaluations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = query_module._matching_rows

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(query_module, "_matching_rows", counting)
    return calls


def test_a_full_read_evaluates_the_query_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake(30)
    calls = _count_evaluations(monkeypatch)
    url: str | None = _first_url(fake, "$orderby=subject desc&$select=subject,lastname")
    seen: list[str] = []
    while url is not None:
        body = _get(fake, url)
        seen += [row["leadid"] for row in body["value"]]
        url = body.get("@odata.nextLink")
    assert len(seen) == len(set(seen)) == 30
    assert len(calls) == 1  # pages 2..8 continued from the kept ids


def test_a_write_between_pages_evaluates_the_query_again(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake(12)
    calls = _count_evaluations(monkeypatch)
    body = _get(fake, _first_url(fake, "$orderby=lastname"))
    fake.store.update("lead", body["value"][0]["leadid"], {"lastname": "Z-moved"})
    rest = _get(fake, body["@odata.nextLink"])
    assert len(calls) == 2
    assert [r["lastname"] for r in rest["value"]] == ["N04", "N05", "N06", "N07"]


def test_the_cache_keeps_a_few_queries() -> None:
    fake = _fake(6)
    for n in range(7):
        _get(fake, _first_url(fake, f"$filter={quote(f'numberofemployees ge {n}')}"))
    with fake.store.lock:
        assert len(cache_of(fake.store)) == 4


# One step between pages: nothing, or a write that may move, remove or add a row.
_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["none", "update", "delete", "insert", "restore"]),
        st.integers(0, 1000),
        st.integers(0, 9),
    ),
    min_size=1,
    max_size=12,
)
_QUERIES = st.sampled_from(
    [
        "$orderby=subject",
        "$orderby=subject desc,numberofemployees&$top=17",
        "$filter=" + quote("numberofemployees ge 2") + "&$orderby=lastname desc",
        "$filter=" + quote("subject eq @s") + "&@s=" + quote("'S1'"),
        "$orderby=numberofemployees desc&$count=true",
    ]
)


def _read(fake: FakeDataverse, query: str, steps: list[tuple[str, int, int]]) -> list[Any]:
    """Follow the next links, applying one step before each further page."""
    bodies: list[Any] = []
    snapshot = fake.store.snapshot()
    url: str | None = _first_url(fake, query)
    todo = list(steps)
    while url is not None and len(bodies) < 40:
        body = _get(fake, url)
        bodies.append(body)
        url = body.get("@odata.nextLink")
        kind, pick, value = todo.pop(0) if todo else ("none", 0, 0)
        ids = sorted(r["leadid"] for r in fake.store.rows("lead"))
        target = ids[pick % len(ids)] if ids else None
        if kind == "update" and target is not None:
            fake.store.update("lead", target, {"subject": f"S{value}", "numberofemployees": value})
        elif kind == "delete" and target is not None:
            fake.store.delete("lead", target)
        elif kind == "insert":
            fake.store.insert("lead", {"subject": f"S{value}", "lastname": f"X{pick}"})
        elif kind == "restore":
            fake.store.restore(snapshot)
    return bodies


@settings(max_examples=30, deadline=None)
@given(query=_QUERIES, steps=_STEPS)
def test_cached_and_uncached_paging_agree(query: str, steps: list[tuple[str, int, int]]) -> None:
    cached = _read(_fake(23), query, steps)
    with pytest.MonkeyPatch.context() as patch:
        # A cache that keeps nothing: every page evaluates the query as before the cache.
        patch.setattr(query_module, "cache_of", lambda store: QueryCache(size=0))
        uncached = _read(_fake(23), query, steps)
    assert cached == uncached
