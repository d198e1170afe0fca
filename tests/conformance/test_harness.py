"""The comparison is not vacuous: a documented answer that differs from the fake's is caught."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from . import _compare
from ._exchanges import Exchange, load_exchanges, run_in_process

BASE = "https://org.example/api/data/v9.2/"
BY_ID = {ex.id: ex for ex in load_exchanges()}


def _mutated(exchange_id: str, change: Callable[[dict[str, Any]], None]) -> Exchange:
    """A copy of a passing exchange whose documented answer was edited by ``change``."""
    ex = BY_ID[exchange_id]
    data = copy.deepcopy(ex.data)
    change(data["response"])
    return Exchange(ex.file, ex.page, ex.source, data)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(response: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = response
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value

    return change


def test_a_passing_exchange_passes() -> None:
    assert run_in_process(BY_ID["page-results/first-page"]) == []


def test_a_wrong_status_is_caught() -> None:
    ex = _mutated("page-results/first-page", _set("status", 201))
    assert any("status 200, documented 201" in p for p in run_in_process(ex))


def test_a_wrong_value_is_caught() -> None:
    change = _set("body/value/0/fullname", "Someone Else")
    problems = run_in_process(_mutated("page-results/first-page", change))
    assert problems


def test_a_missing_key_is_caught() -> None:
    change = _set("body/value/0/jobtitle", "CEO")
    problems = run_in_process(_mutated("page-results/first-page", change))
    assert problems


def test_a_wrong_header_is_caught() -> None:
    change = _set("headers/Preference-Applied", "odata.maxpagesize=3")
    problems = run_in_process(_mutated("page-results/first-page", change))
    assert any("Preference-Applied" in p for p in problems)


def test_a_wrong_batch_part_is_caught() -> None:
    ex_id = "execute-batch-operations-using-web-api/reference-uri-in-request-url"
    batch = BY_ID[ex_id].response["batch"]
    change = _set("batch", batch.replace("Content-ID: 2", "Content-ID: 9"))
    assert any("Content-ID" in p for p in run_in_process(_mutated(ex_id, change)))


def test_seeded_ids_must_match_exactly() -> None:
    rules = _compare.Rules(known_guids={"49b0be2e-d01c-ed11-b83e-000d3a572421"}, base_url=BASE)
    seeded = "49b0be2e-d01c-ed11-b83e-000d3a572421"
    other = "11111111-d01c-ed11-b83e-000d3a572421"
    assert _compare.compare(seeded, other, rules)
    assert not _compare.compare(seeded, seeded.upper(), rules)
    assert not _compare.compare("aaaaaaaa-d01c-ed11-b83e-000d3a572421", other, rules)


def test_urls_compare_path_and_options_but_not_tokens() -> None:
    rules = _compare.Rules(base_url=BASE)
    doc = BASE + "contacts?$select=fullname&$skiptoken=abc"
    assert not _compare.compare(doc, BASE + "contacts?$select=fullname&$skiptoken=xyz", rules)
    assert _compare.compare(doc, BASE + "contacts?$select=fullname,email&$skiptoken=xyz", rules)
    assert _compare.compare(doc, BASE + "contacts?$select=fullname&$count=true&$skiptoken=x", rules)
    assert _compare.compare(doc, BASE + "accounts?$select=fullname&$skiptoken=xyz", rules)


def test_types_and_loosening() -> None:
    rules = _compare.Rules(vary=["/a"], truncated=["/rows"], patterns={"/m": "x[0-9]+"})
    assert _compare.compare({"n": 1}, {"n": "1"}, rules)
    assert _compare.compare({"n": True}, {"n": 1}, rules)
    assert not _compare.compare({"n": 5000000.0}, {"n": 5000000}, rules)
    assert not _compare.compare({"a": "x"}, {"a": "y"}, rules)
    assert _compare.compare({"a": "x"}, {"a": 1}, rules)
    assert not _compare.compare({"rows": [1]}, {"rows": [1, 2]}, rules)
    assert _compare.compare({"rows": [1, 2]}, {"rows": [1]}, rules)
    assert not _compare.compare({"m": "x1"}, {"m": "x42"}, rules)
    assert _compare.compare({"m": "x1"}, {"m": "y42"}, rules)
