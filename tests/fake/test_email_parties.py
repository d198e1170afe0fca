"""The ``email`` and ``activityparty`` tables through both adapters: replacing an email's
parties with ``PUT emails(<id>)/email_activity_parties``, deep insert of an email with its
parties, ``$expand=email_activity_parties`` and the validation of a party."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _core_api import Api, error_of, make_api

from d365leads.fake import FakeOptions


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


def _parties(api: Api, email: str) -> list[tuple[str | None, str | None, int]]:
    rows = [r for r in api.fake.rows("activityparty") if r["activityid"] == email]
    return sorted((r["partyid"], r["partyidtype"], r["participationtypemask"]) for r in rows)


def test_put_replaces_the_parties_of_an_email(api: Api) -> None:
    first = api.create("contacts", {"lastname": "First"})
    second = api.create("contacts", {"lastname": "Second"})
    lead = api.create("leads", {"lastname": "Prospect"})
    email = api.create("emails", {"subject": "Hello"})
    nav = f"emails({email})/email_activity_parties"
    answer = api.put(
        nav,
        json={
            "value": [
                {"partyid_contact@odata.bind": f"contacts({first})", "participationtypemask": 1},
                {"partyid_contact@odata.bind": f"contacts({second})", "participationtypemask": 2},
            ]
        },
    )
    assert answer.status_code == 204, answer.text
    assert _parties(api, email) == sorted([(first, "contact", 1), (second, "contact", 2)])

    again = api.put(
        nav,
        json={
            "value": [
                {
                    "partyid_lead@odata.bind": f"/leads({lead})",
                    "participationtypemask": 3,
                    "addressused": "lead@example.com",
                }
            ]
        },
    )
    assert again.status_code == 204, again.text
    assert _parties(api, email) == [(lead, "lead", 3)]
    (row,) = api.fake.rows("activityparty")
    assert row["addressused"] == "lead@example.com"

    emptied = api.put(nav, json={"value": []})
    assert emptied.status_code == 204
    assert api.fake.rows("activityparty") == []


def test_parties_of_another_email_are_kept(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "Shared"})
    one = api.create("emails", {"subject": "One"})
    two = api.create("emails", {"subject": "Two"})
    party = {"partyid_contact@odata.bind": f"/contacts({contact})", "participationtypemask": 2}
    for email in (one, two):
        assert api.put(f"emails({email})/email_activity_parties", json={"value": [party]}).ok
    assert api.put(f"emails({one})/email_activity_parties", json={"value": []}).ok
    assert _parties(api, one) == []
    assert _parties(api, two) == [(contact, "contact", 2)]


def test_deep_insert_of_an_email_with_its_parties_and_expand(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "Recipient"})
    account = api.create("accounts", {"name": "Regarding"})
    user = api.fake.rows("systemuser")[0]["systemuserid"]
    answer = api.post(
        "emails",
        json={
            "subject": "Deep",
            "description": "Body",
            "directioncode": True,
            "regardingobjectid_account_email@odata.bind": f"/accounts({account})",
            "email_activity_parties": [
                {
                    "partyid_systemuser@odata.bind": f"/systemusers({user})",
                    "participationtypemask": 1,
                },
                {"partyid_contact@odata.bind": f"/contacts({contact})", "participationtypemask": 2},
            ],
        },
    )
    assert answer.status_code == 204, answer.text
    email = answer.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    row = api.fake.get("email", email)
    assert (row["statecode"], row["statuscode"]) == (0, 1)  # Open, Draft
    assert (row["regardingobjectid"], row["regardingobjectidtype"]) == (account, "account")
    assert _parties(api, email) == sorted([(user, "systemuser", 1), (contact, "contact", 2)])

    read = api.get(
        f"emails({email})?$select=subject"
        "&$expand=email_activity_parties($select=participationtypemask,_partyid_value)"
    )
    assert read.status_code == 200, read.text
    parties = read.json()["email_activity_parties"]
    assert sorted((p["_partyid_value"], p["participationtypemask"]) for p in parties) == sorted(
        [(user, 1), (contact, 2)]
    )
    listed = api.get(f"emails({email})/email_activity_parties?$select=participationtypemask")
    assert listed.status_code == 200
    assert sorted(p["participationtypemask"] for p in listed.json()["value"]) == [1, 2]
    regarding = api.get(f"accounts({account})/Account_Emails?$select=subject").json()
    assert [e["subject"] for e in regarding["value"]] == ["Deep"]


def test_a_bad_participation_type_changes_nothing(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "Kept"})
    email = api.create("emails", {"subject": "Kept parties"})
    nav = f"emails({email})/email_activity_parties"
    good = {"partyid_contact@odata.bind": f"/contacts({contact})", "participationtypemask": 2}
    assert api.put(nav, json={"value": [good]}).status_code == 204
    bad = api.put(
        nav,
        json={
            "value": [
                {"partyid_contact@odata.bind": f"/contacts({contact})", "participationtypemask": 1},
                {
                    "partyid_contact@odata.bind": f"/contacts({contact})",
                    "participationtypemask": 99,
                },
            ]
        },
    )
    assert bad.status_code == 400
    assert "participationtypemask" in error_of(bad)["message"]
    missing = api.put(
        nav, json={"value": [{"partyid_contact@odata.bind": f"/contacts({contact})"}]}
    )
    assert missing.status_code == 400
    assert "participationtypemask" in error_of(missing)["message"]
    assert _parties(api, email) == [(contact, "contact", 2)]


def test_a_party_of_an_unsupported_table_is_refused(api: Api) -> None:
    opportunity = api.create(
        "opportunities",
        {
            "name": "Deal",
            "customerid_account@odata.bind": (
                f"/accounts({api.create('accounts', {'name': 'Customer'})})"
            ),
        },
    )
    email = api.create("emails", {"subject": "Nobody"})
    nav = f"emails({email})/email_activity_parties"
    unsupported = api.put(
        nav,
        json={
            "value": [
                {
                    "partyid_opportunity@odata.bind": f"/opportunities({opportunity})",
                    "participationtypemask": 2,
                }
            ]
        },
    )
    assert unsupported.status_code == 400
    error = error_of(unsupported)
    assert error["code"] == "0x80048d19" and "partyid_opportunity" in error["message"]
    mismatched = api.put(
        nav,
        json={
            "value": [
                {
                    "partyid_contact@odata.bind": f"/opportunities({opportunity})",
                    "participationtypemask": 2,
                }
            ]
        },
    )
    assert mismatched.status_code == 400 and "contact" in error_of(mismatched)["message"]
    deep = api.post(
        "emails",
        json={
            "subject": "Deep and wrong",
            "email_activity_parties": [
                {"partyid_opportunity@odata.bind": f"/opportunities({opportunity})"}
            ],
        },
    )
    assert deep.status_code == 400
    assert [r["subject"] for r in api.fake.rows("email")] == ["Nobody"]
    assert api.fake.rows("activityparty") == []


def test_body_errors_and_other_methods(api: Api) -> None:
    email = api.create("emails", {"subject": "Shapes"})
    nav = f"emails({email})/email_activity_parties"
    no_value = api.put(nav, json={"partyid_contact@odata.bind": "/contacts(x)"})
    assert no_value.status_code == 400 and '"value"' in error_of(no_value)["message"]
    not_object = api.put(nav, json={"value": ["contacts(x)"]})
    assert not_object.status_code == 400 and "Item 0" in error_of(not_object)["message"]
    assert api.post(nav, json={"participationtypemask": 1}).status_code == 405
    gone = api.put(
        "emails(00000000-0000-0000-0000-0000000000ee)/email_activity_parties", json={"value": []}
    )
    assert gone.status_code == 404


def test_email_state_model(api: Api) -> None:
    email = api.create("emails", {"subject": "Done"})
    sent = api.patch(f"emails({email})", json={"statecode": 1, "statuscode": 3})
    assert sent.status_code == 204, sent.text
    assert api.fake.get("email", email)["statuscode"] == 3
    wrong = api.patch(f"emails({email})", json={"statecode": 2, "statuscode": 3})
    assert wrong.status_code == 400
    canceled = api.patch(f"emails({email})", json={"statecode": 2})
    assert canceled.status_code == 204
    assert api.fake.get("email", email)["statuscode"] == 5


def test_deleting_an_email_deletes_its_parties_only(api: Api) -> None:
    contact = api.create("contacts", {"lastname": "Stays"})
    party = {"partyid_contact@odata.bind": f"/contacts({contact})", "participationtypemask": 2}
    gone = api.create("emails", {"subject": "Gone", "email_activity_parties": [party]})
    kept = api.create("emails", {"subject": "Kept", "email_activity_parties": [party]})
    assert api.delete(f"emails({gone})").status_code == 204
    assert _parties(api, gone) == []
    assert _parties(api, kept) == [(contact, "contact", 2)]
    assert api.fake.get("contact", contact) is not None
    assert api.delete(f"contacts({contact})").status_code == 204
    assert _parties(api, kept) == [(contact, "contact", 2)]  # a party is not the activity


@pytest.fixture(params=["inprocess", "server"])
def lenient(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request, FakeOptions(require_participation_type=False))


def _roleless(target: Api) -> tuple[int, int, str]:
    contact = target.create("contacts", {"lastname": "Roleless"})
    party = {"partyid_contact@odata.bind": f"/contacts({contact})"}
    deep = target.post("emails", json={"subject": "S", "email_activity_parties": [party]})
    email = target.create("emails", {"subject": "Put"})
    put = target.put(f"emails({email})/email_activity_parties", json={"value": [party]})
    return deep.status_code, put.status_code, deep.text


def test_a_party_without_its_role_is_refused_by_default(api: Api) -> None:
    deep, put, text = _roleless(api)
    assert (deep, put) == (400, 400) and "participationtypemask" in text
    assert api.fake.rows("activityparty") == []


def test_a_party_without_its_role_is_kept_when_the_switch_is_off(lenient: Api) -> None:
    deep, put, text = _roleless(lenient)
    assert (deep, put) == (204, 204), text
    assert len(lenient.fake.rows("activityparty")) == 2
