"""Seeded row versions: a seed row may carry ``versionnumber`` or ``@odata.etag``, so a
documented ETag (``W/"468026"``) can be reproduced; the org's counter stays monotonic."""

from __future__ import annotations

import pytest
import requests

from d365leads.fake import FakeDataverse, SeedError

AUTH = {"Authorization": "Bearer t"}
ACCOUNT = "00000000-0000-0000-0000-000000000001"


def test_seeded_version_is_the_etag_and_answers_304() -> None:
    fake = FakeDataverse()
    fake.seed("account", [{"accountid": ACCOUNT, "name": "Sample", "versionnumber": 468026}])
    with fake.mock():
        url = f"{fake.base_url}accounts({ACCOUNT})?$select=name"
        got = requests.get(url, headers=AUTH, timeout=5)
        assert got.json()["@odata.etag"] == 'W/"468026"'
        again = requests.get(url, headers={**AUTH, "If-None-Match": 'W/"468026"'}, timeout=5)
    assert again.status_code == 304


def test_counter_continues_above_a_seeded_high_version() -> None:
    fake = FakeDataverse()
    fake.seed("account", [{"name": "High", "@odata.etag": 'W/"500000"'}])
    with fake.mock():
        created = requests.post(
            fake.base_url + "accounts",
            json={"name": "Next"},
            headers={**AUTH, "Prefer": "return=representation"},
            timeout=5,
        )
    assert created.status_code == 201
    assert int(created.json()["versionnumber"]) == 500001
    (high,) = [r for r in fake.rows("account") if r["name"] == "High"]
    assert high["versionnumber"] == 500000


def test_seeded_versions_rise_in_seed_order_and_must_agree() -> None:
    fake = FakeDataverse()
    fake.seed("account", [{"name": "A", "versionnumber": 1000}, {"name": "B"}])
    versions = sorted(r["versionnumber"] for r in fake.rows("account"))
    assert versions == [1000, 1001]
    with pytest.raises(SeedError, match="not above the org's last row version 1001"):
        fake.seed("account", [{"name": "C", "versionnumber": 900}])
    with pytest.raises(SeedError, match="name different versions"):
        fake.seed("account", [{"name": "D", "versionnumber": 2000, "@odata.etag": 'W/"2001"'}])
    with pytest.raises(SeedError, match=r"@odata\.etag must look like"):
        fake.seed("account", [{"name": "E", "@odata.etag": "468026"}])
    with pytest.raises(SeedError, match="whole number"):
        fake.seed("account", [{"name": "F", "versionnumber": 1.5}])
    assert sorted(r["name"] for r in fake.rows("account")) == ["A", "B"]  # nothing half-kept
