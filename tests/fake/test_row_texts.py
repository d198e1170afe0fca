"""Collection pages joined from kept row texts: the same bytes, never stale.

A page's rows are rendered straight to JSON text (``RenderPlan.render_text``) and kept per
store state (``handlers/row_texts.py``).  The page must be byte for byte ``json.dumps`` of the
entities the dict renderer makes, and every change a row's text depends on (the row, a lookup
target's name, a status label, ``$select``, the annotations asked for, a reset) must show on
the very next read, also when the page was read (and kept) before.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from d365leads.fake import FakeDataverse, FakeOptions, FakeRequest
from d365leads.fake.handlers import row_texts
from d365leads.fake.org.states import status_model
from d365leads.fake.wire.serialize import annotation_filter, serialize_row

ALL = 'odata.include-annotations="*"'
FV = "@OData.Community.Display.V1.FormattedValue"


def _fake() -> FakeDataverse:
    fake = FakeDataverse(
        options=FakeOptions(guid_seed=11),
        clock=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc),
        sleep=lambda seconds: None,
    )
    accounts = fake.seed("account", [{"name": "Contoso"}, {"name": "Fabrikam é"}])
    fake.seed(
        "lead",
        [
            {
                "subject": f'Lead {i} \u2013 "quoted" \\ {chr(0x1F600)}',
                "lastname": f"N{i}",
                "leadsourcecode": 1 + i % 3,
                "estimatedamount": 1000.25 * i,
                "numberofemployees": i * 1000,
                "donotemail": bool(i % 2),
                **({"parentaccountid": accounts[i % 2]} if i % 3 else {}),
            }
            for i in range(7)
        ],
    )
    return fake


def _get(fake: FakeDataverse, query: str = "", prefer: str | None = ALL) -> bytes:
    headers = {"Authorization": "Bearer t"}
    if prefer is not None:
        headers["Prefer"] = prefer
    url = f"{fake.org_url}/api/data/v9.2/leads{'?' + query if query else ''}"
    response = fake(FakeRequest("GET", url, headers))
    assert response.status == 200, response.body[:300]
    return response.body


def _rows(body: bytes) -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = json.loads(body)["value"]
    return value


def _by_subject(body: bytes, lead: str) -> dict[str, Any]:
    return next(r for r in _rows(body) if r["leadid"] == lead)


@pytest.mark.parametrize(
    ("query", "prefer"),
    [
        ("", ALL),
        ("", None),
        ("$select=subject,estimatedamount,_parentaccountid_value,subject", ALL),
        ("$select=leadsourcecode&$count=true", ALL),
        ("$count=true&$top=3", 'odata.maxpagesize=2,odata.include-annotations="*"'),
        ("$filter=lastname eq 'nobody'", ALL),
        ("$orderby=numberofemployees desc", "odata.maxpagesize=3"),
        ("", 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'),
        ("", 'odata.include-annotations="*,-Microsoft.Dynamics.CRM.lookuplogicalname"'),
    ],
)
def test_a_page_is_json_dumps_of_the_entities_the_dict_renderer_makes(
    query: str, prefer: str | None
) -> None:
    fake = _fake()
    for _ in range(2):  # the second read is joined from kept texts
        body = _get(fake, query, prefer)
        page = json.loads(body)
        assert body == json.dumps(page).encode()  # envelope, rows, nextLink: json.dumps bytes
        preference = None
        if prefer is not None and "include-annotations" in prefer:
            preference = prefer.split("include-annotations=", 1)[1].strip('"')
        select = None
        if "$select=" in query:
            listed = query.split("$select=", 1)[1].split("&", 1)[0].split(",")
            select = [n[1:-6] if n.endswith("_value") else n for n in listed]
        meta = status_model(fake.schema.table("lead"), fake.options)
        expected = [
            serialize_row(
                meta,
                fake.store.get("lead", row["leadid"]) or {},
                select=select,
                annotations=annotation_filter(preference),
                resolve_name=fake.primary_name,
            )
            for row in page["value"]
        ]
        assert page["value"] == expected


def test_a_renamed_account_shows_in_a_kept_page() -> None:
    fake = _fake()
    lead = _rows(_get(fake))[1]
    account = lead["_parentaccountid_value"]
    before = _by_subject(_get(fake), lead["leadid"])  # kept now
    fake.store.update("account", account, {"name": "Renamed"})
    after = _by_subject(_get(fake), lead["leadid"])

    assert before[f"_parentaccountid_value{FV}"] != "Renamed"
    assert after[f"_parentaccountid_value{FV}"] == "Renamed"
    assert after["@odata.etag"] == before["@odata.etag"]  # the lead itself did not change


def test_a_written_lead_shows_at_once_in_a_kept_page() -> None:
    fake = _fake()
    lead = _rows(_get(fake))[0]
    _get(fake)
    fake.store.update("lead", lead["leadid"], {"leadsourcecode": 8, "subject": "Changed"})
    after = _by_subject(_get(fake), lead["leadid"])

    assert (after["subject"], after["leadsourcecode"], after[f"leadsourcecode{FV}"]) == (
        "Changed",
        8,
        "Web",
    )
    assert after["@odata.etag"] != lead["@odata.etag"]


def test_a_changed_status_label_shows_at_once_in_a_kept_page() -> None:
    fake = _fake()
    lead = _rows(_get(fake))[0]["leadid"]
    fake.store.update("lead", lead, {"statecode": 2, "statuscode": 100})
    fake.options.custom_status_reasons = (("lead", 100, "Budget", 2),)
    first = _by_subject(_get(fake), lead)
    _get(fake)
    fake.options.custom_status_reasons = (("lead", 100, "No budget", 2),)
    second = _by_subject(_get(fake), lead)

    assert (first[f"statuscode{FV}"], second[f"statuscode{FV}"]) == ("Budget", "No budget")


def test_a_changed_select_or_annotation_preference_shows_at_once() -> None:
    fake = _fake()
    annotated = _rows(_get(fake))
    plain = _rows(_get(fake, prefer=None))
    selected = _rows(_get(fake, "$select=subject", prefer=None))
    again = _rows(_get(fake))

    assert f"leadsourcecode{FV}" in annotated[0] and f"leadsourcecode{FV}" not in plain[0]
    assert set(selected[0]) == {"@odata.etag", "subject", "leadid"}
    assert again == annotated


def test_a_reset_and_a_seed_drop_the_kept_texts() -> None:
    fake = _fake()
    lead = _rows(_get(fake))[0]["leadid"]
    _get(fake)
    fake.reset()
    assert _rows(_get(fake)) == []
    # The same id again, with other values: the text kept before the reset must not come back.
    fake.seed("lead", [{"leadid": lead, "subject": "Fresh", "lastname": "F"}])
    assert [(r["leadid"], r["subject"]) for r in _rows(_get(fake))] == [(lead, "Fresh")]


def test_texts_are_kept_per_state_and_up_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake()
    monkeypatch.setattr(row_texts, "ROW_LIMIT", 3)
    first = _get(fake)
    kept = row_texts.texts_of(fake.store, fake.store.state)
    assert kept.count == 3 and sum(len(t) for t in kept.texts.values()) == 3
    assert _get(fake) == first  # four rows rendered again, three joined from kept texts

    older = kept
    fake.store.update("lead", _rows(first)[0]["leadid"], {"subject": "New"})
    newer = row_texts.texts_of(fake.store, fake.store.state)
    assert newer is not older and newer.count == 0
    # A request still holding the older set adds to that set, never to the newer one.
    older.keep(older.of(next(iter(older.texts))), "x", "{}")
    assert newer.count == 0 and not newer.texts
