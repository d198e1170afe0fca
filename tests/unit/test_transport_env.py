"""RequestsTransport honours proxy and CA-bundle variables, reading them once per origin."""

from __future__ import annotations

import pytest
import responses

from d365leads.http.transport import Request, RequestsTransport


def test_proxies_come_from_the_environment_and_no_proxy_bypasses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "bypass.crm.dynamics.com")
    transport = RequestsTransport()
    assert (
        transport.proxies_for("https://contoso.crm.dynamics.com/api/data/v9.2/WhoAmI")["https"]
        == "http://proxy.internal:3128"
    )
    assert transport.proxies_for("https://bypass.crm.dynamics.com/api/data/v9.2/WhoAmI") == {}


def test_the_environment_is_read_once_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    transport = RequestsTransport()
    url = "https://contoso.crm.dynamics.com/api/data/v9.2/WhoAmI"
    assert transport.proxies_for(url) == {} or "https" not in transport.proxies_for(url)
    monkeypatch.setenv("HTTPS_PROXY", "http://late.internal:3128")
    assert "late.internal" not in str(transport.proxies_for(url))
    assert "late.internal" in str(RequestsTransport().proxies_for(url))


def test_ca_bundle_variable_is_used_for_verification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp-ca.pem")
    transport = RequestsTransport()
    seen: list[object] = []
    with responses.RequestsMock() as rsps:
        rsps.add_callback(
            "GET",
            "https://contoso.crm.dynamics.com/api/data/v9.2/WhoAmI",
            callback=lambda request: seen.append(request.req_kwargs["verify"]) or (200, {}, b"{}"),
        )
        transport.send(
            Request("GET", "https://contoso.crm.dynamics.com/api/data/v9.2/WhoAmI", {}, None, 5)
        )
    assert seen == ["/etc/ssl/corp-ca.pem"]
