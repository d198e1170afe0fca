"""No secret (client secret, access token, Authorization header) reaches logs, errors or reprs."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from d365leads import BadRequestError, DataverseClient, Settings, UnauthorizedError
from d365leads.http import Request

from .conftest import API, ORG

TENANT = "tenant-x"
SECRET = "Sup3r~Secret.Value_123"
LOGIN = f"https://login.microsoftonline.com/{TENANT}"


def login_stub(rsps: responses.RequestsMock) -> list[str]:
    issued: list[str] = []
    doc = {
        "token_endpoint": f"{LOGIN}/oauth2/v2.0/token",
        "authorization_endpoint": f"{LOGIN}/oauth2/v2.0/authorize",
        "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
    }
    rsps.add("GET", f"{LOGIN}/v2.0/.well-known/openid-configuration", json=doc)

    def token(request: Any) -> tuple[int, dict[str, str], str]:
        form = parse_qs(request.body)
        assert form["client_secret"] == [SECRET]
        issued.append(f"eyJ0eXAiOiJKV1QifQ.eyJ{len(issued)}aXNzIjoiYSJ9.c2lnbmF0dXJl")
        body = {"token_type": "Bearer", "expires_in": 3599, "access_token": issued[-1]}
        return 200, {}, json.dumps(body)

    rsps.add_callback("POST", f"{LOGIN}/oauth2/v2.0/token", callback=token)
    return issued


def test_no_secret_in_logs_errors_or_reprs(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    issued = login_stub(rsps)
    expired = {"error": {"code": "0x80090001", "message": "ExpiredAuthTicket"}}
    rsps.add("GET", API + "WhoAmI", status=401, json=expired)
    rsps.add("GET", API + "WhoAmI", json={}, headers={"x-ms-dop-hint": "4"})
    rsps.add("GET", API + "leads", status=401, json=expired)
    rsps.add("GET", API + "leads", status=401, json=expired)
    echo = {"error": {"code": "0x80044331", "message": "bad value"}}
    rsps.add("POST", API + "leads", status=400, json=echo)

    env = {
        "D365_URL": ORG,
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": "app-id",
        "AZURE_CLIENT_SECRET": SECRET,
    }
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        client = DataverseClient.from_env(env, sleep=lambda s: None)
        client.session.get_json("WhoAmI")
        with pytest.raises(UnauthorizedError) as unauthorized:
            client.session.get_json("leads")
        with pytest.raises(BadRequestError) as bad:
            client.records.create("leads", {"subject": "x"})
        texts += [str(unauthorized.value), repr(unauthorized.value), str(bad.value)]
        request = Request("GET", API, {"Authorization": f"Bearer {issued[0]}"})
        logging.getLogger("d365leads.http").debug("sent %r with Bearer %s", request, issued[-1])
    assert len(issued) == 3  # first token, refresh after 401 on WhoAmI, refresh after 401 on leads
    api_auth = [
        c.request.headers["Authorization"] for c in rsps.calls if c.request.url.startswith(API)
    ]
    assert api_auth == [f"Bearer {issued[i]}" for i in (0, 1, 1, 2, 2)]
    texts += [
        caplog.text,
        repr(client),
        repr(client.settings),
        str(client.settings),
        repr(client.session),
        repr(client.session.transport),
        repr(client.records),
        repr(client._token_provider),
        repr(client._token_provider.get_token()),
        repr(Settings.from_env(env)),
    ]
    blob = "\n".join(texts)
    assert "d365leads.http" in caplog.text  # the requests were logged at all
    for secret in [SECRET, *issued]:
        assert secret not in blob
    assert "Bearer ey" not in blob
