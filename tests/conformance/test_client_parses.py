"""The d365leads client parses Microsoft's documented responses.

Each test answers the client's request with a documented response taken from the exchange files
(``[Organization URI]`` replaced by the client's URL), served by ``responses`` at the client's
URL, and checks what the client makes of it. Where the docs omit a header every real answer
carries (the multipart boundary of a ``$batch`` answer), the test adds it and says so.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
import responses

from d365leads import DataverseClient, StaticTokenProvider
from d365leads.errors import (
    BadRequestError,
    DuplicateRecordError,
    HTTPError,
    NotFoundError,
    PreconditionFailedError,
    ThrottledError,
)
from d365leads.fake import FakeDataverse, FakeRequest, FakeResponse
from d365leads.http.retry import RetryPolicy
from d365leads.models.base import Lookup
from d365leads.odata.query import Query
from d365leads.sync import SyncTarget, pull
from d365leads.sync.tables import deleted_id

from ._compare import expand_org, expand_tree
from ._exchanges import Exchange, load_exchanges

ORG = "https://contoso.crm.dynamics.com"
API = ORG + "/api/data/v9.2/"
BY_ID = {ex.id: ex for ex in load_exchanges()}
ACCOUNT_ONE = "accounts(00000000-0000-0000-0000-000000000001)"


def documented(exchange_id: str) -> Exchange:
    return BY_ID[exchange_id]


def body_of(exchange_id: str) -> Any:
    """The documented JSON body, with the client's service root."""
    return expand_tree(documented(exchange_id).response["body"], API)


def headers_of(exchange_id: str) -> dict[str, str]:
    return {
        k: expand_org(str(v), API) for k, v in documented(exchange_id).response["headers"].items()
    }


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def client(rsps: responses.RequestsMock) -> Iterator[DataverseClient]:
    sleeps: list[float] = []
    with DataverseClient(
        ORG,
        token_provider=StaticTokenProvider("conformance-token"),
        sleep=sleeps.append,
        retry=RetryPolicy(max_retries=0),
    ) as c:
        yield c


def _json(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    merged = {"Content-Type": "application/json; odata.metadata=minimal", "OData-Version": "4.0"}
    merged.update(headers or {})
    return status, merged, json.dumps(body)


# --- paging ---------------------------------------------------------------------------------


def test_paging_follows_the_documented_next_link(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    first = body_of("page-results/first-page")
    second = body_of("page-results/next-page")
    # The documented second page follows the documented first page's link.
    second_link = first["@odata.nextLink"]
    seen: list[str] = []

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen.append(str(request.url))
        page = second if "$skiptoken" in str(request.url) else first
        return _json(200, page, headers_of("page-results/first-page"))

    rsps.add_callback(responses.GET, re.compile(re.escape(API + "contacts") + r".*"), answer)
    rows = list(
        itertools.islice(
            client.records.query("contacts", Query("contacts").select("fullname"), page_size=2), 4
        )
    )
    assert [r["fullname"] for r in rows] == [
        "Yvonne McKay (sample)",
        "Susanna Stubberod (sample)",
        "Nancy Anderson (sample)",
        "Maria Campbell (sample)",
    ]
    assert len(seen) == 2
    assert seen[1] == second_link  # used exactly as returned


def test_count_annotations_are_read(client: DataverseClient, rsps: responses.RequestsMock) -> None:
    body = body_of("count-rows/count-true")
    rsps.add(responses.GET, re.compile(re.escape(API + "accounts") + r".*"), json=body)
    page = next(
        client.session.iter_pages("accounts", params={"$select": "accountid", "$count": "true"})
    )
    assert page.count == 9
    assert page.rows == body["value"]


# --- service protection -----------------------------------------------------------------------


def test_429_becomes_throttled_error_with_retry_after(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    ex = documented("api-limits/number-of-requests")
    rsps.add(
        responses.GET,
        API + "WhoAmI",
        status=429,
        headers=headers_of(ex.id),
        json=body_of(ex.id),
    )
    with pytest.raises(ThrottledError) as caught:
        client.whoami()
    error = caught.value
    assert error.status == 429
    assert error.retry_after == 300.0
    assert error.code == "0x80072322"
    assert error.message == body_of(ex.id)["error"]["message"]


# --- $batch -----------------------------------------------------------------------------------


def _batch_answer(exchange_id: str) -> tuple[int, dict[str, str], str]:
    text = expand_org(documented(exchange_id).response["batch"], API)
    boundary = text.lstrip("\n").split("\n", 1)[0][2:].strip()
    # The docs print no Content-Type for the batch answer; a real one always names the boundary.
    headers = {"Content-Type": f"multipart/mixed; boundary={boundary}", "OData-Version": "4.0"}
    return documented(exchange_id).response["status"], headers, text.replace("\n", "\r\n")


def test_batch_changeset_results(client: DataverseClient, rsps: responses.RequestsMock) -> None:
    ex_id = "execute-batch-operations-using-web-api/reference-uris-in-request-body"
    rsps.add_callback(responses.POST, API + "$batch", lambda _: _batch_answer(ex_id))
    batch = client.batch()
    with batch.changeset() as changeset:
        lead = changeset.post("leads", {"firstname": "first name", "lastname": "last name"})
        contact = changeset.post("contacts", {"firstname": "first name"})
        changeset.post(
            "accounts",
            {
                "name": "IcM Account",
                "originatingleadid@odata.bind": lead,
                "primarycontactid@odata.bind": contact,
            },
        )
    result = batch.execute()
    assert result.ok
    assert [r.content_id for r in result] == ["1", "2", "3"]
    assert [r.entity_id for r in result] == [
        "425195a4-7a75-e911-a97a-000d3a34a1bd",
        "495195a4-7a75-e911-a97a-000d3a34a1bd",
        "4f5195a4-7a75-e911-a97a-000d3a34a1bd",
    ]


def test_batch_query_part_and_created_ids(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    ex_id = "execute-batch-operations-using-web-api/batch-without-changesets"
    rsps.add_callback(responses.POST, API + "$batch", lambda _: _batch_answer(ex_id))
    batch = client.batch()
    for n in (1, 2, 3):
        batch.post(
            "tasks",
            {
                "subject": f"Task {n} in batch",
                "regardingobjectid_account_task@odata.bind": ACCOUNT_ONE,
            },
        )
    batch.get(
        "accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks",
        params={"$select": "subject"},
    )
    result = batch.execute()
    assert result.ok
    ids = [r.entity_id for r in result[:3]]
    assert ids == [
        "d31ba648-c592-ed11-aad1-000d3a993550",
        "d41ba648-c592-ed11-aad1-000d3a993550",
        "d51ba648-c592-ed11-aad1-000d3a993550",
    ]
    rows = result[3].json()["value"]
    assert [row["activityid"] for row in rows] == ids


def test_batch_continue_on_error_results(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    ex_id = "execute-batch-operations-using-web-api/continue-on-error"
    rsps.add_callback(responses.POST, API + "$batch", lambda _: _batch_answer(ex_id))
    batch = client.batch(continue_on_error=True)
    for subject in ("Subject is too long " + "x" * 200, "Task 2 in batch", "Task 3 in batch"):
        batch.post("tasks", {"subject": subject})
    result = batch.execute()
    assert not result.ok
    assert [r.status for r in result] == [400, 204, 204]
    error = result[0].error
    assert isinstance(error, HTTPError)
    assert error.code == "0x80044331"
    assert "exceeded the maximum allowed length of '200'" in error.message
    assert result[1].entity_id == "aed2ae8b-3c94-ed11-aad1-000d3a9933c9"


# --- change tracking ------------------------------------------------------------------------


def test_delta_page_with_deleted_entity(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    initial = body_of("use-change-tracking-synchronize-data-external-systems/initial-request")
    delta = body_of("use-change-tracking-synchronize-data-external-systems/delta-request")
    link = initial["@odata.deltaLink"]
    rsps.add(responses.GET, link, json=delta)
    pages = list(client.session.iter_pages(link))
    assert len(pages) == 1
    page = pages[0]
    assert page.delta_link == delta["@odata.deltaLink"]
    assert [deleted_id(row) for row in page.rows] == [None, "2e451703-c686-e711-80e5-00155db19e6d"]
    assert page.rows[0]["name"] == "Monte Orton"


def test_pull_follows_the_documented_delta_link(
    client: DataverseClient, rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    """sync.pull on the documented initial answer, then on the documented delta answer."""
    initial = body_of("use-change-tracking-synchronize-data-external-systems/initial-request")
    delta = body_of("use-change-tracking-synchronize-data-external-systems/delta-request")
    seen: list[str] = []

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen.append(str(request.url))
        body = delta if "$deltatoken" in unquote(str(request.url)) else initial
        return _json(200, body, {"Preference-Applied": "odata.track-changes"})

    rsps.add_callback(responses.GET, re.compile(re.escape(API + "accounts") + r".*"), answer)
    with SyncTarget(f"sqlite:///{tmp_path / 'mirror.db'}") as target:
        first = pull(client, target, ["account"]).tables[0]
        second = pull(client, target, ["account"]).tables[0]
        assert target.count("account")[0] == 1
    assert (first.mode, first.kind, first.upserted) == ("delta", "full", 1)
    assert (second.mode, second.kind, second.upserted) == ("delta", "incremental", 1)
    assert len(seen) == 2
    assert unquote(seen[1]) == unquote(initial["@odata.deltaLink"])


# --- actions ----------------------------------------------------------------------------------


def test_qualify_lead_result() -> None:
    """The documented QualifyLead answer, served in place of the fake's own; the rest of the
    conversation (lead, status metadata, created rows) comes from a seeded fake."""
    ex = documented("qualifylead/qualify-lead")
    fake = FakeDataverse(ORG)
    seed = ex.data["seed"]
    for table, rows in seed.items():
        fake.seed(table, rows)
    created = {
        "account": "10000000-aaaa-0000-0000-000000000001",
        "contact": "10000000-aaaa-0000-0000-000000000002",
        "opportunity": "10000000-aaaa-0000-0000-000000000003",
    }
    fake.seed("account", [{"accountid": created["account"], "name": "Sample Company"}])
    fake.seed(
        "contact", [{"contactid": created["contact"], "firstname": "Sample", "lastname": "Lead"}]
    )
    fake.seed(
        "opportunity",
        [
            {
                "opportunityid": created["opportunity"],
                "name": "Sample lead",
                "customerid": "720dd88f-fece-e711-80f3-00155d889a3b",
                "customeridtype": "contact",
            }
        ],
    )

    def documented_answer(request: FakeRequest, call_next: Any) -> FakeResponse:
        if request.method == "POST" and request.path.endswith("Microsoft.Dynamics.CRM.QualifyLead"):
            return FakeResponse.json_body(200, expand_tree(ex.response["body"], fake.base_url))
        result: FakeResponse = call_next(request)
        return result

    fake.hooks.append(documented_answer)
    with (
        fake.mock(),
        DataverseClient(ORG, token_provider=StaticTokenProvider("conformance-token")) as client,
    ):
        result = client.leads.qualify(
            "f282fa8b-3bcf-e711-80f3-00155d889a3b",
            currency="874ca79f-b2ce-e711-80ee-00155d889a3b",
            customer=Lookup.to("contact", "720dd88f-fece-e711-80f3-00155d889a3b"),
            campaign="260dd88f-fece-e711-80f3-00155d889a3b",
        )
    assert result.account is not None and str(result.account.id) == created["account"]
    assert result.contact is not None and str(result.contact.id) == created["contact"]
    assert result.opportunity is not None and str(result.opportunity.id) == created["opportunity"]
    assert [(ref.table, str(ref.id)) for ref in result.created] == list(created.items())


# --- error JSON -------------------------------------------------------------------------------

ERROR_CASES = [
    ("compose-http-requests-handle-errors/plugin-error", BadRequestError),
    ("perform-conditional-operations-using-web-api/prevent-create-in-upsert", NotFoundError),
    ("perform-conditional-operations-using-web-api/prevent-update-in-upsert", DuplicateRecordError),
    (
        "perform-conditional-operations-using-web-api/optimistic-concurrency-update",
        PreconditionFailedError,
    ),
    ("join-tables/orderby-in-many-to-one-expand-error", BadRequestError),
]


@pytest.mark.parametrize(("exchange_id", "kind"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_error_json_becomes_the_right_exception(
    client: DataverseClient, rsps: responses.RequestsMock, exchange_id: str, kind: type[HTTPError]
) -> None:
    ex = documented(exchange_id)
    request = ex.request
    body = body_of(exchange_id)
    rsps.add(
        request["method"],
        re.compile(re.escape(API) + r".*"),
        status=ex.response["status"],
        headers={k: v for k, v in headers_of(exchange_id).items() if k.lower() != "content-type"}
        if "headers" in ex.response
        else None,
        json=body,
    )
    path, _, query = request["path"].partition("?")
    params = dict(option.split("=", 1) for option in query.split("&")) if query else None
    conditions = {k: v for k, v in (request.get("headers") or {}).items() if k.startswith("If-")}
    with pytest.raises(kind) as caught:
        client.session.request(
            request["method"], path, params=params, json=request.get("body"), headers=conditions
        )
    error = caught.value
    assert error.status == ex.response["status"]
    assert error.code == body["error"]["code"]
    assert error.message == body["error"]["message"]


# --- create / upsert 204 ------------------------------------------------------------------------


def test_create_204_id_from_odata_entity_id(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    ex = documented("create-entity-web-api/basic-create")
    rsps.add(responses.POST, API + "accounts", status=204, headers=headers_of(ex.id))
    new_id = client.records.create("accounts", ex.request["body"])
    assert new_id == "7eb682f1-ca75-e511-80d4-00155d2a68d1"


UPSERT_CASES = [
    "use-upsert-insert-update-record/create-with-upsert",
    "use-upsert-insert-update-record/update-with-upsert",
]


@pytest.mark.parametrize("exchange_id", UPSERT_CASES)
def test_upsert_204_by_alternate_key(
    client: DataverseClient, rsps: responses.RequestsMock, exchange_id: str
) -> None:
    ex = documented(exchange_id)
    rsps.add(
        responses.PATCH,
        API + "accounts(example_key1=2,example_key2=2)",
        status=204,
        headers=headers_of(ex.id),
    )
    result = client.records.upsert(
        "accounts", {"example_key1": 2, "example_key2": 2}, ex.request["body"]
    )
    assert result is None  # the key form names no GUID: nothing to report


def test_upsert_204_by_id(client: DataverseClient, rsps: responses.RequestsMock) -> None:
    """Upsert by primary key, answered with the documented 204 + OData-EntityId form."""
    ex = documented("create-entity-web-api/basic-create")
    record = "7eb682f1-ca75-e511-80d4-00155d2a68d1"
    rsps.add(responses.PATCH, API + f"accounts({record})", status=204, headers=headers_of(ex.id))
    assert client.records.upsert("accounts", record, {"name": "Sample Account"}) == record
