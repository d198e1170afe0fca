"""DataverseClient against the fake Dataverse: transport, retry, auth and errors all run."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from d365leads import (
    ClientSecretTokenProvider,
    DataverseClient,
    DeviceCodeTokenProvider,
    DuplicateRecordError,
    InvalidIdError,
    NotFoundError,
    PreconditionFailedError,
    Query,
    RequestTimeoutError,
    ServerError,
    StaticTokenProvider,
    ThrottledError,
    TransportError,
    UnauthorizedError,
    col,
    odata_bind,
)
from d365leads.fake import FakeDataverse, FakeOptions


def api_requests(fake: Any, method: str | None = None) -> list[Any]:
    return [
        req
        for req, _ in fake.journal
        if "/api/data/" in req.url and (method is None or req.method == method)
    ]


def test_crud_round_trip_with_etags(fake_dataverse: Any) -> None:
    client = fake_dataverse.client()
    account = client.records.create("accounts", {"name": "Contoso", "accountnumber": "ACC-1"})
    lead_id = client.records.create(
        "leads",
        {
            "subject": "Website inquiry",
            "lastname": "Lee",
            "parentaccountid@odata.bind": odata_bind("accounts", account),
        },
    )
    row = client.records.get("leads", lead_id, select=["subject", "_parentaccountid_value"])
    assert row["subject"] == "Website inquiry"
    assert row["_parentaccountid_value"] == account
    etag = row["@odata.etag"]

    client.records.update("leads", lead_id, {"subject": "Changed"}, etag=etag)
    with pytest.raises(PreconditionFailedError) as stale:
        client.records.update("leads", lead_id, {"subject": "Again"}, etag=etag)
    assert stale.value.status == 412
    assert fake_dataverse.get("lead", lead_id)["subject"] == "Changed"

    client.records.delete("leads", lead_id)
    with pytest.raises(NotFoundError) as missing:
        client.records.get("leads", lead_id)
    assert missing.value.code == "0x80040217"
    with pytest.raises(NotFoundError):
        client.records.update("leads", lead_id, {"subject": "ghost"})
    assert fake_dataverse.get("lead", lead_id) is None


def test_create_with_representation_and_annotations(fake_dataverse: Any) -> None:
    client = fake_dataverse.client()
    row = client.records.create(
        "leads",
        {"subject": "Rep", "lastname": "Ng"},
        return_representation=True,
        select=["subject", "statuscode"],
    )
    assert row["subject"] == "Rep" and "@odata.etag" in row
    got = client.records.get("leads", row["leadid"], select="statuscode", annotations=True)
    assert got["statuscode@OData.Community.Display.V1.FormattedValue"] == "New"


def test_upsert_by_alternate_key(fake_dataverse: Any) -> None:
    client = fake_dataverse.client()
    key = {"accountnumber": "O'Neil & 50% #1"}
    client.records.upsert("accounts", key, {"name": "First"})
    client.records.upsert("accounts", key, {"name": "Second"})
    rows = [
        r for r in fake_dataverse.rows("account") if r.get("accountnumber") == key["accountnumber"]
    ]
    assert [r["name"] for r in rows] == ["Second"]
    with pytest.raises(DuplicateRecordError):
        client.records.upsert("accounts", key, {"name": "Third"}, create_only=True)
    with pytest.raises(NotFoundError):
        client.records.upsert(
            "accounts", {"accountnumber": "nope"}, {"name": "x"}, update_only=True
        )


def test_paging_one_page_at_a_time(fake_dataverse: Any) -> None:
    fake_dataverse.seed("lead", [{"subject": f"Lead {i:02d}", "lastname": "P"} for i in range(25)])
    client = fake_dataverse.client()
    q = Query("leads").select("subject").where(col("lastname") == "P").order_by("subject")
    rows = client.records.query("leads", q, page_size=10)
    first = next(rows)
    assert first["subject"] == "Lead 00"
    assert len(api_requests(fake_dataverse)) == 1
    rest = list(rows)
    assert [r["subject"] for r in [first, *rest]] == [f"Lead {i:02d}" for i in range(25)]
    sent = api_requests(fake_dataverse, "GET")
    assert len(sent) == 3
    assert all(r.header("Prefer") == "odata.maxpagesize=10" for r in sent)


@pytest.mark.parametrize(
    "hostile", ["O'Bryan", "x' or statecode eq 1 or subject eq '", "50% + 1 & #2 ?a=b", "東京'"]
)
def test_hostile_filter_values_match_literally(fake_dataverse: Any, hostile: str) -> None:
    fake_dataverse.seed(
        "lead",
        [{"subject": hostile, "lastname": "A"}, {"subject": "other", "lastname": "B"}],
    )
    client = fake_dataverse.client()
    exact = list(client.records.query("leads", Query("leads").where(col("subject") == hostile)))
    assert [r["subject"] for r in exact] == [hostile]
    contains = Query("leads").where(col("subject").contains(hostile)).select("subject")
    assert [r["subject"] for r in client.records.query("leads", contains)] == [hostile]


def test_throttling_is_retried_with_retry_after(fake_dataverse: Any) -> None:
    client = fake_dataverse.client()
    fake_dataverse.faults.throttle_next(3, retry_after=7)
    me = client.whoami()
    assert me.user_id
    assert fake_dataverse.sleeps == [7.0, 7.0, 7.0]
    assert client.throttle.throttled == 3


def test_throttle_storm_gives_up(fake_dataverse: Any) -> None:
    client = fake_dataverse.client()
    client.session.retry.max_retries = 2
    fake_dataverse.faults.throttle_next(5, retry_after=2)
    with pytest.raises(ThrottledError) as info:
        client.whoami()
    assert info.value.retry_after == 2.0
    assert len(api_requests(fake_dataverse)) == 3


def test_timed_out_write_is_not_resent(fake_dataverse: Any) -> None:
    client = fake_dataverse.client()
    fake_dataverse.faults.lose_response_after_commit(1, as_="timeout", method="POST")
    with pytest.raises(RequestTimeoutError, match="may or may not"):
        client.records.create("leads", {"subject": "once", "lastname": "T"})
    assert len(api_requests(fake_dataverse, "POST")) == 1
    assert [r["subject"] for r in fake_dataverse.rows("lead")] == ["once"]


def test_reset_get_is_retried_but_reset_post_is_not(fake_dataverse: Any) -> None:
    client = fake_dataverse.client()
    fake_dataverse.faults.reset_next(1, method="GET")
    assert client.whoami().user_id
    assert len(api_requests(fake_dataverse, "GET")) == 2
    fake_dataverse.faults.reset_next(1, method="POST")
    with pytest.raises(TransportError):
        client.records.create("leads", {"subject": "x", "lastname": "R"})
    assert len(api_requests(fake_dataverse, "POST")) == 1


def test_server_errors_retry_only_when_safe(fake_dataverse: Any) -> None:
    client = fake_dataverse.client()
    fake_dataverse.faults.server_errors(2, status=503)
    assert client.whoami().user_id
    fake_dataverse.faults.server_errors(1, status=502, method="POST")
    with pytest.raises(ServerError):
        client.records.create("leads", {"subject": "x", "lastname": "S"})


def test_invalid_id_never_reaches_the_fake(fake_dataverse: Any) -> None:
    client = fake_dataverse.client()
    with pytest.raises(InvalidIdError):
        client.records.get("leads", "not-a-guid")
    assert api_requests(fake_dataverse) == []


def test_msal_client_secret_against_the_fake_login_with_strict_auth() -> None:
    fake = FakeDataverse(options=FakeOptions(strict_auth=True))
    with fake.mock():
        provider = ClientSecretTokenProvider(
            fake.org_url, tenant_id="tenant-1", client_id="app-id", client_secret="s3cret!"
        )
        client = DataverseClient(fake.org_url, token_provider=provider, sleep=lambda s: None)
        assert client.whoami().user_id
        assert client.whoami().user_id  # the cached token is reused
        rejected = DataverseClient(
            fake.org_url,
            token_provider=StaticTokenProvider("forged"),
        )
        with pytest.raises(UnauthorizedError):
            rejected.whoami()


def test_real_http_against_the_fake_server(fake_dataverse_server: Any) -> None:
    client = fake_dataverse_server.client(keep_affinity=False)
    assert client.url.startswith("http://127.0.0.1:")
    lead = client.records.create("leads", {"subject": "Over the wire", "lastname": "W"})
    assert client.records.get("leads", lead, select="subject")["subject"] == "Over the wire"
    assert client.whoami().organization_id


def test_msal_device_code_against_the_fake_login(tmp_path: Path) -> None:
    fake = FakeDataverse(options=FakeOptions(strict_auth=True))
    prompts: list[str] = []
    cache = tmp_path / "msal.json"
    with fake.mock():
        provider = DeviceCodeTokenProvider(fake.org_url, cache_path=cache, prompt=prompts.append)
        client = DataverseClient(fake.org_url, token_provider=provider, sleep=lambda s: None)
        assert client.whoami().user_id
    assert len(prompts) == 1 and "sign in" in prompts[0]
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600


def test_one_client_shared_by_worker_threads(fake_dataverse: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = fake_dataverse.client(pool_size=8)
    fake_dataverse.faults.throttle_next(4, retry_after=3, method="POST")

    def work(n: int) -> list[str]:
        return [
            client.records.create("leads", {"subject": f"w{n}-{i}", "lastname": "T"})
            for i in range(5)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [i for batch in pool.map(work, range(8)) for i in batch]
    assert len(set(ids)) == 40
    assert len(fake_dataverse.rows("lead")) == 40
    assert len(api_requests(fake_dataverse, "POST")) == 44
    assert client.throttle.throttled == 4
