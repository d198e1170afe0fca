"""Change tracking in the fake (``Prefer: odata.track-changes``, ``$deltatoken``), both adapters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from d365leads.fake import FakeDataverse, FakeOptions, ManualClock
from d365leads.fake.handlers.delta import decode_token, encode_token

TRACK = {"Prefer": "odata.track-changes"}


@dataclass
class Wire:
    fake: FakeDataverse
    clock: ManualClock
    base_url: str
    session: requests.Session

    def get(self, url: str, prefer: str | None = None) -> requests.Response:
        headers = {"Prefer": prefer} if prefer else {}
        return self.session.get(url if "://" in url else self.base_url + url, headers=headers)

    def sync(self, url: str, prefer: str | None = None) -> tuple[list[dict[str, Any]], str, int]:
        """Follow nextLinks to the end: (entries, deltaLink, pages)."""
        entries: list[dict[str, Any]] = []
        pages = 0
        while True:
            response = self.get(url, prefer)
            assert response.status_code == 200, response.text
            payload = response.json()
            pages += 1
            entries.extend(payload["value"])
            if "@odata.nextLink" in payload:
                assert "@odata.deltaLink" not in payload
                url = payload["@odata.nextLink"]
                continue
            return entries, payload["@odata.deltaLink"], pages


def _make_wire(kind: str, options: FakeOptions) -> Iterator[Wire]:
    clock = ManualClock()
    fake = FakeDataverse(options=options, clock=clock, sleep=lambda s: None)
    with requests.Session() as session:
        session.headers["Authorization"] = "Bearer delta-tests"
        if kind == "in-process":
            with fake.mock():
                yield Wire(fake, clock, fake.base_url, session)
        else:
            with fake.serve() as server:
                yield Wire(fake, clock, server.base_url, session)
    assert fake.errors == []


@pytest.fixture(params=["in-process", "server"])
def wire(request: pytest.FixtureRequest) -> Iterator[Wire]:
    yield from _make_wire(request.param, FakeOptions())


def _seed(fake: FakeDataverse, count: int) -> list[str]:
    return fake.seed(
        "lead", [{"subject": f"Lead {i}", "lastname": f"Last{i}"} for i in range(count)]
    )


def test_initial_read_returns_rows_and_a_delta_link(wire: Wire) -> None:
    ids = _seed(wire.fake, 3)
    response = wire.get("leads?$select=subject", "odata.track-changes")
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "odata.track-changes"
    payload = response.json()
    assert payload["@odata.context"] == f"{wire.base_url}$metadata#leads(subject)"
    assert sorted(row["leadid"] for row in payload["value"]) == sorted(ids)
    assert payload["@odata.deltaLink"].startswith(f"{wire.base_url}leads?$select=subject&")
    assert "$deltatoken=" in payload["@odata.deltaLink"]


def test_delta_reports_creates_updates_then_deletes(wire: Wire) -> None:
    ids = _seed(wire.fake, 3)
    _, delta_link, _ = wire.sync("leads?$select=subject", "odata.track-changes")
    session, base = wire.session, wire.base_url
    assert session.patch(f"{base}leads({ids[0]})", json={"subject": "Changed"}).status_code == 204
    assert session.delete(f"{base}leads({ids[1]})").status_code == 204
    created = session.post(f"{base}leads", json={"subject": "New", "lastname": "N"})
    new_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    # Created and deleted between two syncs: still reported as deleted.
    short = session.post(f"{base}leads", json={"subject": "Brief", "lastname": "B"})
    short_id = short.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert session.delete(short.headers["OData-EntityId"]).status_code == 204

    response = wire.get(delta_link)
    assert response.status_code == 200
    payload = response.json()
    assert payload["@odata.context"] == f"{base}$metadata#leads(subject)/$delta"
    changed = [e for e in payload["value"] if "reason" not in e]
    deleted = [e for e in payload["value"] if e.get("reason") == "deleted"]
    assert payload["value"] == changed + deleted  # changes first, then deletions
    assert [(e["leadid"], e["subject"]) for e in changed] == [(ids[0], "Changed"), (new_id, "New")]
    assert all(set(e) == {"@odata.etag", "leadid", "subject"} for e in changed)
    assert deleted == [
        {"@odata.context": f"{base}$metadata#leads/$deletedEntity", "id": i, "reason": "deleted"}
        for i in (ids[1], short_id)
    ]
    again = wire.get(payload["@odata.deltaLink"]).json()
    assert again["value"] == []
    assert again["@odata.deltaLink"]


def test_paging_inside_a_delta(wire: Wire) -> None:
    ids = _seed(wire.fake, 6)
    initial, delta_link, pages = wire.sync("leads", "odata.track-changes,odata.maxpagesize=4")
    assert (len(initial), pages) == (6, 2)
    for record_id in ids[:3]:
        wire.session.patch(f"{wire.base_url}leads({record_id})", json={"subject": "x"})
    for record_id in ids[3:5]:
        wire.session.delete(f"{wire.base_url}leads({record_id})")
    entries, _, pages = wire.sync(delta_link, "odata.maxpagesize=2")
    assert pages == 3
    assert [e.get("leadid") or e["id"] for e in entries] == ids[:5]
    assert [e.get("reason") for e in entries] == [None, None, None, "deleted", "deleted"]


def test_deletes_start_on_a_fresh_page_and_a_recreated_row_is_not_deleted(wire: Wire) -> None:
    ids = _seed(wire.fake, 6)
    _, delta_link, _ = wire.sync("leads", "odata.track-changes")
    wire.session.patch(f"{wire.base_url}leads({ids[0]})", json={"subject": "x"})
    for record_id in ids[2:6]:
        wire.session.delete(f"{wire.base_url}leads({record_id})")
    # Deleted, then created again with the same id: a change, not a deletion.
    wire.fake.seed("lead", [{"leadid": ids[5], "subject": "back", "lastname": "B"}])
    entries, _, pages = wire.sync(delta_link, "odata.maxpagesize=2")
    assert pages == 3
    # The two changes fill the first page; the deletions follow on their own pages.
    assert [e.get("leadid") or e["id"] for e in entries] == [ids[0], ids[5], *ids[2:5]]
    assert [e.get("reason") for e in entries] == [None, None, "deleted", "deleted", "deleted"]


def test_a_row_written_between_pages_is_not_lost(wire: Wire) -> None:
    ids = _seed(wire.fake, 4)
    first = wire.get("leads", "odata.track-changes,odata.maxpagesize=2").json()
    first_ids = {row["leadid"] for row in first["value"]}
    late = next(i for i in ids if i not in first_ids)
    wire.session.patch(f"{wire.base_url}leads({late})", json={"subject": "edited mid-read"})
    rest, delta_link, _ = wire.sync(first["@odata.nextLink"])
    delta, _, _ = wire.sync(delta_link)
    assert late in {row["leadid"] for row in delta}
    assert [row["subject"] for row in delta if row.get("leadid") == late] == ["edited mid-read"]
    assert first_ids | {row["leadid"] for row in rest} | {late} == set(ids)


@pytest.mark.parametrize(
    "option",
    [
        "$filter=statecode eq 0",
        "$orderby=subject",
        "$top=5",
        "$expand=parentaccountid($select=name)",
    ],
)
def test_query_options_are_refused_with_change_tracking(wire: Wire, option: str) -> None:
    name = option.split("=")[0]
    response = wire.get(f"leads?{option}", "odata.track-changes")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.'
    )


def test_expired_token_asks_for_a_full_sync(wire: Wire) -> None:
    _seed(wire.fake, 1)
    _, delta_link, _ = wire.sync("leads", "odata.track-changes")
    wire.clock.advance(6 * 86400)
    assert wire.get(delta_link).status_code == 200
    wire.clock.advance(1.5 * 86400)
    expired = wire.get(delta_link)
    assert expired.status_code == 400
    assert expired.json()["error"] == {
        "code": "0x80044352",
        "message": (
            "Version stamp associated with the client has expired. Please perform a full sync."
        ),
    }
    wire.fake.options.change_retention_days = 30
    wire.fake.options.delta_expired_status = 410
    assert wire.get(delta_link).status_code == 200
    wire.clock.advance(30 * 86400)
    assert wire.get(delta_link).status_code == 410


def test_bad_tokens_and_untracked_tables(wire: Wire) -> None:
    bad = wire.get("leads?$deltatoken=garbage")
    assert bad.status_code == 400
    assert "$deltatoken 'garbage' is not valid" in bad.json()["error"]["message"]
    future = wire.get("leads?$deltatoken=" + encode_token(10**6, wire.clock()).replace("/", "%2F"))
    assert future.status_code == 400
    wire.fake.options.change_tracking_tables = ("account",)
    untracked = wire.get("leads", "odata.track-changes")
    assert untracked.status_code == 400
    assert (
        "Change tracking is not enabled for the entity 'lead'"
        in (untracked.json()["error"]["message"])
    )


def test_token_format_round_trips() -> None:
    clock = ManualClock()
    token = encode_token(919042, clock())
    assert token == "919042!01/05/2026 09:00:00"
    assert decode_token(token) == (919042, clock())
