"""Unit tests for cassette redaction, matching and the secret scanner."""

from __future__ import annotations

import json

import pytest

from d365leads.cassette import (
    Cassette,
    CassetteFormatError,
    Interaction,
    Matcher,
    NoMatchError,
    Redactor,
    scan_paths,
    scan_text,
)

ORG = "https://contoso.crm4.dynamics.com"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2NvbnRvc28ifQ.c2lnbmF0dXJlLXBhcnQ"


def _lead_exchange(r: Redactor) -> Interaction:
    return r.interaction(
        "POST",
        f"{ORG}/api/data/v9.2/leads?$select=fullname",
        {
            "Authorization": f"Bearer {JWT}",
            "Content-Type": "application/json",
            "Prefer": "return=representation",
            "Cookie": "ARRAffinity=abc123",
            "client-request-id": "7f7f7f7f-0000-0000-0000-000000000000",
        },
        json.dumps(
            {
                "subject": "Fleet renewal",
                "firstname": "Ana",
                "lastname": "Lee",
                "emailaddress1": "ana.lee@contoso.com",
                "telephone1": "+44 20 7946 0321",
                "parentaccountid@odata.bind": "/accounts(11111111-1111-1111-1111-111111111111)",
            }
        ).encode(),
        201,
        {
            "Content-Type": "application/json; odata.metadata=minimal",
            "Set-Cookie": "ReqClientId=secret-cookie",
            "x-ms-service-request-id": "abc",
            "OData-Version": "4.0",
        },
        json.dumps(
            {
                "@odata.context": f"{ORG}/api/data/v9.2/$metadata#leads/$entity",
                "leadid": "22222222-2222-2222-2222-222222222222",
                "fullname": "Ana Lee",
                "_ownerid_value": "33333333-3333-3333-3333-333333333333",
            }
        ).encode(),
    )


def test_redaction_removes_secrets_host_and_personal_data() -> None:
    r = Redactor(ORG)
    interaction = _lead_exchange(r)
    text = json.dumps(interaction.to_json())
    assert JWT not in text and "Bearer" not in text
    assert "ARRAffinity" not in text and "secret-cookie" not in text
    assert "contoso.crm4" not in text
    assert "ana.lee@contoso.com" not in text and "7946" not in text
    assert '"Ana"' not in text and "Ana Lee" not in text
    assert interaction.request.headers == {
        "content-type": "application/json",
        "prefer": "return=representation",
    }
    body = interaction.response.body
    assert body["@odata.context"].startswith("https://fake-org.crm.dynamics.com/")
    # The record's own id is kept (replay needs it), the owner identity is mapped.
    assert body["leadid"] == "22222222-2222-2222-2222-222222222222"
    assert body["_ownerid_value"] == "00000000-0000-4000-8000-000000000001"
    assert scan_text(text) == []


def test_pseudonyms_are_consistent_and_symmetric_for_matching() -> None:
    first = Redactor(ORG)
    second = Redactor(ORG)
    a = first.request(
        "GET", f"{ORG}/api/data/v9.2/leads?$filter=emailaddress1 eq 'x@corp.io'", {}, None
    )
    b = second.request(
        "GET", f"{ORG}/api/data/v9.2/leads?$filter=emailaddress1 eq 'x@corp.io'", {}, None
    )
    assert a == b
    assert "x@corp.io" not in a.query[0][1]
    assert first.pseudonym("firstname", "Ana") == second.pseudonym("firstname", "Ana")
    assert first.pseudonym("firstname", "Ana") != first.pseudonym("firstname", "Bo")


def test_synthetic_values_are_kept() -> None:
    r = Redactor(ORG)
    req = r.request(
        "POST",
        f"{ORG}/api/data/v9.2/leads",
        {"Content-Type": "application/json"},
        b'{"emailaddress1": "ana@example.com", "telephone1": "555-0142"}',
    )
    assert req.body == {"emailaddress1": "ana@example.com", "telephone1": "555-0142"}


def test_etags_versions_and_dates_are_not_mistaken_for_phones() -> None:
    r = Redactor(ORG)
    resp = r.response(
        200,
        {"Content-Type": "application/json"},
        json.dumps(
            {
                "@odata.etag": 'W/"12345678"',
                "createdon": "2024-05-01T10:00:00Z",
                "versionnumber": "9876543",
            }
        ).encode(),
    )
    assert resp.body["@odata.etag"] == 'W/"12345678"'
    assert resp.body["createdon"] == "2024-05-01T10:00:00Z"
    assert resp.body["versionnumber"] == "9876543"


def test_batch_boundaries_are_normalised() -> None:
    r = Redactor(ORG)
    body = (
        "--batch_8f2a1c\r\nContent-Type: application/http\r\n\r\n"
        "PATCH /api/data/v9.2/leads(22222222-2222-2222-2222-222222222222) HTTP/1.1\r\n"
        "Content-Type: application/json\r\n\r\n"
        '{"statecode": 0, "emailaddress1": "bo@corp.io"}\r\n--batch_8f2a1c--\r\n'
    )
    req = r.request(
        "POST",
        f"{ORG}/api/data/v9.2/$batch",
        {"Content-Type": 'multipart/mixed; boundary="batch_8f2a1c"'},
        body.encode(),
    )
    assert req.headers["content-type"] == 'multipart/mixed; boundary="batch_1"'
    assert "batch_8f2a1c" not in req.body and "--batch_1--" in req.body
    assert "bo@corp.io" not in req.body


def test_matcher_play_once_in_order_and_near_miss_message() -> None:
    r = Redactor(ORG)
    one = r.interaction(
        "GET",
        f"{ORG}/api/data/v9.2/leads?$top=1",
        {},
        None,
        200,
        {"Content-Type": "application/json"},
        b'{"value": [1]}',
    )
    two = r.interaction(
        "GET",
        f"{ORG}/api/data/v9.2/leads?$top=1",
        {},
        None,
        200,
        {"Content-Type": "application/json"},
        b'{"value": [2]}',
    )
    matcher = Matcher([one, two])
    live = r.request("GET", f"{ORG}/api/data/v9.2/leads?$top=1", {}, None)
    assert matcher.find(live).response.body == {"value": [1]}
    assert matcher.find(live).response.body == {"value": [2]}
    with pytest.raises(NoMatchError, match="already replayed"):
        matcher.find(live)
    other = r.request("GET", f"{ORG}/api/data/v9.2/leads?$top=2", {}, None)
    with pytest.raises(NoMatchError) as info:
        Matcher([one]).find(other)
    assert "Closest recorded interaction #1" in str(info.value)
    assert "query $top: '2' != recorded '1'" in str(info.value)


def test_cassette_save_is_atomic_and_load_checks_format(tmp_path) -> None:
    r = Redactor(ORG)
    cassette = Cassette([_lead_exchange(r)], recorded_at="2026-11-26T00:00:00Z")
    path = tmp_path / "c.json"
    cassette.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]
    loaded = Cassette.load(path)
    assert loaded.interactions[0].to_json() == cassette.interactions[0].to_json()
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(CassetteFormatError, match="not a d365leads cassette"):
        Cassette.load(tmp_path / "bad.json")


def test_scanner_catches_planted_secrets(tmp_path) -> None:
    planted = {
        "format": "d365leads-cassette",
        "interactions": [
            {
                "request": {
                    "headers": {"Authorization": "Bearer abc.def"},
                    "path": "/api/data/v9.2/leads",
                    "body": {"client_secret": "s3cr3t-value-that-is-long", "note": JWT},
                },
                "response": {
                    "body": {
                        "emailaddress1": "real.person@contoso.com",
                        "telephone1": "+1 425 882 8080",
                    }
                },
            }
        ],
    }
    path = tmp_path / "leaky.json"
    path.write_text(json.dumps(planted))
    findings, count = scan_paths([tmp_path])
    rules = {f.rule for f in findings}
    assert count == 1
    assert "Authorization header present" in rules
    assert "secret-looking value under 'client_secret'" in rules
    assert "JSON Web Token" in rules
    assert "unredacted e-mail address" in rules
    assert "unredacted phone number" in rules
    # Findings never print the secret itself.
    assert all("s3cr3t-value-that-is-long" not in str(f) for f in findings)


def test_numeric_headers_are_not_mistaken_for_phone_numbers() -> None:
    r = Redactor(ORG)
    resp = r.response(
        200,
        {
            "x-ms-ratelimit-time-remaining-xrm-requests": "1199999.50",
            "x-ms-ratelimit-burst-remaining-xrm-requests": "5,999",
            "OData-EntityId": f"{ORG}/api/data/v9.2/contacts(emailaddress1='ana@corp.io')",
        },
        None,
    )
    assert resp.headers["x-ms-ratelimit-time-remaining-xrm-requests"] == "1199999.50"
    assert resp.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "5,999"
    # A URL header can carry an alternate key: personal data there is still pseudonymised.
    entity_id = resp.headers["odata-entityid"]
    assert "ana@corp.io" not in entity_id and entity_id.startswith(
        "https://fake-org.crm.dynamics.com/api/data/v9.2/contacts(emailaddress1='person-"
    )


def test_percent_encoded_emails_in_paging_cookies_are_redacted_and_scanned() -> None:
    cookie = "%253Cemailaddress1%2520last%253D%2522ana%252540corp.io%2522%2520%252F%253E"
    link = f"{ORG}/api/data/v9.2/leads?$skiptoken=%3Ccookie%20pagingcookie=%22{cookie}%22%20/%3E"
    assert {f.rule for f in scan_text(json.dumps({"@odata.nextLink": link}))} == {
        "real org host name",
        "unredacted e-mail address (percent-encoded)",
    }
    r = Redactor(ORG)
    body = json.dumps({"@odata.nextLink": link, "value": []}).encode()
    redacted = r.response(200, {"Content-Type": "application/json"}, body).body
    assert "corp.io" not in redacted["@odata.nextLink"]
    assert "person-" in redacted["@odata.nextLink"]
    assert scan_text(json.dumps(redacted)) == []
    # The client sends the redacted link back at replay time: it redacts to the same request.
    again = r.request("GET", redacted["@odata.nextLink"], {}, None)
    first = Redactor(ORG).request("GET", link, {}, None)
    assert again.query == first.query


def test_near_miss_names_the_differing_json_members_and_prefers_unused() -> None:
    r = Redactor(ORG)

    def create(subject: str) -> Interaction:
        return r.interaction(
            "POST",
            f"{ORG}/api/data/v9.2/leads",
            {"Content-Type": "application/json"},
            json.dumps({"subject": subject, "companyname": "Example Ltd"}).encode(),
            204,
            {},
            None,
        )

    matcher = Matcher([create("first"), create("second")])
    live = r.request(
        "POST",
        f"{ORG}/api/data/v9.2/leads",
        {"Content-Type": "application/json"},
        json.dumps({"subject": "first", "companyname": "Example Ltd"}).encode(),
    )
    matcher.find(live)  # consumes #1
    changed = r.request(
        "POST",
        f"{ORG}/api/data/v9.2/leads",
        {"Content-Type": "application/json"},
        json.dumps({"subject": "third", "companyname": "Example Ltd"}).encode(),
    )
    with pytest.raises(NoMatchError) as info:
        matcher.find(changed)
    message = str(info.value)
    assert "Closest recorded interaction #2: POST /api/data/v9.2/leads" in message
    assert "body subject: '\"third\"' != recorded '\"second\"'" in message
    assert "companyname" not in message
    with pytest.raises(NoMatchError, match=r"#1 \(already used\).*already replayed"):
        matcher.find(live)
    repeating = Matcher([create("first")], allow_repeats=True)
    assert repeating.find(live) is repeating.find(live)


def test_display_names_of_people_in_lookups_are_pseudonymised() -> None:
    r = Redactor(ORG)
    formatted = "@OData.Community.Display.V1.FormattedValue"
    table = "@Microsoft.Dynamics.CRM.lookuplogicalname"
    body = {
        "_ownerid_value": "33333333-3333-3333-3333-333333333333",
        f"_ownerid_value{formatted}": "Jane Recorder",
        f"_ownerid_value{table}": "systemuser",
        f"_customerid_value{formatted}": "Contoso Ltd",
        f"_customerid_value{table}": "account",
        f"_originatingleadid_value{formatted}": "Ada Lovelace",
        f"statecode{formatted}": "Open",
        f"fullname{formatted}": "Ada Lovelace",
    }
    out = r.response(200, {"Content-Type": "application/json"}, json.dumps(body).encode()).body
    assert "Jane Recorder" not in json.dumps(out) and "Lovelace" not in json.dumps(out)
    assert out[f"_ownerid_value{formatted}"] == r.pseudonym("fullname", "Jane Recorder")
    # The lead's display name and its own fullname get the same pseudonym.
    assert out[f"_originatingleadid_value{formatted}"] == r.pseudonym("fullname", "Ada Lovelace")
    assert out[f"_customerid_value{formatted}"] == "Contoso Ltd"  # a company, not a person
    assert out[f"statecode{formatted}"] == "Open"


def test_org_host_is_replaced_in_any_case_and_a_leaked_host_is_scanned() -> None:
    r = Redactor(ORG)
    resp = r.response(
        200,
        {"Content-Type": "application/json"},
        json.dumps(
            {"@odata.context": "https://CONTOSO.crm4.dynamics.com/api/data/v9.2/$metadata"}
        ).encode(),
    )
    assert resp.body["@odata.context"].startswith("https://fake-org.crm.dynamics.com/")
    leaked = json.dumps({"url": "https://fabrikam.crm.dynamics.com/api/data/v9.2/leads"})
    assert [f.rule for f in scan_text(leaked)] == ["real org host name"]
    assert scan_text(json.dumps({"url": "https://fake-org.crm.dynamics.com/x"})) == []
