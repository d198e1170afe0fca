"""Install a fake in-process with ``responses``: the org host and the Microsoft login host.

Every HTTP method on ``<org_url>/…`` goes to the fake's handler; ``https://login.microsoftonline.com/``
answers what MSAL needs so the real MSAL code path runs offline:

* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (tenant discovery);
* ``GET /common/discovery/instance`` (instance metadata MSAL reads for cache aliases;
  ``login.microsoftonline.com`` is a well-known host, so authority validation needs no
  ``instance_discovery=False``);
* ``POST /{tenant}/oauth2/v2.0/token`` (client id in the form, ``client_secret_post``, or in
  ``Authorization: Basic``, ``client_secret_basic``, as the discovery document advertises) for
  client credentials, device code and refresh-token
  grants -> ``{"token_type": "Bearer", "expires_in": 3599, "access_token": …}`` (plus an
  unsigned ``id_token`` and ``client_info`` for user flows); issued tokens are accepted under
  ``strict_auth``;
* ``POST /{tenant}/oauth2/v2.0/devicecode`` (device-code flow, approved at once).

Login traffic is not journaled (the journal is for Web API assertions).  Transport faults
become ``requests`` exceptions: ``timeout`` -> ``ReadTimeout``, ``reset`` -> ``ConnectionError``,
``truncate`` -> ``ChunkedEncodingError``; a ``delay`` longer than the request's read timeout is a
``ReadTimeout`` (no waiting), shorter ones only sleep (through the fake's injected ``sleep``)
when ``options.sleep_in_process`` is set.

``responses`` is imported inside the functions: the rest of the fake works without it.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote_plus, urlsplit

from ..core.options import FakeOptions
from ..wire.messages import FakeRequest, FakeResponse

__all__ = [
    "LOGIN_HOST",
    "MockTarget",
    "install",
    "is_login_path",
    "login_response",
    "mock",
    "to_fake_request",
]


class MockTarget(Protocol):
    """What the adapter needs of a fake: its handler, org URL, identity, tokens and sleep."""

    org_url: str
    options: FakeOptions

    @property
    def accepted_tokens(self) -> set[str]:
        """Bearer tokens accepted under ``strict_auth`` (the fake login adds the ones it issues)."""
        ...

    @property
    def caller_id(self) -> str:
        """The systemuser the fake login issues tokens for."""
        ...

    @property
    def organization_id(self) -> str:
        """The tenant id of tokens issued for a tenant name."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (injected; tests never wait)."""
        ...

    def __call__(self, request: FakeRequest) -> FakeResponse:
        """Handle one Web API request."""
        ...


LOGIN_HOST = "https://login.microsoftonline.com"
_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS")
_OPENID_RE = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
_TOKEN_RE = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
_DEVICE_RE = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/devicecode$")


def _b64url(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _json(status: int, payload: Any) -> FakeResponse:
    return FakeResponse(
        status,
        {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"},
        json.dumps(payload).encode("utf-8"),
    )


def _oauth_error(error: str, description: str, status: int = 400) -> FakeResponse:
    return _json(status, {"error": error, "error_description": description})


def _openid_configuration(root: str, tenant: str) -> dict[str, Any]:
    base = f"{root}/{tenant}"
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "issuer": f"{root}/{tenant}/v2.0",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
    }


def _basic_client_id(request: FakeRequest) -> str | FakeResponse | None:
    """The client id of ``Authorization: Basic`` (``client_secret_basic``, RFC 6749 2.3.1:
    form-encoded id and secret joined by ``:``), ``None`` without one, or the error answer."""
    header = request.header("Authorization") or ""
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        decoded = ""
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id or not secret:
        return _oauth_error(
            "invalid_client",
            "The Authorization header must carry Basic base64(client_id:"
            "client_secret) for client_secret_basic.",
            401,
        )
    return unquote_plus(client_id)


def _token(
    fake: MockTarget, tenant: str, form: dict[str, list[str]], request: FakeRequest
) -> FakeResponse:
    grant = (form.get("grant_type") or [""])[0]
    client_id = (form.get("client_id") or [""])[0]
    basic = _basic_client_id(request)
    if isinstance(basic, FakeResponse):
        return basic
    if basic is not None:
        if client_id and client_id != basic:
            return _oauth_error(
                "invalid_request",
                "client_id in the body and in the Authorization header differ.",
            )
        client_id = basic
    scope = (form.get("scope") or [""])[0]
    known = (
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
        "password",
        "authorization_code",
    )
    if grant not in known:
        return _oauth_error("unsupported_grant_type", f"The fake login does not support {grant!r}.")
    if not client_id:
        return _oauth_error(
            "invalid_request", "AADSTS900144: The request body must contain client_id."
        )
    access_token = f"fake-at-{uuid.uuid4().hex}"
    fake.accepted_tokens.add(access_token)
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token,
    }
    if grant != "client_credentials":
        tenant_id = tenant if _is_guid(tenant) else fake.organization_id
        # Token lifetimes are checked by MSAL against the real clock, not the fake's.
        now = int(time.time())
        claims = {
            "aud": client_id,
            "iss": f"{LOGIN_HOST}/{tenant_id}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3599,
            "oid": fake.caller_id,
            "sub": fake.caller_id,
            "tid": tenant_id,
            "name": "Fake User",
            "preferred_username": "fake.user@example.com",
            "ver": "2.0",
        }
        body["id_token"] = f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(claims)}."
        body["client_info"] = _b64url({"uid": fake.caller_id, "utid": tenant_id})
        body["refresh_token"] = f"fake-rt-{uuid.uuid4().hex}"
        body["scope"] = scope or "openid profile offline_access"
    return _json(200, body)


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def is_login_path(path: str) -> bool:
    """True when ``path`` is one of the login host's endpoints (see the module docstring)."""
    return path == "/common/discovery/instance" or any(
        pattern.match(path) for pattern in (_OPENID_RE, _TOKEN_RE, _DEVICE_RE)
    )


def login_response(fake: MockTarget, request: FakeRequest) -> FakeResponse:
    """Answer one request to ``login.microsoftonline.com`` (see the module docstring)."""
    parts = urlsplit(request.url)
    path = parts.path
    # Links point back at the host that was asked (the login host, or the fake's own server).
    root = f"{parts.scheme}://{parts.netloc}"
    if request.method == "GET":
        match = _OPENID_RE.match(path)
        if match:
            return _json(200, _openid_configuration(root, match.group("tenant")))
        if path == "/common/discovery/instance":
            tenant_discovery = f"{root}/common/v2.0/.well-known/openid-configuration"
            return _json(
                200,
                {
                    "tenant_discovery_endpoint": tenant_discovery,
                    "api-version": "1.1",
                    "metadata": [
                        {
                            "preferred_network": "login.microsoftonline.com",
                            "preferred_cache": "login.windows.net",
                            "aliases": [
                                "login.microsoftonline.com",
                                "login.windows.net",
                                "login.microsoft.com",
                                "sts.windows.net",
                            ],
                        }
                    ],
                },
            )
    if request.method == "POST":
        form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        match = _TOKEN_RE.match(path)
        if match:
            return _token(fake, match.group("tenant"), form, request)
        match = _DEVICE_RE.match(path)
        if match:
            return _json(
                200,
                {
                    "device_code": f"fake-device-{uuid.uuid4().hex}",
                    "user_code": "FAKE1234",
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": 900,
                    "interval": 1,
                    "message": "To sign in to the fake, nothing is needed: it approves at once.",
                },
            )
    return _json(
        404,
        {
            "error": "not_found",
            "error_description": f"The fake login host does not implement {request.method} {path}.",
        },
    )


def to_fake_request(prepared: Any) -> FakeRequest:
    """Convert a ``requests.PreparedRequest`` (as ``responses`` passes it) to a FakeRequest."""
    body = prepared.body
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = b"".join(
            chunk if isinstance(chunk, bytes) else str(chunk).encode() for chunk in body
        )
    timeout = getattr(prepared, "req_kwargs", {}).get("timeout")
    if isinstance(timeout, tuple):
        timeout = timeout[1]
    return FakeRequest(
        str(prepared.method),
        str(prepared.url),
        dict(prepared.headers),
        data,
        float(timeout) if timeout is not None else None,
    )


def _deliver(fake: MockTarget, request: FakeRequest, response: FakeResponse) -> Any:
    import requests

    fault = response.fault
    if fault is not None:
        if fault.kind == "timeout":
            return requests.exceptions.ReadTimeout(
                f"The fake did not answer {request.method} {request.url} (scripted timeout)"
            )
        if fault.kind == "reset":
            return requests.exceptions.ConnectionError(
                ConnectionResetError(104, "Connection reset by peer (scripted by the fake)")
            )
        if fault.kind == "truncate":
            return requests.exceptions.ChunkedEncodingError(
                f"Connection broken: IncompleteRead({len(response.body) // 2} bytes read, "
                f"{len(response.body) - len(response.body) // 2} more expected)"
            )
        if fault.kind == "delay":
            if request.timeout is not None and fault.seconds >= request.timeout:
                return requests.exceptions.ReadTimeout(
                    f"The fake answered {request.method} {request.url} after "
                    f"{fault.seconds}s, beyond the read timeout of {request.timeout}s"
                )
            if fake.options.sleep_in_process:
                fake.sleep(fault.seconds)
    headers = dict(response.headers)
    headers.pop("Content-Length", None)
    return (response.status, headers, response.body)


def install(fake: MockTarget, rsps: Any) -> None:
    """Register the fake's callbacks on a ``responses.RequestsMock``."""
    org = re.compile(rf"^{re.escape(fake.org_url)}(?=[/?]|$)", re.IGNORECASE)
    login = re.compile(rf"^{re.escape(LOGIN_HOST)}/", re.IGNORECASE)

    def org_callback(prepared: Any) -> Any:
        request = to_fake_request(prepared)
        return _deliver(fake, request, fake(request))

    def login_callback(prepared: Any) -> Any:
        request = to_fake_request(prepared)
        return _deliver(fake, request, login_response(fake, request))

    for method in _METHODS:
        rsps.add_callback(method, org, callback=org_callback, content_type=None)
        rsps.add_callback(method, login, callback=login_callback, content_type=None)


@contextmanager
def mock(fake: MockTarget, rsps: Any = None) -> Iterator[Any]:
    """Context manager: intercept ``requests`` traffic for the fake's org and the login host.

    Requests to any other host fail with ``requests.exceptions.ConnectionError`` (leak guard).
    Pass an active ``responses.RequestsMock`` as ``rsps`` to add the fake to it instead.
    """
    import responses

    if rsps is not None:
        install(fake, rsps)
        yield rsps
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as own:
        install(fake, own)
        yield own
