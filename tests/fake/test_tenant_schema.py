"""Tenant customisations of the fake: custom columns and alternate keys, per fake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from _core_api import Api, error_of, make_api

from d365leads.fake import FakeDataverse, FakeOptions, SeedError

CUSTOM = FakeOptions(
    custom_columns=(
        ("lead", "new_score", "int"),
        ("lead", "new_segment", "string"),
        ("lead", "new_budget", "money"),
        ("lead", "new_nextcall", "datetime"),
        ("lead", "new_vip", "bool"),
        ("lead", "new_regionid", "lookup:account"),
        ("contact", "new_tier", "int"),
    ),
    alternate_keys=(("lead", ("emailaddress1",)), ("contact", ("emailaddress1",))),
)


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request, CUSTOM.replace())


# --- definitions ---------------------------------------------------------------------------


def test_customisations_are_per_fake_and_validated() -> None:
    fake = FakeDataverse()
    other = FakeDataverse()
    fake.add_column("leads", "new_score", "int")
    fake.add_alternate_key("lead", "emailaddress1")
    assert fake.schema.table("lead").column("new_score") is not None
    assert ("emailaddress1",) in fake.schema.table("lead").alternate_keys
    assert other.schema.table("lead").column("new_score") is None
    assert other.schema.table("lead").alternate_keys == ()
    assert fake.options.custom_columns == (("lead", "new_score", "int"),)
    with pytest.raises(ValueError, match="publisher prefix"):
        fake.add_column("lead", "score", "int")
    with pytest.raises(ValueError, match="publisher prefix"):
        fake.add_column("lead", "New_Score", "int")
    with pytest.raises(ValueError, match="already has a column or property 'new_score'"):
        fake.add_column("lead", "new_score", "string")
    with pytest.raises(ValueError, match="unknown type 'float'"):
        fake.add_column("lead", "new_ratio", "float")
    with pytest.raises(ValueError, match="lookup target 'region'"):
        fake.add_column("lead", "new_regionid", "lookup:region")
    with pytest.raises(ValueError, match="no table 'prospect'"):
        fake.add_column("prospect", "new_score", "int")
    with pytest.raises(ValueError, match="has no column 'new_nope'"):
        fake.add_alternate_key("lead", "new_nope")
    with pytest.raises(ValueError, match="already has this key"):
        fake.add_alternate_key("lead", "emailaddress1")
    with pytest.raises(ValueError, match="memo column"):
        fake.add_alternate_key("lead", "description")
    with pytest.raises(ValueError, match="no table"):
        FakeDataverse(options=FakeOptions(custom_columns=(("nope", "new_x", "int"),)))
    # existing rows must be unique before a key can be defined
    fake.seed(
        "contact",
        [
            {"lastname": "A", "emailaddress1": "a@x.com"},
            {"lastname": "B", "emailaddress1": "A@X.com"},
        ],
    )
    with pytest.raises(ValueError, match="make them unique"):
        fake.add_alternate_key("contact", "emailaddress1")
    assert len(fake.options.alternate_keys) == 1  # nothing half-added


def test_seed_file_schema_declares_columns_and_keys_all_or_nothing(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "$schema": {
                    "columns": [
                        ["lead", "new_score", "int"],
                        {"table": "lead", "name": "new_vip", "type": "bool"},
                    ],
                    "alternate_keys": [["lead", ["emailaddress1"]]],
                },
                "lead": [{"subject": "A", "emailaddress1": "a@x.com", "new_score": 3}],
            }
        )
    )
    fake = FakeDataverse()
    [lead_id] = fake.seed_file(seed)["lead"]
    row = fake.get("lead", lead_id)
    assert row is not None and row["new_score"] == 3
    assert fake.options.alternate_keys == (("lead", ("emailaddress1",)),)

    fresh = FakeDataverse()
    bad_row = tmp_path / "bad_row.json"
    bad_row.write_text(
        json.dumps(
            {
                "$schema": {"columns": [["lead", "new_score", "int"]]},
                "lead": [{"subject": "A", "new_score": "high"}],
            }
        )
    )
    with pytest.raises(SeedError, match="new_score"):
        fresh.seed_file(bad_row)
    assert fresh.options.custom_columns == () and fresh.rows("lead") == []
    bad_schema = tmp_path / "bad_schema.json"
    bad_schema.write_text(json.dumps({"$schema": {"columns": [["lead", "score", "int"]]}}))
    with pytest.raises(SeedError, match="publisher prefix"):
        fresh.seed_file(bad_schema)
    bad_shape = tmp_path / "bad_shape.json"
    bad_shape.write_text(json.dumps({"$schema": {"keys": []}}))
    with pytest.raises(SeedError, match="unknown key"):
        fresh.seed_file(bad_shape)
    assert fresh.options.custom_columns == ()


# --- over the wire (both transports) ---------------------------------------------------------


def test_custom_columns_are_written_typed_read_filtered_and_ordered(api: Api) -> None:
    account = api.create("accounts", {"name": "North"})
    first = api.create(
        "leads",
        {
            "subject": "A",
            "new_score": 10,
            "new_segment": "SMB",
            "new_budget": 99.5,
            "new_nextcall": "2026-02-01T10:00:00+01:00",
            "new_vip": True,
            "new_regionid@odata.bind": f"/accounts({account})",
        },
    )
    api.create("leads", {"subject": "B", "new_score": 30, "new_vip": False})
    api.create("leads", {"subject": "C"})
    wrong = api.post("leads", json={"subject": "D", "new_score": "10"})
    assert wrong.status_code == 400 and "Edm.Int32" in error_of(wrong)["message"]
    assert error_of(wrong)["code"] == "0x80048d19"
    lookup_as_value = api.post("leads", json={"new_regionid": account})
    assert lookup_as_value.status_code == 400

    got = api.get(
        f"leads({first})?$select=new_score,new_nextcall,new_vip,_new_regionid_value",
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()
    assert got["new_score"] == 10 and got["new_vip"] is True
    assert got["new_nextcall"] == "2026-02-01T09:00:00Z"
    assert got["_new_regionid_value"] == account
    assert got["_new_regionid_value@OData.Community.Display.V1.FormattedValue"] == "North"
    expanded = api.get(f"leads({first})?$expand=new_regionid($select=name)").json()
    assert expanded["new_regionid"]["name"] == "North"

    listed = api.get(
        "leads?$select=subject&$filter=new_score ge 10&$orderby=new_score desc"
    ).json()["value"]
    assert [r["subject"] for r in listed] == ["B", "A"]
    nulls_first = api.get("leads?$select=subject&$orderby=new_score").json()["value"]
    assert [r["subject"] for r in nulls_first] == ["C", "A", "B"]
    by_date = api.get("leads?$filter=new_nextcall lt 2026-02-01T09:30:00Z").json()["value"]
    assert [r["subject"] for r in by_date] == ["A"]
    mismatch = api.get("leads?$filter=new_score eq 'ten'")
    assert mismatch.status_code == 400 and "incompatible types" in error_of(mismatch)["message"]
    update = api.patch(f"leads({first})", json={"new_score": 11}, headers={"If-Match": "*"})
    assert update.status_code == 204
    assert api.get(f"leads({first})/new_score").json()["value"] == 11
    # the default table is untouched elsewhere: a contact has no new_score
    unknown = api.post("contacts", json={"lastname": "X", "new_score": 1})
    assert unknown.status_code == 400 and "new_score" in error_of(unknown)["message"]


def test_upsert_by_a_tenant_alternate_key(api: Api) -> None:
    path = "leads(emailaddress1='ana@example.com')"
    missing = api.patch(path, json={"subject": "x"}, headers={"If-Match": "*"})
    assert missing.status_code == 404
    created = api.patch(path, json={"subject": "New", "new_score": 1})
    assert created.status_code == 204
    # Named by the key it was addressed with, as the upsert page documents.
    assert created.headers["OData-EntityId"] == api.base + path
    (row,) = api.fake.rows("lead")
    assert row["emailaddress1"] == "ana@example.com"
    lead_id = row["leadid"]
    api.fake.options.alternate_key_entity_id = "guid"
    legacy = api.patch(path, json={"subject": "New"})
    assert legacy.headers["OData-EntityId"] == f"{api.base}leads({lead_id})"
    again = api.patch(path, json={"subject": "Twice"}, headers={"If-None-Match": "*"})
    assert again.status_code == 412 and error_of(again)["code"] == "0x80040237"
    updated = api.patch(
        "leads(emailaddress1='ANA@example.com')", json={"new_score": 2}, headers={"If-Match": "*"}
    )
    assert updated.status_code == 204
    etag = api.get(path).json()["@odata.etag"]
    stale = api.patch(path, json={"new_score": 3}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412 and error_of(stale)["code"] == "0x80060882"
    fresh = api.patch(path, json={"new_score": 3}, headers={"If-Match": etag})
    assert fresh.status_code == 204
    duplicate = api.post("leads", json={"subject": "Dup", "emailaddress1": "Ana@Example.com"})
    assert duplicate.status_code == 412 and error_of(duplicate)["code"] == "0x80040237"
    other = api.create("leads", {"subject": "Other", "emailaddress1": "bo@example.com"})
    clash = api.patch(f"leads({other})", json={"emailaddress1": "ana@example.com"})
    assert clash.status_code == 412
    rows = api.fake.rows("lead")
    assert len(rows) == 2 and {r.get("new_score") for r in rows} == {3, None}
    contact = api.patch("contacts(emailaddress1='c@example.com')", json={"new_tier": 2})
    assert contact.status_code == 204
    bad_key = api.get("leads(new_score=3)")
    assert bad_key.status_code == 400 and "emailaddress1" in error_of(bad_key)["message"]


def test_delta_and_batch_carry_custom_columns(api: Api) -> None:
    lead_id = api.create("leads", {"subject": "A", "new_score": 1})
    first = api.get("leads?$select=subject,new_score", headers={"Prefer": "odata.track-changes"})
    assert first.json()["value"][0]["new_score"] == 1
    boundary = "batch_x"
    body = (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        f"\r\nPATCH leads(emailaddress1='z@example.com') HTTP/1.1\r\n"
        f"Content-Type: application/json\r\n\r\n"
        f'{{"subject": "Z", "new_score": 5}}\r\n'
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        f"\r\nPATCH leads({lead_id}) HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        f'{{"new_score": 2}}\r\n--{boundary}--\r\n'
    )
    batch = api.post(
        "$batch", data=body, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
    )
    assert batch.status_code == 200, batch.text
    delta = api.get(first.json()["@odata.deltaLink"]).json()["value"]
    assert sorted(r["new_score"] for r in delta) == [2, 5]


# --- served with a seed file ------------------------------------------------------------------


@pytest.mark.slow
def test_module_cli_serves_seed_declared_customisations(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "$schema": {
                    "columns": [["lead", "new_score", "int"]],
                    "alternate_keys": [{"table": "lead", "columns": ["emailaddress1"]}],
                },
                "lead": [{"subject": "Seeded", "emailaddress1": "a@x.com", "new_score": 4}],
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "d365leads.fake", "--port", "0", "--seed", str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url or process.stderr.read()
        base = f"{url}/api/data/v9.2/"
        auth = {"Authorization": "Bearer t"}
        read = requests.get(
            base + "leads(emailaddress1='a@x.com')?$select=new_score", headers=auth, timeout=10
        )
        assert read.status_code == 200 and read.json()["new_score"] == 4
        write = requests.patch(
            base + "leads(emailaddress1='a@x.com')",
            json={"new_score": 5},
            headers={**auth, "If-Match": "*"},
            timeout=10,
        )
        assert write.status_code == 204
        admin = requests.post(
            f"{url}/_fake/seed",
            json={
                "$schema": {"columns": [["contact", "new_tier", "int"]]},
                "contact": [{"lastname": "C", "new_tier": 1}],
            },
            timeout=10,
        )
        assert admin.status_code == 200, admin.text
        tiers = requests.get(base + "contacts?$select=new_tier", headers=auth, timeout=10)
        assert [r["new_tier"] for r in tiers.json()["value"]] == [1]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
