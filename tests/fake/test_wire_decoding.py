"""Query strings decoded as Dataverse does: ``+`` is a space, ``%2B`` a plus; no parameter
is ignored in silence.  Plain ``requests`` code through both adapters."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from _both_adapters import Target, target_for

from d365leads.fake.wire.messages import FakeRequest


@pytest.fixture(params=["fake_dataverse", "fake_dataverse_server"])
def target(request: pytest.FixtureRequest) -> Target:
    return target_for(request)


def seed(target: Target) -> None:
    target.fake.seed(
        "lead",
        [
            {"lastname": "Plus", "companyname": "A+B"},
            {"lastname": "Space", "companyname": "A B"},
            {"lastname": "Other", "companyname": "C D"},
        ],
    )


def names(response: object) -> list[str]:
    return sorted(r["lastname"] for r in response.json()["value"])  # type: ignore[attr-defined]


def test_params_send_spaces_as_plus_and_are_read_as_spaces(target: Target) -> None:
    seed(target)
    response = target.get(
        "leads", params={"$filter": "companyname eq 'A B'", "$select": "lastname,companyname"}
    )
    assert "companyname+eq+" in response.url
    assert response.status_code == 200, response.text
    assert names(response) == ["Space"]


def test_percent_2b_is_a_literal_plus(target: Target) -> None:
    seed(target)
    response = target.get("leads", params={"$filter": "companyname eq 'A+B'"})
    assert "%2B" in response.url
    assert names(response) == ["Plus"]


def test_parameter_aliases_are_decoded_too(target: Target) -> None:
    seed(target)
    response = target.get(
        "leads", params={"$filter": "companyname eq @p1", "@p1": "'A+B'", "$orderby": "lastname"}
    )
    assert response.status_code == 200, response.text
    assert names(response) == ["Plus"]


def test_next_link_keeps_a_plus_and_a_space_apart(target: Target) -> None:
    target.fake.seed("lead", [{"lastname": f"N{i}", "companyname": "A+B C"} for i in range(5)])
    target.fake.seed("lead", [{"lastname": "X", "companyname": "A B C"}])
    headers = {"Prefer": "odata.maxpagesize=2"}
    params = {"$filter": "companyname eq 'A+B C'", "$select": "lastname"}
    page = target.get("leads", params=params, headers=headers).json()
    seen = [r["lastname"] for r in page["value"]]
    while "@odata.nextLink" in page:
        page = target.get(page["@odata.nextLink"], headers=headers).json()
        seen += [r["lastname"] for r in page["value"]]
    assert sorted(seen) == [f"N{i}" for i in range(5)]


def test_batch_part_urls_decode_plus_as_space(target: Target) -> None:
    seed(target)
    body = (
        "--b1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "GET leads?$filter=companyname+eq+'A%2BB' HTTP/1.1\r\nAccept: application/json\r\n\r\n"
        "--b1--\r\n"
    )
    response = target.session.post(
        target.base_url + "$batch",
        data=body,
        headers={"Content-Type": "multipart/mixed; boundary=b1"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert '"lastname": "Plus"' in response.text
    assert '"lastname": "Space"' not in response.text


def test_plus_in_a_path_stays_literal() -> None:
    request = FakeRequest(
        "GET", "https://x.crm.dynamics.com/api/data/v9.2/accounts(name='A+B')?$filter=a+eq+1"
    )
    assert request.path == "accounts(name='A+B')"
    assert request.query == [("$filter", "a eq 1")]
    assert FakeRequest("GET", "https://x/api/data/v9.2/leads?a=" + quote("+", safe="")).query == [
        ("a", "+")
    ]


@pytest.mark.parametrize("name", ["$bogus", "utm_source"])
def test_unknown_parameters_are_refused_as_dataverse_does(target: Target, name: str) -> None:
    response = target.get("leads", params={name: "1"})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "0x0",
        "message": f"The query parameter {name} is not supported",
    }
    one = target.get("leads(00000000-0000-0000-0000-000000000001)", params={name: "1"})
    assert one.status_code == 400
    assert name in one.json()["error"]["message"]


def test_sql_answers_501_naming_it(target: Target) -> None:
    target.fake.seed("lead", [{"lastname": "A"}])
    response = target.get("leads", params={"sql": "SELECT lastname FROM lead"})
    assert response.status_code == 501
    assert "sql query parameter" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["WhoAmI", "leads(00000000-0000-0000-0000-000000000001)/subject"])
def test_stray_parameters_are_refused_on_every_resource(target: Target, path: str) -> None:
    response = target.get(path, params={"utm_source": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The query parameter utm_source is not supported"
    assert target.get(path.split("/")[0], params={"sql": "x"}).status_code == 501
