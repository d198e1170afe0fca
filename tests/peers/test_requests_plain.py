"""Plain ``requests`` code, written the way a Python user writes it after reading the Web API docs.

Query options go in ``params=`` (so spaces become ``+`` on the wire, and a literal ``+`` becomes
``%2B``), the token comes from MSAL's client-credentials flow against the fake's login host, and
every result is checked against the fake's store.
"""

from __future__ import annotations

from collections.abc import Iterator

import msal
import pytest
import requests

from d365leads.fake import FakeDataverse

from .matrix import case
from .seed import OPEN, seed_leads

PLAIN = "requests"
AUTHORITY = "https://login.microsoftonline.com/contoso.onmicrosoft.com"


@pytest.fixture
def session(fake: FakeDataverse) -> Iterator[requests.Session]:
    app = msal.ConfidentialClientApplication(
        "peer-client-id", client_credential="peer-client-secret", authority=AUTHORITY
    )
    token = app.acquire_token_for_client(scopes=[f"{fake.org_url}/.default"])
    with requests.Session() as session:
        session.headers.update(
            {
                "Authorization": f"Bearer {token['access_token']}",
                "Accept": "application/json",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
            }
        )
        yield session


@case(PLAIN, "create (POST, OData-EntityId)")
def test_create(fake: FakeDataverse, session: requests.Session) -> None:
    reply = session.post(f"{fake.base_url}leads", json={"lastname": "Plain", "companyname": "P Co"})

    assert reply.status_code == 204
    lead_id = reply.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    row = fake.get("lead", lead_id)
    assert row is not None and (row["lastname"], row["companyname"]) == ("Plain", "P Co")


@case(PLAIN, "retrieve with params=$select")
def test_retrieve(fake: FakeDataverse, session: requests.Session) -> None:
    ids = seed_leads(fake, 2)

    reply = session.get(
        f"{fake.base_url}leads({ids[1]})", params={"$select": "lastname,companyname"}
    )

    reply.raise_for_status()
    stored = fake.get("lead", ids[1])
    assert stored is not None
    body = reply.json()
    assert (body["lastname"], body["companyname"]) == (stored["lastname"], stored["companyname"])


@case(PLAIN, "update (PATCH)")
def test_update(fake: FakeDataverse, session: requests.Session) -> None:
    ids = seed_leads(fake, 2)

    reply = session.patch(
        f"{fake.base_url}leads({ids[0]})",
        json={"companyname": "Patched"},
        headers={"If-Match": "*"},
    )

    assert reply.status_code == 204
    assert fake.get("lead", ids[0])["companyname"] == "Patched"  # type: ignore[index]
    assert fake.get("lead", ids[1])["companyname"] == "C1"  # type: ignore[index]


@case(PLAIN, "delete")
def test_delete(fake: FakeDataverse, session: requests.Session) -> None:
    ids = seed_leads(fake, 2)

    reply = session.delete(f"{fake.base_url}leads({ids[0]})")

    assert reply.status_code == 204
    assert fake.get("lead", ids[0]) is None
    assert fake.get("lead", ids[1]) is not None


@case(PLAIN, "query with params=$filter/$orderby")
def test_query_params(fake: FakeDataverse, session: requests.Session) -> None:
    seed_leads(fake, 8)

    reply = session.get(
        f"{fake.base_url}leads",
        params={"$select": "lastname", "$filter": "statecode eq 0", "$orderby": "lastname desc"},
    )

    reply.raise_for_status()
    expected = sorted((r["lastname"] for r in fake.rows("lead", statecode=OPEN)), reverse=True)
    assert [r["lastname"] for r in reply.json()["value"]] == expected


@case(PLAIN, "filter on a value with a literal +")
def test_filter_literal_plus(fake: FakeDataverse, session: requests.Session) -> None:
    seed_leads(fake, 3)
    fake.seed("lead", [{"lastname": "Plus", "companyname": "A+B"}])

    reply = session.get(
        f"{fake.base_url}leads", params={"$select": "lastname", "$filter": "companyname eq 'A+B'"}
    )

    reply.raise_for_status()
    assert [r["lastname"] for r in reply.json()["value"]] == ["Plus"]


@case(PLAIN, "follow @odata.nextLink")
def test_next_link(fake: FakeDataverse, session: requests.Session) -> None:
    seed_leads(fake, 7)

    names: list[str] = []
    url: str | None = f"{fake.base_url}leads?$select=lastname&$orderby=lastname"
    pages = 0
    while url:
        reply = session.get(url, headers={"Prefer": "odata.maxpagesize=3"})
        reply.raise_for_status()
        body = reply.json()
        names.extend(r["lastname"] for r in body["value"])
        url = body.get("@odata.nextLink")
        pages += 1

    assert pages == 3
    assert names == sorted(r["lastname"] for r in fake.rows("lead"))
