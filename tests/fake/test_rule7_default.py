"""Product rule 7 over the wire: by default the fake refuses to remove an opportunity's
customer, in every form the associate/disassociate page shows; the platform's own behaviour
(204, ApplicationRequired is not enforced by the API) is ``require_opportunity_customer=False``,
which the conformance exchanges declare."""

from __future__ import annotations

import pytest
import requests

from d365leads.fake import FakeDataverse, FakeOptions

AUTH = {"Authorization": "Bearer t"}
ACCOUNT = "00000000-0000-0000-0000-000000000002"
OPPORTUNITY = "00000000-0000-0000-0000-000000000001"
REMOVALS = [
    ("DELETE", f"accounts({ACCOUNT})/opportunity_customer_accounts({OPPORTUNITY})/$ref", None),
    ("DELETE", f"opportunities({OPPORTUNITY})/customerid_account/$ref", None),
    ("PATCH", f"opportunities({OPPORTUNITY})", {"customerid_account@odata.bind": None}),
]


def _fake(options: FakeOptions) -> FakeDataverse:
    fake = FakeDataverse(options=options)
    fake.seed("account", [{"accountid": ACCOUNT, "name": "Sample Account"}])
    fake.seed(
        "opportunity",
        [{"opportunityid": OPPORTUNITY, "name": "Sample", "customerid": ACCOUNT}],
    )
    return fake


@pytest.mark.parametrize(("method", "path", "body"), REMOVALS)
def test_default_refuses_to_remove_the_customer(
    method: str, path: str, body: dict[str, None] | None
) -> None:
    fake = _fake(FakeOptions())
    with fake.mock():
        got = requests.request(method, fake.base_url + path, json=body, headers=AUTH, timeout=5)
    assert got.status_code == 400
    assert got.json()["error"]["code"] == "0x80040203"
    assert "must have a customer" in got.json()["error"]["message"]
    kept = fake.get("opportunity", OPPORTUNITY)
    assert kept is not None and kept["customerid"] == ACCOUNT


@pytest.mark.parametrize(("method", "path", "body"), REMOVALS)
def test_switched_off_removes_it_as_the_platform_does(
    method: str, path: str, body: dict[str, None] | None
) -> None:
    fake = _fake(FakeOptions(require_opportunity_customer=False))
    with fake.mock():
        got = requests.request(method, fake.base_url + path, json=body, headers=AUTH, timeout=5)
    assert got.status_code == 204
    cleared = fake.get("opportunity", OPPORTUNITY)
    assert cleared is not None and not cleared.get("customerid")
