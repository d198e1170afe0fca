"""A QualifyLead success that does not say what it created: a specific error, never a resend."""

from __future__ import annotations

import json
from typing import Any

import pytest

from d365leads import QualifyResponseError

from .conftest import ClientFactory
from .hostile_server import Answer, HostileServer, Received, Wire

QUALIFY = r"^leads\(.*\)/Microsoft\.Dynamics\.CRM\.QualifyLead$"


def applied_then(server: HostileServer, body: bytes, content_type: str | None) -> Answer:
    """Let the fake qualify the lead for real, then answer 200 with ``body`` instead."""

    def answer(request: Received, wire: Wire) -> None:
        status, _, _ = server.ask_fake(request)
        assert status == 200
        wire.full(200, body, {"Content-Type": content_type} if content_type else {})

    return answer


def element(**fields: Any) -> dict[str, Any]:
    return dict(fields)


CASES = {
    "empty-body": (b"", None, "a body listing the created records"),
    "no-value": (b'{"@odata.context": "x"}', "application/json", "the 'value' collection"),
    "no-type": (
        json.dumps({"value": [element(accountid="6f1c2c1e-0000-0000-0000-000000000009")]}).encode(),
        "application/json",
        "the @odata.type of created record 1",
    ),
    "bad-id": (
        json.dumps(
            {"value": [{"@odata.type": "#Microsoft.Dynamics.CRM.account", "accountid": "42"}]}
        ).encode(),
        "application/json",
        "a valid id of the created account ('42')",
    ),
    "html": (b"<html>done</html>", "text/html", "a usable JSON body"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_qualify_answer_without_ids(
    server: HostileServer, make_client: ClientFactory, case: str
) -> None:
    fake = server.fake
    assert fake is not None
    lead_id = fake.seed(
        "lead", [{"subject": "Fleet", "firstname": "Ana", "lastname": "Lee", "companyname": "Ct"}]
    )[0]
    body, content_type, missing = CASES[case]
    server.route("POST", QUALIFY, applied_then(server, body, content_type))
    client = make_client()
    with pytest.raises(QualifyResponseError) as info:
        client.leads.qualify(lead_id)
    error = info.value
    assert missing in error.missing and missing in str(error)
    assert error.lead_id == lead_id and error.lead_state == "Qualified"
    assert "was not sent again" in str(error) and f"eq {lead_id}" in str(error)
    # The action went out once; the lead was re-read after it, and nothing was sent twice.
    sent = [(r.method, r.target.split("/api/data/v9.2/")[-1]) for r in server.received]
    posts = [i for i, (method, _) in enumerate(sent) if method == "POST"]
    assert len(posts) == 1
    assert any(
        method == "GET" and path.startswith(f"leads({lead_id})")
        for method, path in sent[posts[0] + 1 :]
    )
    assert len(fake.rows("opportunity")) == 1 and len(fake.rows("account")) == 1
    assert fake.get("lead", lead_id)["statecode"] == 1  # type: ignore[index]


def test_element_naming_its_table_without_the_key_is_found_through_the_lead(
    server: HostileServer, make_client: ClientFactory
) -> None:
    # The element content is UNCONFIRMED: a type without the key is resolved, not refused.
    fake = server.fake
    assert fake is not None
    lead_id = fake.seed("lead", [{"subject": "Fleet", "lastname": "Lee", "companyname": "Ct"}])[0]
    typed_only = json.dumps(
        {"value": [{"@odata.type": "#Microsoft.Dynamics.CRM.opportunity"}]}
    ).encode()
    server.route("POST", QUALIFY, applied_then(server, typed_only, "application/json"))
    result = make_client().leads.qualify(lead_id, create_contact=False)
    (opportunity,) = fake.rows("opportunity")
    assert result.opportunity is not None
    assert str(result.opportunity.id) == opportunity["opportunityid"]


def test_no_record_found_for_a_keyless_element_is_the_same_error(
    server: HostileServer, make_client: ClientFactory
) -> None:
    fake = server.fake
    assert fake is not None
    lead_id = fake.seed("lead", [{"subject": "Fleet", "lastname": "Lee", "companyname": "Ct"}])[0]
    says_account = json.dumps({"value": [{"@odata.type": "#Microsoft.Dynamics.CRM.account"}]})
    server.route("POST", QUALIFY, applied_then(server, says_account.encode(), "application/json"))
    with pytest.raises(QualifyResponseError, match="no account originating from the lead"):
        make_client().leads.qualify(lead_id, create_account=False)
    assert [r.method for r in server.received].count("POST") == 1
