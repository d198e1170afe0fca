"""The client's FetchXML paging against the fake's independent FetchXML engine.

Until the layered fake answers ``?fetchXml=`` itself, ``responses`` hands each request to the
engine and writes its page in the Web API's shape, so the two implementations of the paging
cookie (the client's and the fake's) are checked against each other.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from d365leads import DataverseClient
from d365leads.errors import BadRequestError
from d365leads.fake.fetchxml import FetchXmlError, evaluate

from .conftest import API

COLUMNS = {"leadid": "guid", "fullname": "string", "statecode": "state", "revenue": "money"}


class LeadOrg:
    """One lead table for the engine."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.lead_rows = rows

    def has_table(self, table: str) -> bool:
        return table == "lead"

    def column_type(self, table: str, column: str) -> str | None:
        return COLUMNS.get(column)

    def columns(self, table: str) -> Iterable[str]:
        return list(COLUMNS)

    def primary_id(self, table: str) -> str:
        return "leadid"

    def rows(self, table: str) -> Iterable[Mapping[str, Any]]:
        return self.lead_rows

    def user_id(self) -> str:
        return "aaaaaaaa-0000-0000-0000-000000000001"

    def business_unit_id(self) -> str:
        return "bbbbbbbb-0000-0000-0000-000000000001"

    def now(self) -> datetime:
        return datetime(2026, 3, 15, tzinfo=timezone.utc)


def answer(org: LeadOrg) -> Any:
    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        (xml,) = parse_qs(urlsplit(request.url).query)["fetchXml"]
        try:
            result = evaluate(xml, org)
        except FetchXmlError as exc:
            body = {"error": {"code": exc.code, "message": exc.message}}
            return exc.status, {"Content-Type": "application/json"}, json.dumps(body)
        page: dict[str, Any] = {"value": result.rows}
        if result.more_records:
            page["@Microsoft.Dynamics.CRM.morerecords"] = True
            if result.paging_cookie is not None:
                page["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"] = result.paging_cookie
        return 200, {"Content-Type": "application/json"}, json.dumps(page, default=str)

    return callback


@pytest.fixture(scope="module")
def twelve_thousand() -> LeadOrg:
    rng = random.Random(12)
    return LeadOrg(
        [
            {
                "leadid": f"{n:08x}-0000-4000-8000-{rng.getrandbits(48):012x}",
                "fullname": rng.choice(["Ann", "Bob", "Cy", "Di"]),
                "statecode": rng.choice([0, 1, 2]),
            }
            for n in range(12_000)
        ]
    )


def test_twelve_thousand_rows_by_cookie_each_once(
    client: DataverseClient, rsps: responses.RequestsMock, twelve_thousand: LeadOrg
) -> None:
    rsps.add_callback(
        "GET", API + "leads", callback=answer(twelve_thousand), content_type="application/json"
    )
    xml = (
        "<fetch><entity name='lead'><attribute name='fullname'/>"
        "<order attribute='fullname' descending='true'/></entity></fetch>"
    )
    ids = [row["leadid"] for row in client.records.fetch("leads", xml)]
    assert len(rsps.calls) == 3  # pages of 5,000
    assert Counter(ids) == Counter(row["leadid"] for row in twelve_thousand.lead_rows)
    small = [row["leadid"] for row in client.records.fetch("leads", xml, page_size=3000)]
    assert small == ids
    assert len(rsps.calls) == 3 + 4


def test_an_engine_refusal_reaches_the_caller_as_dataverse_error(
    client: DataverseClient, rsps: responses.RequestsMock, twelve_thousand: LeadOrg
) -> None:
    rsps.add_callback(
        "GET", API + "leads", callback=answer(twelve_thousand), content_type="application/json"
    )
    xml = "<fetch><entity name='lead'><attribute name='nope'/></entity></fetch>"
    with pytest.raises(BadRequestError) as caught:
        list(client.records.fetch("leads", xml))
    assert caught.value.code == "0x80041103"
    assert "'lead' entity doesn't contain attribute with Name = 'nope'." in str(caught.value)
