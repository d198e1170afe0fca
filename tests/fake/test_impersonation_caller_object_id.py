"""Impersonation by ``CallerObjectId`` (a systemuser's Entra object id) and ``MSCRMCallerID``."""

from __future__ import annotations

import uuid

import pytest
import requests

from d365leads.fake import FakeDataverse
from d365leads.fake.core.options import FakeOptions


def _get(fake: FakeDataverse, headers: dict[str, str]) -> requests.Response:
    return requests.get(
        f"{fake.org_url}/api/data/v9.2/WhoAmI",
        headers={"Authorization": "Bearer app", **headers},
        timeout=5,
    )


@pytest.fixture
def fake() -> FakeDataverse:
    return FakeDataverse(options=FakeOptions(max_requests=2, window_s=60.0))


def test_caller_object_id_acts_as_the_user_with_that_object_id(fake: FakeDataverse) -> None:
    object_id = str(uuid.uuid4())
    (user,) = fake.seed(
        "systemuser", [{"fullname": "Ana", "azureactivedirectoryobjectid": object_id}]
    )
    with fake.mock():
        who = _get(fake, {"CallerObjectId": object_id.upper()})
        unknown = _get(fake, {"CallerObjectId": str(uuid.uuid4())})
        not_a_guid = _get(fake, {"CallerObjectId": "ana"})
    assert who.status_code == 200 and who.json()["UserId"] == user
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "0x80040217"
    assert "azureactivedirectoryobjectid" in unknown.json()["error"]["message"]
    assert not_a_guid.status_code == 400


@pytest.mark.parametrize("header", ["CallerObjectId", "MSCRMCallerID"])
def test_a_disabled_user_cannot_be_impersonated(fake: FakeDataverse, header: str) -> None:
    object_id = str(uuid.uuid4())
    (user,) = fake.seed(
        "systemuser",
        [{"fullname": "Gone", "azureactivedirectoryobjectid": object_id, "isdisabled": True}],
    )
    with fake.mock():
        answer = _get(fake, {header: object_id if header == "CallerObjectId" else user})
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == "0x80040225"
    assert f"SystemUserId={user}" in error["message"] and "disabled" in error["message"]


@pytest.mark.parametrize("spreads", [False, True])
def test_limits_follow_the_effective_caller_whichever_header_names_it(spreads: bool) -> None:
    fake = FakeDataverse(
        options=FakeOptions(max_requests=2, window_s=60.0, impersonation_spreads_limits=spreads)
    )
    ana_oid, ben_oid = str(uuid.uuid4()), str(uuid.uuid4())
    ana, _ben = fake.seed(
        "systemuser",
        [
            {"fullname": "Ana", "azureactivedirectoryobjectid": ana_oid},
            {"fullname": "Ben", "azureactivedirectoryobjectid": ben_oid},
        ],
    )
    with fake.mock():
        # Ana twice, named once by object id and once by systemuserid: one caller either way.
        assert _get(fake, {"CallerObjectId": ana_oid}).status_code == 200
        assert _get(fake, {"MSCRMCallerID": ana}).status_code == 200
        assert _get(fake, {"CallerObjectId": ana_oid}).status_code == 429
        assert _get(fake, {"CallerObjectId": ben_oid}).status_code == (200 if spreads else 429)
