"""``dataverse-api`` 1.4.3, unmodified, against the fake.

Its README leaves authentication to the user ("an already authorized ``requests.Session``") and
suggests MSAL; the session here gets its bearer token from MSAL's client-credentials flow against
the fake's login host, with a made-up client id and secret.  Each test checks the fake's store.
"""

from __future__ import annotations

from collections.abc import Iterator

import msal
import pytest
import requests

from d365leads.fake import FakeDataverse

from .matrix import case
from .seed import OPEN, seed_leads

pytest.importorskip("dataverse_api", reason="needs the peers extra: pip install -e '.[peers]'")

from dataverse_api import DataverseClient
from dataverse_api.entity import DataverseEntity

DVA = "dataverse-api"
AUTHORITY = "https://login.microsoftonline.com/contoso.onmicrosoft.com"


class MsalClientCredentials(requests.auth.AuthBase):
    """Bearer auth for a ``requests.Session`` from MSAL's client-credentials flow (token cached)."""

    def __init__(self, app: msal.ConfidentialClientApplication, scopes: list[str]) -> None:
        self.app = app
        self.scopes = scopes

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        result = self.app.acquire_token_for_client(scopes=self.scopes)
        if "access_token" not in result:
            raise RuntimeError(f"login failed: {result.get('error_description')}")
        request.headers["Authorization"] = f"Bearer {result['access_token']}"
        return request


@pytest.fixture
def client(fake: FakeDataverse) -> Iterator[DataverseClient]:
    app = msal.ConfidentialClientApplication(
        "peer-client-id", client_credential="peer-client-secret", authority=AUTHORITY
    )
    with requests.Session() as session:
        session.auth = MsalClientCredentials(app, [f"{fake.org_url}/.default"])
        yield DataverseClient(session=session, environment_url=fake.org_url)


def lead_entity(client: DataverseClient) -> DataverseEntity:
    return client.entity(logical_name="lead")


def statuses(responses: list[requests.Response]) -> list[int]:
    return [r.status_code for r in responses]


@case(DVA, "entity (metadata)")
def test_entity(fake: FakeDataverse, client: DataverseClient) -> None:
    fake.add_alternate_key("lead", "emailaddress1")

    entity = lead_entity(client)

    table = fake.schema.table("lead")
    assert (entity.entity_set_name, entity.primary_id_attr) == (table.entity_set, table.primary_key)
    assert list(entity.alternate_keys.values()) == [list(k) for k in table.alternate_keys]
    assert entity.supports_create_multiple


@case(DVA, "get_entity_definition")
def test_get_entity_definition(fake: FakeDataverse, client: DataverseClient) -> None:
    definition = client.get_entity_definition("lead")

    table = fake.schema.table("lead")
    assert definition.logical_name == table.logical_name
    assert definition.entity_set_name == table.entity_set


@case(DVA, "read select/filter/order_by/page_size")
def test_read(fake: FakeDataverse, client: DataverseClient) -> None:
    seed_leads(fake, 9)

    rows = lead_entity(client).read(
        select=["lastname"], filter="statecode eq 0", order_by="lastname desc", page_size=3
    )

    expected = sorted((r["lastname"] for r in fake.rows("lead", statecode=OPEN)), reverse=True)
    assert [r["lastname"] for r in rows] == expected
    assert len(fake.requests("GET", "leads")) == 3  # 7 open leads, 3 a page


@case(DVA, "create individual")
def test_create_individual(fake: FakeDataverse, client: DataverseClient) -> None:
    responses = lead_entity(client).create([{"lastname": "Ind0"}, {"lastname": "Ind1"}])

    assert statuses(responses) == [204, 204]
    assert sorted(r["lastname"] for r in fake.rows("lead")) == ["Ind0", "Ind1"]


@case(DVA, "create batch")
def test_create_batch(fake: FakeDataverse, client: DataverseClient) -> None:
    responses = lead_entity(client).create(
        [{"lastname": "Bat0"}, {"lastname": "Bat1"}, {"lastname": "Bat2"}], mode="batch"
    )

    assert statuses(responses) == [200]
    assert sorted(r["lastname"] for r in fake.rows("lead")) == ["Bat0", "Bat1", "Bat2"]
    assert len(fake.requests("POST", "$batch")) == 1


@case(DVA, "create multiple (CreateMultiple)")
def test_create_multiple(fake: FakeDataverse, client: DataverseClient) -> None:
    responses = lead_entity(client).create(
        [{"lastname": "Mul0"}, {"lastname": "Mul1"}], mode="multiple", return_created=True
    )

    assert statuses(responses) == [200]
    created = responses[0].json()["Ids"]
    assert sorted(fake.get("lead", i)["lastname"] for i in created) == ["Mul0", "Mul1"]  # type: ignore[index]


@case(DVA, "upsert by primary id (update)")
def test_upsert_by_id(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 2)

    responses = lead_entity(client).upsert([{"leadid": ids[0], "companyname": "Upserted"}])

    assert statuses(responses) == [204]
    assert fake.get("lead", ids[0])["companyname"] == "Upserted"  # type: ignore[index]
    assert fake.get("lead", ids[1])["companyname"] == "C1"  # type: ignore[index]


@case(DVA, "upsert batch")
def test_upsert_batch(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 3)

    responses = lead_entity(client).upsert(
        [{"leadid": ids[0], "companyname": "B0"}, {"leadid": ids[1], "companyname": "B1"}],
        mode="batch",
    )

    assert statuses(responses) == [200]
    companies = [fake.get("lead", i)["companyname"] for i in ids]  # type: ignore[index]
    assert companies == ["B0", "B1", "C2"]


@case(DVA, "upsert by alternate key")
def test_upsert_alternate_key(fake: FakeDataverse, client: DataverseClient) -> None:
    fake.add_alternate_key("lead", "emailaddress1")
    (known,) = fake.seed("lead", [{"lastname": "Old", "emailaddress1": "ada@example.com"}])
    entity = lead_entity(client)
    (key_name,) = entity.alternate_keys

    responses = entity.upsert(
        [
            {"emailaddress1": "ada@example.com", "lastname": "Ada"},
            {"emailaddress1": "bo@example.com", "lastname": "Bo"},
        ],
        altkey_name=key_name,
    )

    assert statuses(responses) == [204, 204]
    assert fake.get("lead", known)["lastname"] == "Ada"  # type: ignore[index]
    assert [r["lastname"] for r in fake.rows("lead", emailaddress1="bo@example.com")] == ["Bo"]


@case(DVA, "delete ids")
def test_delete_ids(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 3)

    responses = lead_entity(client).delete(ids=ids[:2])

    assert statuses(responses) == [204, 204]
    assert [fake.get("lead", i) is None for i in ids] == [True, True, False]


@case(DVA, "delete ids batch")
def test_delete_ids_batch(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 3)

    responses = lead_entity(client).delete(ids=ids[:2], mode="batch")

    assert statuses(responses) == [200]
    assert [fake.get("lead", i) is None for i in ids] == [True, True, False]


@case(DVA, "delete by filter")
def test_delete_by_filter(fake: FakeDataverse, client: DataverseClient) -> None:
    seed_leads(fake, 6)

    lead_entity(client).delete(filter="companyname eq 'C1'")

    assert fake.rows("lead", companyname="C1") == []
    assert len(fake.rows("lead")) == 4
