"""Microsoft's ``powerplatform-dataverse-client`` 1.1.0, unmodified, against the fake.

Every operation its README shows, through both adapters, with an azure-identity style
credential that hands out a fixed token.  Each test checks the fake's store, not only what the
SDK returns.  Operations the fake cannot answer yet are strict xfails from ``matrix.py``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from d365leads.fake import FakeDataverse

from .matrix import case
from .seed import OPEN, seed_leads

pytest.importorskip(
    "PowerPlatform.Dataverse", reason="needs the peers extra: pip install -e '.[peers]'"
)

import pandas as pd
from azure.core.credentials import AccessToken
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError
from PowerPlatform.Dataverse.models import UpsertItem, col

SDK = "sdk"


class FixedTokenCredential:
    """An azure-identity ``TokenCredential``: one made-up token, valid for an hour."""

    TOKEN = "peer-sdk-token"

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(self.TOKEN, int(time.time()) + 3600)


@pytest.fixture
def client(fake: FakeDataverse) -> Iterator[DataverseClient]:
    credential = FixedTokenCredential()
    # The fake runs with strict_auth; a token it did not issue must be declared to it.
    fake.accepted_tokens.add(FixedTokenCredential.TOKEN)
    with DataverseClient(fake.org_url, credential) as client:
        yield client
    assert set(credential.scopes) <= {f"{fake.org_url}/.default"}


def open_names(fake: FakeDataverse, **equals: Any) -> list[str]:
    return sorted(row["lastname"] for row in fake.rows("lead", statecode=OPEN, **equals))


def gets_of(fake: FakeDataverse, path: str) -> int:
    return len(fake.requests("GET", path))


@case(SDK, "records.create")
def test_create(fake: FakeDataverse, client: DataverseClient) -> None:
    lead_id = client.records.create("lead", {"lastname": "Ada", "companyname": "Peer Co"})

    row = fake.get("lead", lead_id)
    assert row is not None
    assert (row["lastname"], row["companyname"], row["statecode"]) == ("Ada", "Peer Co", OPEN)


@case(SDK, "records.retrieve")
def test_retrieve(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 3)

    record = client.records.retrieve("lead", ids[1], select=["lastname", "companyname"])
    missing = client.records.retrieve("lead", str(uuid.uuid4()), select=["lastname"])

    stored = fake.get("lead", ids[1])
    assert stored is not None and record is not None
    assert (record["lastname"], record["companyname"]) == (
        stored["lastname"],
        stored["companyname"],
    )
    assert missing is None


@case(SDK, "records.update")
def test_update(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 2)

    client.records.update("lead", ids[0], {"companyname": "Renamed Co"})

    assert fake.get("lead", ids[0])["companyname"] == "Renamed Co"  # type: ignore[index]
    assert fake.get("lead", ids[1])["companyname"] == "C1"  # type: ignore[index]


@case(SDK, "records.delete")
def test_delete(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 2)

    client.records.delete("lead", ids[0])

    assert fake.get("lead", ids[0]) is None
    assert fake.get("lead", ids[1]) is not None


@case(SDK, "records.create list (CreateMultiple)")
def test_create_multiple(fake: FakeDataverse, client: DataverseClient) -> None:
    names = ["Multi0", "Multi1", "Multi2"]

    ids = client.records.create("lead", [{"lastname": n, "companyname": "Bulk"} for n in names])

    assert [fake.get("lead", i)["lastname"] for i in ids] == names  # type: ignore[index]
    assert len(fake.requests("POST", "leads/Microsoft.Dynamics.CRM.CreateMultiple")) == 1


@case(SDK, "records.update list (UpdateMultiple)")
def test_update_multiple(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 5)

    client.records.update("lead", ids[:3], {"companyname": "Bulk Co"})

    companies = [fake.get("lead", i)["companyname"] for i in ids]  # type: ignore[index]
    assert companies == ["Bulk Co", "Bulk Co", "Bulk Co", "C0", "C1"]
    assert len(fake.requests("POST", "leads/Microsoft.Dynamics.CRM.UpdateMultiple")) == 1


@case(SDK, "records.delete list (BulkDelete)")
def test_delete_list_bulk(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 4)

    job_id = client.records.delete("lead", ids[:2])

    assert job_id is not None
    uuid.UUID(job_id)
    # The fake may finish the job at once; a real org does it later in the background.
    assert [fake.get("lead", i) is None for i in ids] == [True, True, False, False]


@case(SDK, "records.delete list, one by one")
def test_delete_list_singly(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 4)

    assert client.records.delete("lead", ids[:2], use_bulk_delete=False) is None

    assert [fake.get("lead", i) is None for i in ids] == [True, True, False, False]


@case(SDK, "records.list select/filter/orderby/page_size")
def test_list(fake: FakeDataverse, client: DataverseClient) -> None:
    seed_leads(fake, 9)

    result = client.records.list(
        "lead",
        select=["lastname"],
        filter="statecode eq 0",
        orderby=["lastname desc"],
        page_size=2,
    )

    assert [r["lastname"] for r in result] == open_names(fake)[::-1]
    assert gets_of(fake, "leads") >= 4  # 7 open leads, 2 a page


@case(SDK, "records.list_pages select/filter/orderby/page_size")
def test_list_pages(fake: FakeDataverse, client: DataverseClient) -> None:
    seed_leads(fake, 9)

    pages = list(
        client.records.list_pages(
            "lead",
            select=["lastname", "companyname"],
            filter=col("statecode") == 0,
            orderby=["lastname asc"],
            page_size=3,
        )
    )

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [r["lastname"] for page in pages for r in page] == open_names(fake)


@case(SDK, "records.upsert one (alternate key)")
def test_upsert_one(fake: FakeDataverse, client: DataverseClient) -> None:
    fake.add_alternate_key("lead", "emailaddress1")
    (known,) = fake.seed("lead", [{"lastname": "Old", "emailaddress1": "ada@example.com"}])

    client.records.upsert(
        "lead",
        [
            UpsertItem(
                alternate_key={"emailaddress1": "ada@example.com"}, record={"lastname": "Ada"}
            )
        ],
    )
    client.records.upsert(
        "lead",
        [UpsertItem(alternate_key={"emailaddress1": "bo@example.com"}, record={"lastname": "Bo"})],
    )

    assert fake.get("lead", known)["lastname"] == "Ada"  # type: ignore[index]
    assert [r["lastname"] for r in fake.rows("lead", emailaddress1="bo@example.com")] == ["Bo"]
    assert len(fake.rows("lead")) == 2


@case(SDK, "records.upsert list (UpsertMultiple)")
def test_upsert_list(fake: FakeDataverse, client: DataverseClient) -> None:
    fake.add_alternate_key("lead", "emailaddress1")
    (known,) = fake.seed("lead", [{"lastname": "Old", "emailaddress1": "ada@example.com"}])

    client.records.upsert(
        "lead",
        [
            UpsertItem(
                alternate_key={"emailaddress1": "ada@example.com"}, record={"lastname": "Ada"}
            ),
            UpsertItem(
                alternate_key={"emailaddress1": "bo@example.com"}, record={"lastname": "Bo"}
            ),
        ],
    )

    assert fake.get("lead", known)["lastname"] == "Ada"  # type: ignore[index]
    assert [r["lastname"] for r in fake.rows("lead", emailaddress1="bo@example.com")] == ["Bo"]
    assert len(fake.requests("POST", "leads/Microsoft.Dynamics.CRM.UpsertMultiple")) == 1


@case(SDK, "query.builder execute")
def test_builder_execute(fake: FakeDataverse, client: DataverseClient) -> None:
    seed_leads(fake, 12)

    result = (
        client.query.builder("lead")
        .select("lastname", "companyname")
        .where(col("statecode") == 0)
        .where(col("companyname") == "C1")
        .order_by("lastname", descending=True)
        .top(2)
        .execute()
    )

    assert [r["lastname"] for r in result] == open_names(fake, companyname="C1")[::-1][:2]
    assert {r["companyname"] for r in result} == {"C1"}


@case(SDK, "query.builder execute_pages")
def test_builder_pages(fake: FakeDataverse, client: DataverseClient) -> None:
    seed_leads(fake, 9)

    pages = list(
        client.query.builder("lead")
        .select("lastname")
        .where(col("statecode") == 0)
        .order_by("lastname")
        .page_size(3)
        .execute_pages()
    )

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [r["lastname"] for page in pages for r in page] == open_names(fake)


@case(SDK, "batch create/update/delete")
def test_batch(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 3)

    batch = client.batch.new()
    batch.records.create("lead", {"lastname": "Batched"})
    batch.records.update("lead", ids[0], {"companyname": "Batch Co"})
    batch.records.delete("lead", ids[1])
    result = batch.execute()

    assert not result.failed
    assert [r["lastname"] for r in fake.rows("lead", lastname="Batched")] == ["Batched"]
    assert fake.get("lead", ids[0])["companyname"] == "Batch Co"  # type: ignore[index]
    assert fake.get("lead", ids[1]) is None
    assert len(fake.requests("POST", "$batch")) == 1


@case(SDK, "batch changeset")
def test_changeset(fake: FakeDataverse, client: DataverseClient) -> None:
    ids = seed_leads(fake, 2)

    batch = client.batch.new()
    with batch.changeset() as changeset:
        changeset.records.create("lead", {"lastname": "InChangeset"})
        changeset.records.update("lead", ids[0], {"companyname": "Changeset Co"})
    result = batch.execute()

    assert not result.failed
    assert len(fake.rows("lead", lastname="InChangeset")) == 1
    assert fake.get("lead", ids[0])["companyname"] == "Changeset Co"  # type: ignore[index]


@case(SDK, "tables.get")
def test_tables_get(fake: FakeDataverse, client: DataverseClient) -> None:
    info = client.tables.get("lead")

    table = fake.schema.table("lead")
    assert info is not None
    assert (info.logical_name, info.entity_set_name, info.primary_id_attribute) == (
        table.logical_name,
        table.entity_set,
        table.primary_key,
    )
    assert info.primary_name_attribute == table.primary_name


@case(SDK, "tables.list")
def test_tables_list(fake: FakeDataverse, client: DataverseClient) -> None:
    tables = client.tables.list()

    listed = {t["LogicalName"]: t["EntitySetName"] for t in tables}
    for name, table in fake.schema.tables.items():
        assert listed.get(name) == table.entity_set


@case(SDK, "dataframe round trip")
def test_dataframe_round_trip(fake: FakeDataverse, client: DataverseClient) -> None:
    frame = pd.DataFrame(
        [
            {"lastname": "Frame0", "companyname": "Frame Co"},
            {"lastname": "Frame1", "companyname": "Frame Co"},
        ]
    )

    ids = client.dataframe.create("lead", frame)
    assert [fake.get("lead", i)["lastname"] for i in ids] == ["Frame0", "Frame1"]  # type: ignore[index]

    # The SDK deprecates dataframe.get() in favour of the query builder's frame.
    got = (
        client.query.builder("lead")
        .select("lastname")
        .where(col("companyname") == "Frame Co")
        .execute()
        .to_dataframe()
    )
    assert sorted(got["lastname"]) == ["Frame0", "Frame1"]

    changes = pd.DataFrame([{"leadid": ids.iloc[0], "companyname": "Reframed"}])
    client.dataframe.update("lead", changes, id_column="leadid")
    assert fake.get("lead", ids.iloc[0])["companyname"] == "Reframed"  # type: ignore[index]

    client.dataframe.delete("lead", ids, use_bulk_delete=False)
    assert fake.rows("lead", lastname="Frame0") == fake.rows("lead", lastname="Frame1") == []


def _named_501(exc: HttpError, parameter: str) -> bool:
    return exc.status_code == 501 and parameter.lower() in str(exc).lower()


@case(SDK, "query.sql")
def test_sql(fake: FakeDataverse, client: DataverseClient) -> None:
    seed_leads(fake, 6)

    try:
        rows = client.query.sql("SELECT lastname FROM lead WHERE companyname = 'C1'")
    except HttpError as exc:
        # Acceptable until the fake runs SQL: a 501 that names the parameter.
        assert _named_501(exc, "sql"), exc
        return
    expected = sorted(r["lastname"] for r in fake.rows("lead", companyname="C1"))
    assert sorted(r["lastname"] for r in rows) == expected
    assert all(set(r.keys()) <= {"lastname", "leadid", "@odata.etag"} for r in rows)


@case(SDK, "query.fetchxml")
def test_fetchxml(fake: FakeDataverse, client: DataverseClient) -> None:
    seed_leads(fake, 6)
    xml = (
        '<fetch><entity name="lead"><attribute name="lastname"/>'
        '<filter><condition attribute="companyname" operator="eq" value="C1"/></filter>'
        '<order attribute="lastname"/></entity></fetch>'
    )

    try:
        rows = list(client.query.fetchxml(xml).execute())
    except HttpError as exc:
        assert _named_501(exc, "fetchXml"), exc
        return
    expected = sorted(r["lastname"] for r in fake.rows("lead", companyname="C1"))
    assert [r["lastname"] for r in rows] == expected
    assert all(set(r.keys()) <= {"lastname", "leadid", "@odata.etag"} for r in rows)
