"""The login host: ``client_secret_basic`` as well as ``client_secret_post``, in-process and on
the fake's own server (whose tokens it then accepts under ``strict_auth``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from d365leads.fake import FakeDataverse, FakeOptions

TENANT = "contoso.onmicrosoft.com"


@pytest.fixture(params=["in-process", "server"])
def login(request: pytest.FixtureRequest) -> Iterator[tuple[FakeDataverse, str, str]]:
    """``(fake, login root, org api root)`` with ``strict_auth`` on."""
    fake = FakeDataverse(options=FakeOptions(strict_auth=True), sleep=lambda s: None)
    if request.param == "in-process":
        with fake.mock():
            yield fake, "https://login.microsoftonline.com", fake.base_url
    else:
        with fake.serve() as server:
            yield fake, server.url, server.base_url


def token(root: str, **kwargs: object) -> requests.Response:
    data = {"grant_type": "client_credentials", "scope": "https://x/.default"}
    return requests.post(f"{root}/{TENANT}/oauth2/v2.0/token", timeout=5, **kwargs, data=data)


def whoami(api: str, access_token: str) -> int:
    headers = {"Authorization": f"Bearer {access_token}"}
    return requests.get(api + "WhoAmI", headers=headers, timeout=5).status_code


def test_discovery_advertises_both_methods(login: tuple[FakeDataverse, str, str]) -> None:
    _fake, root, _api = login
    url = f"{root}/{TENANT}/v2.0/.well-known/openid-configuration"
    document = requests.get(url, timeout=5).json()
    methods = document["token_endpoint_auth_methods_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(methods)
    # The endpoints it names are on the host that was asked, so a client can follow them.
    assert document["token_endpoint"] == f"{root}/{TENANT}/oauth2/v2.0/token"
    issued = requests.post(
        document["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=("app", "s"),
        timeout=5,
    )
    assert issued.status_code == 200, issued.text


def test_client_secret_basic_issues_an_accepted_token(
    login: tuple[FakeDataverse, str, str],
) -> None:
    _fake, root, api = login
    response = token(root, auth=("app id", "s3cret"))
    assert response.status_code == 200, response.text
    assert whoami(api, response.json()["access_token"]) == 200
    assert whoami(api, "made-up-token") == 401


def test_client_secret_post_still_works(login: tuple[FakeDataverse, str, str]) -> None:
    _fake, root, api = login
    data = {"client_id": "app", "client_secret": "s", "grant_type": "client_credentials"}
    response = requests.post(f"{root}/{TENANT}/oauth2/v2.0/token", data=data, timeout=5)
    assert response.status_code == 200, response.text
    assert whoami(api, response.json()["access_token"]) == 200


def test_no_client_id_anywhere_is_refused(login: tuple[FakeDataverse, str, str]) -> None:
    _fake, root, _api = login
    response = token(root)
    assert response.status_code == 400
    assert "AADSTS900144" in response.json()["error_description"]


def test_malformed_basic_header_is_refused(login: tuple[FakeDataverse, str, str]) -> None:
    _fake, root, _api = login
    response = token(root, headers={"Authorization": "Basic not-base64!"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "not-base64" not in response.text


def test_differing_client_ids_are_refused(login: tuple[FakeDataverse, str, str]) -> None:
    _fake, root, _api = login
    data = {"client_id": "other", "grant_type": "client_credentials"}
    url = f"{root}/{TENANT}/oauth2/v2.0/token"
    response = requests.post(url, data=data, auth=("app", "s"), timeout=5)
    assert response.status_code == 400
