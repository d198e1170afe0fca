"""DataverseClient over mocked HTTP: the exact requests sent and how answers are read."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
import responses

from d365leads import (
    ConfigError,
    DataverseClient,
    InvalidIdError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
    Query,
    StaticTokenProvider,
    ThrottledError,
    UntrustedLinkError,
    WhoAmI,
    col,
    odata_bind,
)

from .conftest import API, ORG

LEAD_ID = "6f1c2c1e-0000-0000-0000-000000000001"
ACCOUNT_ID = "720dd88f-0000-0000-0000-000000000030"


def sent(rsps: responses.RequestsMock, index: int = -1) -> Any:
    return rsps.calls[index].request


def assert_odata_headers(request: Any) -> None:
    h = request.headers
    assert h["Authorization"] == "Bearer test-token"
    assert h["Accept"] == "application/json"
    assert h["OData-MaxVersion"] == "4.0" and h["OData-Version"] == "4.0"
    assert re.fullmatch(r"d365leads/\d+\.\d+\.\d+.*", h["User-Agent"])


def test_create_returns_the_id_from_odata_entityid(client: DataverseClient, rsps: Any) -> None:
    rsps.add(
        "POST",
        API + "leads",
        status=204,
        headers={"OData-EntityId": f"{API}leads({LEAD_ID.upper()})"},
    )
    data = {
        "subject": "Website inquiry – Zoë",
        "parentaccountid@odata.bind": odata_bind("accounts", ACCOUNT_ID),
    }
    assert client.records.create("leads", data) == LEAD_ID
    request = sent(rsps)
    assert request.method == "POST" and request.url == API + "leads"
    assert_odata_headers(request)
    assert request.headers["Content-Type"] == "application/json"
    assert "Prefer" not in request.headers
    assert json.loads(request.body) == {
        "subject": "Website inquiry – Zoë",
        "parentaccountid@odata.bind": f"/accounts({ACCOUNT_ID})",
    }


def test_create_with_representation(client: DataverseClient, rsps: Any) -> None:
    row = {"leadid": LEAD_ID, "subject": "x", "@odata.etag": 'W/"1"'}
    rsps.add("POST", API + "leads?$select=leadid,subject", status=201, json=row)
    result = client.records.create(
        "leads", {"subject": "x"}, return_representation=True, select=["leadid", "subject"]
    )
    assert result == row
    assert sent(rsps).headers["Prefer"] == "return=representation"


def test_get_with_select_expand_and_annotations(client: DataverseClient, rsps: Any) -> None:
    row = {"leadid": LEAD_ID, "statuscode@OData.Community.Display.V1.FormattedValue": "New"}
    url = f"{API}leads({LEAD_ID})?$select=subject,statuscode&$expand=parentaccountid($select=name)"
    rsps.add("GET", url, json=row)
    got = client.records.get(
        "leads",
        LEAD_ID.upper(),
        select="subject,statuscode",
        expand=["parentaccountid($select=name)"],
        annotations=True,
    )
    assert got == row
    request = sent(rsps)
    assert request.url == url
    assert request.headers["Prefer"] == 'odata.include-annotations="*"'
    assert request.headers["If-None-Match"] == "null"
    assert_odata_headers(request)


def test_update_sends_if_match(client: DataverseClient, rsps: Any) -> None:
    rsps.add("PATCH", f"{API}leads({LEAD_ID})", status=204)
    rsps.add("PATCH", f"{API}leads({LEAD_ID})", status=204)
    client.records.update("leads", LEAD_ID, {"subject": "new"})
    client.records.update("leads", LEAD_ID, {"subject": "newer"}, etag='W/"42"')
    assert sent(rsps, 0).headers["If-Match"] == "*"
    assert sent(rsps, 1).headers["If-Match"] == 'W/"42"'
    assert json.loads(sent(rsps, 1).body) == {"subject": "newer"}


def test_stale_etag_and_missing_record_map_to_errors(client: DataverseClient, rsps: Any) -> None:
    rsps.add(
        "PATCH",
        f"{API}leads({LEAD_ID})",
        status=412,
        json={"error": {"code": "0x80060882", "message": "The version does not match"}},
        headers={"x-ms-service-request-id": "req-9"},
    )
    rsps.add(
        "DELETE",
        f"{API}leads({LEAD_ID})",
        status=404,
        json={"error": {"code": "0x80040217", "message": "Entity 'lead' Does Not Exist"}},
    )
    with pytest.raises(PreconditionFailedError) as info:
        client.records.update("leads", LEAD_ID, {"subject": "x"}, etag='W/"1"')
    assert (info.value.status, info.value.code, info.value.request_id) == (
        412,
        "0x80060882",
        "req-9",
    )
    with pytest.raises(NotFoundError):
        client.records.delete("leads", LEAD_ID)


def test_upsert_by_id_and_alternate_key(client: DataverseClient, rsps: Any) -> None:
    rsps.add("PATCH", f"{API}accounts({ACCOUNT_ID})", status=204)
    key_url = f"{API}accounts(accountnumber='O''Neil%20%26%20Co',region=5)"
    rsps.add(
        "PATCH",
        key_url,
        status=204,
        headers={"OData-EntityId": f"{API}accounts({ACCOUNT_ID})"},
    )
    rsps.add("PATCH", key_url, status=204)
    rsps.add("PATCH", f"{API}accounts({ACCOUNT_ID})", status=204)

    assert client.records.upsert("accounts", ACCOUNT_ID, {"name": "A"}) == ACCOUNT_ID
    key = {"accountnumber": "O'Neil & Co", "region": 5}
    assert client.records.upsert("accounts", key, {"name": "B"}, create_only=True) == ACCOUNT_ID
    assert client.records.upsert("accounts", key, {"name": "C"}) is None
    client.records.upsert("accounts", ACCOUNT_ID, {"name": "D"}, update_only=True)

    first, create_only, plain, update_only = (sent(rsps, i) for i in range(4))
    assert "If-Match" not in first.headers and "If-None-Match" not in first.headers
    assert create_only.url == key_url
    assert create_only.headers["If-None-Match"] == "*" and "If-Match" not in create_only.headers
    assert "If-Match" not in plain.headers
    assert update_only.headers["If-Match"] == "*"
    with pytest.raises(InvalidInputError):
        client.records.upsert("accounts", key, {}, create_only=True, update_only=True)


def test_delete_with_etag(client: DataverseClient, rsps: Any) -> None:
    rsps.add("DELETE", f"{API}leads({LEAD_ID})", status=204)
    client.records.delete("leads", LEAD_ID, etag='W/"7"')
    assert sent(rsps).headers["If-Match"] == 'W/"7"'
    assert sent(rsps).body is None


def test_invalid_ids_are_refused_before_sending(client: DataverseClient, rsps: Any) -> None:
    for bad in ("42", f"{LEAD_ID})/x", "", f"{LEAD_ID}' or 1 eq 1"):
        with pytest.raises(InvalidIdError):
            client.records.get("leads", bad)
        with pytest.raises(InvalidIdError):
            client.records.update("leads", bad, {})
        with pytest.raises(InvalidIdError):
            client.records.delete("leads", bad)
    with pytest.raises(InvalidInputError):
        client.records.get("leads?$top=1", LEAD_ID)
    with pytest.raises(InvalidIdError):
        odata_bind("accounts", "nope")
    assert len(rsps.calls) == 0


def test_query_pages_with_maxpagesize_and_follows_next_link_verbatim(
    client: DataverseClient, rsps: Any
) -> None:
    next_link = f"{API}leads?$select=fullname&$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E"
    first_url = (
        f"{API}leads?$select=fullname&$filter=statecode%20eq%200%20and%20"
        "contains(subject,'50%25%20off%20%26%20more')&$top=3"
    )
    rsps.add("GET", first_url, json={"value": [{"n": 1}, {"n": 2}], "@odata.nextLink": next_link})
    rsps.add("GET", next_link, json={"value": [{"n": 3}]})
    q = (
        Query("leads")
        .select("fullname")
        .where(col("statecode") == 0, col("subject").contains("50% off & more"))
        .top(3)
    )
    rows = client.records.query("leads", q, page_size=2)
    assert next(rows) == {"n": 1}
    assert len(rsps.calls) == 1  # one page at a time
    assert [r["n"] for r in rows] == [2, 3]
    assert [c.request.url for c in rsps.calls] == [first_url, next_link]
    # $top and a page size do not go together: Dataverse ignores $top next to
    # odata.maxpagesize (page-results doc), so a query with $top sends no page size.
    assert all("odata.maxpagesize" not in c.request.headers.get("Prefer", "") for c in rsps.calls)


def test_query_for_another_entity_set_is_refused(client: DataverseClient) -> None:
    with pytest.raises(InvalidInputError, match="accounts"):
        list(client.records.query("leads", Query("accounts")))


def test_next_link_to_another_host_is_refused(client: DataverseClient, rsps: Any) -> None:
    rsps.add(
        "GET",
        API + "leads",
        json={"value": [], "@odata.nextLink": "https://evil.example.com/api/data/v9.2/leads"},
    )
    with pytest.raises(UntrustedLinkError, match=r"evil\.example\.com"):
        list(client.records.query("leads"))
    assert len(rsps.calls) == 1


def test_whoami_and_dop_hint(client: DataverseClient, rsps: Any) -> None:
    rsps.add(
        "GET",
        API + "WhoAmI",
        json={
            "BusinessUnitId": "B0000000-0000-0000-0000-000000000001",
            "UserId": "a0000000-0000-0000-0000-000000000002",
            "OrganizationId": "c0000000-0000-0000-0000-000000000003",
        },
        headers={"x-ms-dop-hint": "8"},
    )
    assert client.whoami() == WhoAmI(
        user_id="a0000000-0000-0000-0000-000000000002",
        business_unit_id="b0000000-0000-0000-0000-000000000001",
        organization_id="c0000000-0000-0000-0000-000000000003",
    )
    assert client.throttle.dop_hint == 8


def test_throttling_through_the_client(
    client: DataverseClient, rsps: Any, sleeps: list[float]
) -> None:
    busy = {"error": {"code": "0x80072326", "message": "Number of concurrent requests exceeded"}}
    for seconds in ("7", "2", "1"):
        rsps.add("GET", API + "leads", status=429, json=busy, headers={"Retry-After": seconds})
    rsps.add("GET", API + "leads", json={"value": [{"n": 1}]})
    assert list(client.records.query("leads")) == [{"n": 1}]
    assert len(rsps.calls) == 4
    assert client.throttle.throttled == 3
    assert sum(sleeps) == pytest.approx(10, abs=0.05)


def test_throttled_error_surfaces_after_the_limit(rsps: Any, sleeps: list[float]) -> None:
    busy = {"error": {"code": "0x80072322", "message": "Number of requests exceeded"}}
    for _ in range(3):
        rsps.add("POST", API + "leads", status=429, json=busy, headers={"Retry-After": "1"})
    with (
        DataverseClient(
            ORG, token_provider=StaticTokenProvider("t"), sleep=sleeps.append, clock=lambda: 0.0
        ) as c,
        pytest.raises(ThrottledError) as info,
    ):
        c.session.retry.max_retries = 2
        c.records.create("leads", {"subject": "x"})
    assert info.value.retry_after == 1.0
    assert sleeps == [1.0, 1.0]


def test_affinity_cookie_is_dropped_when_asked(rsps: Any) -> None:
    cookie = {"Set-Cookie": "ARRAffinity=server-7; Path=/; Secure; HttpOnly"}
    for _ in range(2):
        rsps.add("GET", API + "WhoAmI", json={}, headers=cookie)
    rsps.add("GET", API + "WhoAmI", json={})
    rsps.add("GET", API + "WhoAmI", json={})
    kept = DataverseClient(ORG, token_provider=StaticTokenProvider("t"))
    dropped = DataverseClient(ORG, token_provider=StaticTokenProvider("t"), keep_affinity=False)
    kept.session.get_json("WhoAmI")
    dropped.session.get_json("WhoAmI")
    kept.session.get_json("WhoAmI")
    dropped.session.get_json("WhoAmI")
    assert "ARRAffinity=server-7" in rsps.calls[2].request.headers.get("Cookie", "")
    assert "ARRAffinity" not in rsps.calls[3].request.headers.get("Cookie", "")


def test_plain_http_is_refused_except_on_loopback(rsps: Any) -> None:
    with pytest.raises(ConfigError, match="http"):
        DataverseClient("http://contoso.crm.dynamics.com", token_provider=StaticTokenProvider("t"))
    rsps.add("GET", "http://127.0.0.1:8765/api/data/v9.2/WhoAmI", json={})
    c = DataverseClient("http://127.0.0.1:8765", token_provider=StaticTokenProvider("t"))
    assert c.session.get_json("WhoAmI") == {}


def test_no_token_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="from_env"):
        DataverseClient(ORG)


def test_from_env_with_a_static_token(rsps: Any) -> None:
    rsps.add("GET", API + "WhoAmI", json={})
    env = {"D365_URL": ORG, "D365_ACCESS_TOKEN": "env-token", "D365_PAGE_SIZE": "10"}
    with DataverseClient.from_env(env) as c:
        assert c.session.page_size == 10
        c.session.get_json("WhoAmI")
    assert sent(rsps).headers["Authorization"] == "Bearer env-token"
    with pytest.raises(ConfigError, match="D365_URL"):
        DataverseClient.from_env({})


def test_logging_has_method_url_status_and_code(
    client: DataverseClient, rsps: Any, caplog: pytest.LogCaptureFixture
) -> None:
    rsps.add(
        "GET",
        f"{API}leads({LEAD_ID})",
        status=404,
        json={"error": {"code": "0x80040217", "message": "missing"}},
    )
    with caplog.at_level(logging.DEBUG, logger="d365leads.http"), pytest.raises(NotFoundError):
        client.records.get("leads", LEAD_ID)
    line = caplog.records[-1].getMessage()
    assert f"GET {API}leads({LEAD_ID}) -> 404" in line
    assert "code=0x80040217" in line
    assert "test-token" not in caplog.text


def test_pool_is_sized_for_workers_and_tls_is_verified() -> None:
    from d365leads.http import RequestsTransport

    c = DataverseClient(ORG, token_provider=StaticTokenProvider("t"), pool_size=40)
    transport = c.session.transport
    assert isinstance(transport, RequestsTransport)
    adapter = transport.session.get_adapter(ORG)
    assert adapter._pool_maxsize == 40  # type: ignore[attr-defined]
    assert transport.session.verify is True
    c.close()
