"""Token providers. MSAL runs for real against a stubbed login host (``responses``)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from d365leads import (
    AuthError,
    CertificateTokenProvider,
    ClientSecretTokenProvider,
    ConfigError,
    CredentialTokenProvider,
    DeviceCodeTokenProvider,
    Settings,
    StaticTokenProvider,
    TokenProvider,
)
from d365leads.auth import DEFAULT_PUBLIC_CLIENT_ID, load_certificate, token_provider_from_settings

ORG = "https://contoso.crm.dynamics.com"
SCOPE = ORG + "/.default"
SECRET = "cl1ent-s3cret-VALUE"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class LoginStub:
    """Answers OpenID discovery, device-code and token requests for one tenant."""

    def __init__(self, rsps: responses.RequestsMock, tenant: str, *, expires_in: int = 3599):
        self.tenant = tenant
        self.expires_in = expires_in
        self.token_requests: list[dict[str, list[str]]] = []
        self.device_requests = 0
        self.fail_with: dict[str, str] | None = None
        base = f"https://login.microsoftonline.com/{tenant}"
        rsps.add_callback("GET", f"{base}/v2.0/.well-known/openid-configuration", self._oidc)
        rsps.add_callback("POST", f"{base}/oauth2/v2.0/token", self._token)
        rsps.add_callback("POST", f"{base}/oauth2/v2.0/devicecode", self._device)

    def _oidc(self, request: Any) -> tuple[int, dict[str, str], str]:
        base = f"https://login.microsoftonline.com/{self.tenant}"
        doc = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
        }
        return 200, {}, json.dumps(doc)

    def _device(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.device_requests += 1
        flow = {
            "device_code": "DEVICE-CODE",
            "user_code": "ABCD-EFGH",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900,
            "interval": 0,
            "message": "To sign in, open https://microsoft.com/devicelogin and enter ABCD-EFGH",
        }
        return 200, {}, json.dumps(flow)

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
        self.token_requests.append(form)
        if self.fail_with:
            return 401, {}, json.dumps(self.fail_with)
        n = len(self.token_requests)
        result: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "access_token": f"access-token-{n}",
        }
        if form.get("grant_type", [""])[0] != "client_credentials":
            claims = {
                "iss": "https://login.microsoftonline.com/tid/v2.0",
                "aud": DEFAULT_PUBLIC_CLIENT_ID,
                "oid": "uid",
                "tid": "tid",
                "sub": "sub",
                "preferred_username": "ana@contoso.com",
                "iat": 1,
                "exp": 9999999999,
            }
            result.update(
                refresh_token=f"refresh-token-{n}",
                id_token=_b64({"alg": "none"}) + "." + _b64(claims) + ".",
                client_info=_b64({"uid": "uid", "utid": "tid"}),
                scope=SCOPE,
            )
        return 200, {}, json.dumps(result)


@pytest.fixture
def rsps() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_static_provider() -> None:
    provider = StaticTokenProvider("Bearer abc.def")
    assert provider.get_token().token == "abc.def"
    assert provider.get_token(force_refresh=True).token == "abc.def"
    assert "abc" not in repr(provider) and "abc" not in repr(provider.get_token())
    assert isinstance(provider, TokenProvider)
    with pytest.raises(ConfigError, match="D365_ACCESS_TOKEN"):
        StaticTokenProvider("  ")


def test_client_secret_provider_caches_and_force_refreshes(rsps: Any) -> None:
    stub = LoginStub(rsps, "tenant-1")
    provider = ClientSecretTokenProvider(
        ORG, tenant_id="tenant-1", client_id="app-id", client_secret=SECRET
    )
    assert len(rsps.calls) == 0  # nothing is sent until a token is needed
    first = provider.get_token()
    assert first.token == "access-token-1"
    assert provider.get_token().token == "access-token-1"
    assert len(stub.token_requests) == 1
    form = stub.token_requests[0]
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == [SCOPE]
    assert form["client_id"] == ["app-id"]
    assert form["client_secret"] == [SECRET]
    assert provider.get_token(force_refresh=True).token == "access-token-2"
    assert len(stub.token_requests) == 2
    assert SECRET not in repr(provider) and SECRET not in str(vars(provider))


def test_token_near_expiry_is_refreshed_before_use(rsps: Any) -> None:
    stub = LoginStub(rsps, "tenant-1", expires_in=200)  # inside the 5-minute margin
    provider = ClientSecretTokenProvider(
        ORG, tenant_id="tenant-1", client_id="app-id", client_secret=SECRET
    )
    assert provider.get_token().token == "access-token-1"
    assert provider.get_token().token == "access-token-2"
    assert len(stub.token_requests) == 2


def test_token_endpoint_error_becomes_auth_error_without_the_secret(rsps: Any) -> None:
    stub = LoginStub(rsps, "tenant-1")
    stub.fail_with = {
        "error": "invalid_client",
        "error_description": f"AADSTS7000215: Invalid client secret provided ({SECRET}).\nTrace",
    }
    provider = ClientSecretTokenProvider(
        ORG, tenant_id="tenant-1", client_id="app-id", client_secret=SECRET
    )
    with pytest.raises(AuthError, match="invalid_client") as info:
        provider.get_token()
    assert "AADSTS7000215" in str(info.value)
    assert SECRET not in str(info.value)


def test_unreachable_authority_is_an_auth_error(rsps: Any) -> None:
    provider = ClientSecretTokenProvider(
        ORG, tenant_id="unknown-tenant", client_id="app-id", client_secret=SECRET
    )
    with pytest.raises(AuthError, match="unknown-tenant"):
        provider.get_token()


def _write_cert(path: Path, *, with_key: bool = True) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d365leads-test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if with_key:
        pem = (
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            + pem
        )
    path.write_bytes(pem)
    return cert.public_bytes(serialization.Encoding.DER)


def test_certificate_provider_signs_an_assertion_with_the_thumbprint(
    rsps: Any, tmp_path: Path
) -> None:
    der = _write_cert(tmp_path / "app.pem")
    expected = hashlib.sha1(der).hexdigest().upper()
    stub = LoginStub(rsps, "tenant-2")
    provider = CertificateTokenProvider(
        ORG, tenant_id="tenant-2", client_id="app-id", certificate_path=tmp_path / "app.pem"
    )
    assert provider.thumbprint == expected
    assert provider.get_token().token == "access-token-1"
    form = stub.token_requests[0]
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    header = json.loads(base64.urlsafe_b64decode(form["client_assertion"][0].split(".")[0] + "=="))
    x5t = base64.urlsafe_b64encode(bytes.fromhex(expected)).decode().rstrip("=")
    assert header["x5t"].rstrip("=") == x5t
    assert "PRIVATE" not in repr(provider)


def test_certificate_password_never_reaches_error_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_cert(tmp_path / "app.pem")
    password = "cert-pass-7f3a9c2e"
    provider = CertificateTokenProvider(
        ORG,
        tenant_id="tenant-2",
        client_id="app-id",
        certificate_path=tmp_path / "app.pem",
        password=password,
    )

    def fail(*, force_refresh: bool) -> Any:
        raise RuntimeError(f"could not decrypt the key with passphrase {password}")

    monkeypatch.setattr(provider, "_acquire", fail)
    with pytest.raises(AuthError) as info:
        provider.get_token()
    assert "could not decrypt" in str(info.value)
    assert password not in str(info.value)
    assert password not in repr(provider)


def test_certificate_file_problems_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found") as info:
        load_certificate(tmp_path / "missing.pem")
    assert info.value.setting == "AZURE_CLIENT_CERTIFICATE_PATH"
    _write_cert(tmp_path / "nokey.pem", with_key=False)
    with pytest.raises(ConfigError, match="no PEM private key"):
        load_certificate(tmp_path / "nokey.pem")


def test_device_code_signs_in_once_and_keeps_a_private_cache(rsps: Any, tmp_path: Path) -> None:
    stub = LoginStub(rsps, "organizations")
    cache = tmp_path / "dir" / "cache.json"
    prompts: list[str] = []
    provider = DeviceCodeTokenProvider(ORG, cache_path=cache, prompt=prompts.append)
    assert provider.get_token().token == "access-token-1"
    assert prompts == ["To sign in, open https://microsoft.com/devicelogin and enter ABCD-EFGH"]
    assert stub.token_requests[0]["client_id"] == [DEFAULT_PUBLIC_CLIENT_ID]
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600

    again = DeviceCodeTokenProvider(ORG, cache_path=cache, prompt=prompts.append)
    assert again.get_token().token == "access-token-1"
    assert stub.device_requests == 1 and len(prompts) == 1  # no second sign-in

    refreshed = again.get_token(force_refresh=True)
    assert refreshed.token == "access-token-2"
    assert stub.token_requests[-1]["grant_type"] == ["refresh_token"]
    assert stub.device_requests == 1
    assert "refresh-token-2" in cache.read_text()


def test_credential_adapter() -> None:
    class Credential:
        def __init__(self) -> None:
            self.scopes: list[str] = []

        def get_token(self, *scopes: str) -> Any:
            self.scopes.extend(scopes)
            return type("Tok", (), {"token": f"cred-{len(self.scopes)}", "expires_on": 9e9})()

    cred = Credential()
    provider = CredentialTokenProvider(cred, ORG)
    assert provider.get_token().token == "cred-1"
    assert provider.get_token().token == "cred-1"
    assert provider.get_token(force_refresh=True).token == "cred-2"
    assert cred.scopes == [SCOPE, SCOPE]
    with pytest.raises(ConfigError):
        CredentialTokenProvider(object(), ORG)


def test_provider_from_settings(tmp_path: Path) -> None:
    def settings(**env: str) -> Settings:
        return Settings.from_env({"D365_URL": ORG, **env})

    assert isinstance(
        token_provider_from_settings(settings(D365_ACCESS_TOKEN="t")), StaticTokenProvider
    )
    secret = token_provider_from_settings(
        settings(AZURE_TENANT_ID="t", AZURE_CLIENT_ID="c", AZURE_CLIENT_SECRET=SECRET)
    )
    assert isinstance(secret, ClientSecretTokenProvider)
    device = token_provider_from_settings(
        settings(D365_AUTH="device-code", D365_TOKEN_CACHE=str(tmp_path / "c.json"))
    )
    assert isinstance(device, DeviceCodeTokenProvider)
    assert device.cache_path == tmp_path / "c.json"
    with pytest.raises(ConfigError, match="AZURE_TENANT_ID is not set") as info:
        token_provider_from_settings(settings(AZURE_CLIENT_SECRET=SECRET))
    assert info.value.setting == "AZURE_TENANT_ID"
    with pytest.raises(ConfigError, match="no credentials configured"):
        token_provider_from_settings(settings())
    with pytest.raises(ConfigError, match="AZURE_CLIENT_CERTIFICATE_PATH"):
        token_provider_from_settings(
            settings(D365_AUTH="certificate", AZURE_TENANT_ID="t", AZURE_CLIENT_ID="c")
        )
    with pytest.raises(ConfigError, match="D365_ACCESS_TOKEN"):
        token_provider_from_settings(settings(D365_AUTH="static"))
    assert re.search("sample", DEFAULT_PUBLIC_CLIENT_ID) is None


def test_device_code_scope_can_be_overridden(rsps: Any, tmp_path: Path) -> None:
    stub = LoginStub(rsps, "organizations")
    provider = DeviceCodeTokenProvider(
        ORG,
        cache_path=tmp_path / "c.json",
        prompt=lambda message: None,
        scope=ORG + "/user_impersonation",
    )
    provider.get_token()
    assert stub.device_requests == 1
    device = next(c.request for c in rsps.calls if c.request.url.endswith("/devicecode"))
    scopes = parse_qs(device.body)["scope"][0].split()
    assert ORG + "/user_impersonation" in scopes and SCOPE not in scopes
