"""The fake's core pieces: store, seeding, request parsing, adapters, login host, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import msal
import pytest
import requests
from _core_api import Api, make_api

from d365leads.fake import (
    FakeDataverse,
    FakeOptions,
    FakeRequest,
    FakeResponse,
    FakeServer,
    ManualClock,
    SeedError,
    Store,
    TransportFault,
)
from d365leads.fake.wire.messages import Handler, parse_prefer

TENANT = "72f988bf-0000-4000-8000-00000000aaaa"
CLIENT_ID = "51f81489-12ee-4a9e-aaae-a2591f45987d"


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


# --- store ----------------------------------------------------------------------------------


def test_store_versions_tombstones_and_snapshots() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))
    store = Store(clock=clock, guid_seed=3)
    first = store.insert("lead", {"subject": "a"})
    clock.advance(60)
    updated = store.update("lead", first["leadid"], {"subject": "b"})

    assert first["versionnumber"] == 1 and updated["versionnumber"] == 2
    assert first["createdon"] == "2026-03-01T12:00:00Z"
    assert updated["modifiedon"] == "2026-03-01T12:01:00Z"
    snapshot = store.snapshot()
    store.delete("lead", first["leadid"])
    assert store.tombstones[0].table == "lead" and store.tombstones[0].version == 3
    written, deleted = store.changes_since(1)
    assert written == [] and [t.id for t in deleted] == [first["leadid"]]

    store.restore(snapshot)
    assert store.get("lead", first["leadid"]) == updated
    assert store.tombstones == []
    with pytest.raises(RuntimeError), store.transaction():
        store.insert("lead", {"subject": "rolled back"})
        raise RuntimeError("boom")
    assert [r["subject"] for r in store.rows("lead")] == ["b"]


def test_store_guid_factory_is_deterministic_with_a_seed() -> None:
    ids_a = [Store(guid_seed=42).new_id() for _ in range(2)]
    store_b = Store(guid_seed=42)
    assert store_b.new_id() == ids_a[0]
    assert Store().new_id() != Store().new_id()


def test_store_refuses_duplicate_keys() -> None:
    store = Store()
    row = store.insert("account", {"name": "x"})
    with pytest.raises(Exception, match="matching key values"):
        store.insert("account", {"accountid": row["accountid"].upper(), "name": "y"})


# --- request parsing -----------------------------------------------------------------------


def test_fake_request_views() -> None:
    request = FakeRequest(
        "get",
        "https://org.example/api/data/v9.2/accounts(name%3D'A%2FB')?$filter=a%20eq%20'x+y%2Bz'&$top=2",
        {
            "PREFER": 'odata.include-annotations="a,b", odata.maxpagesize=5',
            "Authorization": "Bearer SECRET-XYZ",
        },
    )

    assert request.method == "GET"
    assert request.path == "accounts(name='A/B')"
    # As Dataverse reads a query string: "+" is a space, "%2B" a literal plus.
    assert request.query == [("$filter", "a eq 'x y+z'"), ("$top", "2")]
    assert request.prefer() == {"odata.include-annotations": "a,b", "odata.maxpagesize": "5"}
    assert request.header("authorization") == "Bearer SECRET-XYZ"
    assert "SECRET-XYZ" not in repr(request)
    assert parse_prefer(["return=representation"]) == {"return": "representation"}


def test_fake_request_parsed_views_follow_changes() -> None:
    # The parsed query and Prefer are cached per request; they must track the fields.
    request = FakeRequest("GET", "https://org.example/api/data/v9.2/leads?$top=2", {})
    assert request.query_value("$top") == "2"
    request.query.append(("$top", "9"))  # callers get a copy, not the cache
    assert request.query == [("$top", "2")]
    request.url = "https://org.example/api/data/v9.2/leads?$top=3&$select=subject"
    assert request.query_value("$top") == "3"
    assert request.query == [("$top", "3"), ("$select", "subject")]

    assert request.prefer() == {}
    request.headers["Prefer"] = "return=representation"
    request.prefer()["return"] = "minimal"  # a copy again
    assert request.prefer() == {"return": "representation"}
    request.headers["Prefer"] = "odata.maxpagesize=2"
    assert request.prefer() == {"odata.maxpagesize": "2"}


def test_fault_and_options_validation() -> None:
    with pytest.raises(ValueError):
        TransportFault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FakeOptions(max_page_size=6000)
    with pytest.raises(TypeError, match="nope"):
        FakeOptions().replace(nope=1)
    assert FakeOptions().replace(latency_ms=5).latency_ms == 5


# --- seeding ------------------------------------------------------------------------------


def test_seed_checks_types_and_fills_defaults() -> None:
    fake = FakeDataverse()
    (account_id,) = fake.seed("accounts", [{"name": "Contoso"}])
    lead_ids = fake.seed(
        "lead",
        [
            {"subject": "Open", "parentaccountid": account_id},
            {"subject": "Lost", "statuscode": 4, "createdon": "2024-01-02T03:04:05Z"},
            {"subject": "Bound", "customerid_account@odata.bind": f"/accounts({account_id})"},
        ],
    )

    rows = {r["subject"]: r for r in fake.rows("lead")}
    assert (rows["Open"]["statecode"], rows["Open"]["statuscode"]) == (0, 1)
    assert rows["Open"]["parentaccountid"] == account_id
    assert (rows["Lost"]["statecode"], rows["Lost"]["statuscode"]) == (2, 4)
    assert rows["Lost"]["createdon"] == "2024-01-02T03:04:05Z"
    assert rows["Bound"]["customeridtype"] == "account"
    assert rows["Open"]["ownerid"] == fake.caller_id
    assert fake.get("lead", lead_ids[0]) == rows["Open"]
    assert fake.rows("lead", statecode=2) == [rows["Lost"]]

    with pytest.raises(SeedError, match=r"lead row 1: .*nope"):
        fake.seed("lead", [{"subject": "ok"}, {"nope": 1}])
    with pytest.raises(SeedError, match="does not belong to statecode 0"):
        fake.seed("lead", {"statecode": 0, "statuscode": 4})
    with pytest.raises(SeedError, match="customeridtype"):
        fake.seed("lead", {"customerid": "6f1c2c1e-0000-0000-0000-000000000001"})
    with pytest.raises(SeedError, match="no table 'widget'"):
        fake.seed("widget", [])
    assert len(fake.rows("lead")) == 3  # failed seeds left nothing behind


def test_seed_file_json_yaml_and_errors(tmp_path: Path) -> None:
    account_id = "11111111-2222-4333-8444-555555555555"
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "account": [{"accountid": account_id, "name": "Seeded"}],
                "contacts": [
                    {"lastname": "Lee", "parentcustomerid": account_id},
                ],
            }
        )
    )
    fake = FakeDataverse()

    ids = fake.seed_file(seed)

    assert ids["account"] == [account_id]
    contact = fake.get("contact", ids["contact"][0])
    assert contact is not None and contact["parentcustomeridtype"] == "account"
    half_bad = tmp_path / "half.json"
    half_bad.write_text(json.dumps({"lead": [{"subject": "kept?"}], "account": [{"nope": 1}]}))
    with pytest.raises(SeedError, match="account row 0"):
        fake.seed_file(half_bad)
    assert fake.rows("lead") == []  # all or nothing
    yaml_file = tmp_path / "seed.yaml"
    yaml_file.write_text(
        "# leads for the demo\n"
        "lead:\n"
        "  - subject: From YAML\n"
        "    lastname: O'Brien\n"
        "    statecode: 2\n"
        "    statuscode: 6\n"
    )
    (yaml_id,) = fake.seed_file(yaml_file)["lead"]
    yaml_row = fake.get("lead", yaml_id)
    assert yaml_row is not None and yaml_row["lastname"] == "O'Brien"
    assert (yaml_row["statecode"], yaml_row["statuscode"]) == (2, 6)
    broken_yaml = tmp_path / "broken.yml"
    broken_yaml.write_text("lead: [subject: x\n")
    with pytest.raises(SeedError, match="not valid YAML"):
        fake.seed_file(broken_yaml)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("lead: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SeedError, match="not valid YAML"):
        fake.seed_file(unsafe)
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(SeedError, match="expected an object"):
        fake.seed_file(bad)
    with pytest.raises(SeedError, match="cannot read"):
        fake.seed_file(tmp_path / "missing.json")


def test_reset_forgets_data_and_keeps_identity() -> None:
    fake = FakeDataverse(options=FakeOptions(faults=["5xx:1"]))
    fake.seed("lead", {"subject": "x"})
    fake.faults.clear()
    fake.reset()

    assert fake.rows("lead") == []
    assert fake.get("systemuser", fake.caller_id) is not None
    assert len(fake.faults.pending) == 1  # the option faults are scripted again


# --- adapters and faults ------------------------------------------------------------------


def test_journal_records_requests_and_responses(api: Api) -> None:
    api.create("leads", {"subject": "j"})
    api.get("leads")

    assert [(req.method, resp.status) for req, resp in api.fake.journal] == [
        ("POST", 204),
        ("GET", 200),
    ]
    assert [r.path for r in api.fake.requests("GET")] == ["leads"]


def test_transport_faults_become_client_errors(api: Api) -> None:
    api.fake.faults.reset_next()
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("leads")

    api.fake.faults.lose_response_after_commit(as_="reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.post("leads", json={"subject": "committed"})
    assert [r["subject"] for r in api.fake.rows("lead")] == ["committed"]

    truncate: list[bool] = [True]

    def truncating(request: FakeRequest, call_next: Handler) -> FakeResponse:
        response = call_next(request)
        if truncate and truncate.pop():
            return FakeResponse(
                response.status, response.headers, response.body, TransportFault("truncate")
            )
        return response

    api.fake.hooks.append(truncating)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.get("leads").json()
    assert api.get("leads").status_code == 200


def test_timeout_in_process_never_waits() -> None:
    fake = FakeDataverse()
    fake.faults.timeout_next()
    with fake.mock():
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(fake.base_url + "leads", headers={"Authorization": "Bearer t"}, timeout=30)

        def slow(request: FakeRequest, call_next: Handler) -> FakeResponse:
            response = call_next(request)
            return FakeResponse(
                response.status, response.headers, response.body, TransportFault("delay", 60.0)
            )

        fake.hooks.append(slow)
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(fake.base_url + "leads", headers={"Authorization": "Bearer t"}, timeout=5)
        ok = requests.get(
            fake.base_url + "leads", headers={"Authorization": "Bearer t"}, timeout=120
        )
        assert ok.status_code == 200


def test_server_timeout_is_released_by_close() -> None:
    fake = FakeDataverse()
    reached = threading.Event()

    def never_answer(request: FakeRequest, call_next: Handler) -> FakeResponse:
        response = call_next(request)
        reached.set()
        return FakeResponse(response.status, response.headers, b"", TransportFault("timeout"))

    fake.hooks.append(never_answer)
    server = fake.serve()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            requests.get(
                server.base_url + "WhoAmI", headers={"Authorization": "Bearer t"}, timeout=60
            )
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    assert reached.wait(10)
    server.close()  # releases the withheld answer at once: the client sees the connection drop
    thread.join(10)

    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], requests.exceptions.ConnectionError)


def test_server_with_any_handler_and_clean_close() -> None:
    def handler(request: FakeRequest) -> FakeResponse:
        return FakeResponse.json_body(200, {"path": request.path, "query": request.query})

    session = requests.Session()  # keeps its connection alive across requests
    with FakeServer(handler) as server:
        assert server.url.startswith("http://127.0.0.1:")
        body = session.get(server.base_url + "leads?$top=1", timeout=5).json()
        assert body == {"path": "leads", "query": [["$top", "1"]]}
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(server.base_url + "leads", timeout=5)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.base_url + "leads", timeout=5)


# --- login host ---------------------------------------------------------------------------


def test_msal_client_credentials_runs_offline_and_strict_auth_accepts_its_token() -> None:
    fake = FakeDataverse(options=FakeOptions(strict_auth=True))
    with fake.mock():
        # MSAL discovers the tenant when the app is built, so build it inside the mock.
        app = msal.ConfidentialClientApplication(
            CLIENT_ID,
            authority=f"https://login.microsoftonline.com/{TENANT}",
            client_credential="not-a-real-secret",
        )
        result = app.acquire_token_for_client(scopes=[f"{fake.org_url}/.default"])
        token = result["access_token"]
        assert result["token_type"] == "Bearer"
        good = requests.get(fake.base_url + "WhoAmI", headers={"Authorization": f"Bearer {token}"})
        bad = requests.get(fake.base_url + "WhoAmI", headers={"Authorization": "Bearer forged"})

    assert good.status_code == 200
    assert bad.status_code == 401
    assert all("login.microsoftonline.com" not in req.url for req, _ in fake.journal)


def test_msal_device_code_flow_runs_offline() -> None:
    fake = FakeDataverse()
    with fake.mock():
        app = msal.PublicClientApplication(
            CLIENT_ID, authority=f"https://login.microsoftonline.com/{TENANT}"
        )
        flow = app.initiate_device_flow(scopes=[f"{fake.org_url}/user_impersonation"])
        assert "user_code" in flow, flow
        result = app.acquire_token_by_device_flow(flow)
        assert "access_token" in result, result
        accounts = app.get_accounts()
    assert accounts and accounts[0]["username"] == "fake.user@example.com"


# --- python -m d365leads.fake -------------------------------------------------------------


@pytest.mark.slow
def test_module_cli_prints_url_serves_seed_and_stops_on_sigterm(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"lead": [{"subject": "From seed"}]}))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "d365leads.fake",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--strict-auth",
            "--token",
            "cli-token",
            "--max-requests",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        auth = {"Authorization": "Bearer cli-token"}
        body = requests.get(
            f"{url}/api/data/v9.2/leads?$select=subject", headers=auth, timeout=10
        ).json()
        assert [r["subject"] for r in body["value"]] == ["From seed"]
        refused = requests.get(
            f"{url}/api/data/v9.2/leads", timeout=10, headers={"Authorization": "Bearer other"}
        )
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_module_cli_rejects_bad_flags() -> None:
    from d365leads.fake.__main__ import build_parser, options_from_args

    args = build_parser().parse_args(
        ["--latency-ms", "5", "--fault", "throttle:2", "--dop-hint", "8"]
    )
    options = options_from_args(args)
    assert (options.latency_ms, options.faults, options.dop_hint) == (5.0, ["throttle:2"], 8)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--fault", "explode:1"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--max-requests", "-1"])
    off = options_from_args(build_parser().parse_args(["--max-requests", "0"]))
    assert off.max_requests is None


def test_server_handles_concurrent_writes_consistently() -> None:
    fake = FakeDataverse(sleep=lambda seconds: None)
    with fake.serve() as server:

        def create(worker: int) -> None:
            with requests.Session() as session:
                for i in range(10):
                    response = session.post(
                        server.base_url + "leads",
                        json={"subject": f"w{worker}-{i}"},
                        headers={"Authorization": "Bearer t"},
                        timeout=10,
                    )
                    assert response.status_code == 204

        threads = [threading.Thread(target=create, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    rows = fake.rows("lead")
    assert len(rows) == 80
    assert len({r["versionnumber"] for r in rows}) == 80
    assert len({r["leadid"] for r in rows}) == 80
    assert fake.errors == []


def test_impersonation_header_and_acting_as(api: Api) -> None:
    (seller,) = api.fake.seed("systemuser", [{"firstname": "Sam", "lastname": "Seller"}])

    as_seller = api.post(
        "leads", json={"subject": "Mine"}, headers={"MSCRMCallerID": seller.upper()}
    )
    assert as_seller.status_code == 204
    who = api.get("WhoAmI", headers={"MSCRMCallerID": seller}).json()
    assert who["UserId"] == seller
    assert api.get("WhoAmI").json()["UserId"] == api.fake.default_caller_id
    unknown = api.get("WhoAmI", headers={"MSCRMCallerID": "6f1c2c1e-0000-0000-0000-00000000abcd"})
    assert unknown.status_code == 404
    # CallerObjectId names the user's Entra object id, which this seller has none of.
    by_object_id = api.get("WhoAmI", headers={"CallerObjectId": seller})
    assert by_object_id.status_code == 404

    with api.fake.acting_as(seller):
        assert api.fake.caller_id == seller
    assert api.fake.caller_id == api.fake.default_caller_id
    (lead,) = api.fake.rows("lead")
    assert (lead["ownerid"], lead["createdby"]) == (seller, seller)


def test_server_reads_chunked_request_bodies() -> None:
    fake = FakeDataverse()
    with fake.serve() as server:

        def body() -> Iterator[bytes]:
            yield b'{"subject": '
            yield b'"Chunked"}'

        response = requests.post(
            server.base_url + "leads",
            data=body(),
            headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
            timeout=10,
        )
    assert response.status_code == 204, response.text
    assert [r["subject"] for r in fake.rows("lead")] == ["Chunked"]


def test_control_plane_over_the_server() -> None:
    fake = FakeDataverse(clock=ManualClock(), sleep=lambda seconds: None)
    with fake.serve() as server, requests.Session() as session:
        admin = server.url + "/_fake/"
        seeded = session.post(admin + "seed", json={"lead": [{"subject": "Admin"}]}, timeout=5)
        assert seeded.status_code == 200
        (lead_id,) = seeded.json()["lead"]
        assert fake.get("lead", lead_id) is not None
        bad_seed = session.post(admin + "seed", json={"lead": [{"nope": 1}]}, timeout=5)
        assert bad_seed.status_code == 400 and "nope" in bad_seed.json()["error"]["message"]

        health = session.get(admin + "health", timeout=5).json()
        assert health["status"] == "ok" and health["rows"]["lead"] == 1

        assert (
            session.post(admin + "faults", json={"spec": "5xx:1:503"}, timeout=5).status_code == 204
        )
        auth = {"Authorization": "Bearer SECRET-ADMIN"}
        assert session.get(server.base_url + "leads", headers=auth, timeout=5).status_code == 503
        journal = session.get(admin + "journal", timeout=5)
        assert [e["status"] for e in journal.json()] == [503]
        assert "SECRET-ADMIN" not in journal.text

        before = fake.clock()
        moved = session.post(admin + "clock", json={"advance": 90}, timeout=5)
        assert moved.status_code == 200
        assert (fake.clock() - before).total_seconds() == 90

        assert session.post(admin + "reset", timeout=5).status_code == 204
        assert fake.rows("lead") == [] and fake.journal == []
        assert session.get(admin + "nope", timeout=5).status_code == 404


def test_control_plane_needs_a_token_under_strict_auth() -> None:
    fake = FakeDataverse(options=FakeOptions(strict_auth=True))
    fake.accepted_tokens.add("ok-token")
    with fake.mock():
        refused = requests.post(fake.org_url + "/_fake/reset", timeout=5)
        allowed = requests.post(
            fake.org_url + "/_fake/reset", headers={"Authorization": "Bearer ok-token"}, timeout=5
        )
    assert (refused.status_code, allowed.status_code) == (401, 204)
