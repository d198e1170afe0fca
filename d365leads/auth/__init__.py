"""Access tokens for Dataverse: the :class:`TokenProvider` protocol and its implementations.

* :class:`StaticTokenProvider`: a token you already have (the local fake, or
  ``az account get-access-token``).
* :class:`ClientSecretTokenProvider` / :class:`CertificateTokenProvider`: an application user
  (MSAL confidential client, scope ``<org>/.default``).
* :class:`DeviceCodeTokenProvider`: a person signs in once with a device code (MSAL public
  client); the token cache lives in a per-user file created with ``0600`` permissions.
* :class:`CredentialTokenProvider`: adapts any object with ``get_token(scope)`` (for example an
  ``azure-identity`` credential) without importing ``azure-identity``.

MSAL keeps the tokens in its cache and refreshes them five minutes before they expire, so
tokens are not fetched per request. This module is the only importer of ``msal``
(``tests/test_layering.py`` pins it here), so the MSAL providers live in it; token types and
the MSAL-free providers are in :mod:`.tokens`, the PEM reading in :mod:`.certificate` and the
device-code cache file in :mod:`.token_cache`.

Every MSAL provider asks for ``<org>/.default`` unless ``scope=`` says otherwise. Microsoft's
docs name ``<org>/user_impersonation`` for public clients; ``.default`` works for them in
practice but that is not documented, so device-code users whose tenant refuses it can pass
``scope=<org>/user_impersonation``.
"""

from __future__ import annotations

import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from d365leads.auth.certificate import load_certificate
from d365leads.auth.token_cache import (
    default_token_cache_path,
    load_token_cache,
    save_token_cache,
)
from d365leads.auth.tokens import (
    REFRESH_MARGIN_S,
    AccessToken,
    CredentialTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    scope_for,
)
from d365leads.config import DEFAULT_AUTHORITY_HOST, Settings
from d365leads.errors import AuthError, ConfigError, DataverseError
from d365leads.redaction import Secret, redact_text

__all__ = [
    "DEFAULT_PUBLIC_CLIENT_ID",
    "AccessToken",
    "CertificateTokenProvider",
    "ClientSecretTokenProvider",
    "CredentialTokenProvider",
    "DeviceCodeTokenProvider",
    "StaticTokenProvider",
    "TokenProvider",
    "default_token_cache_path",
    "load_certificate",
    "scope_for",
    "token_provider_from_settings",
]

#: Microsoft's documented sample public client for Dataverse (override with AZURE_CLIENT_ID).
DEFAULT_PUBLIC_CLIENT_ID = "51f81489-12ee-4a9e-aaae-a2591f45987d"


class _MsalProvider(ABC):
    """Shared MSAL plumbing: one application (built on first use), its cache and a lock.

    Subclasses say how to build the MSAL application and how to ask it for a token.
    """

    def __init__(
        self, org_url: str, *, authority: str, timeout: float, scope: str | None = None
    ) -> None:
        self._scope = scope or scope_for(org_url)
        self._authority = authority
        self._timeout = timeout
        self._lock = threading.Lock()
        self._cached: AccessToken | None = None
        self._app_instance: Any = None

    @property
    def _app(self) -> Any:
        # Built lazily: creating the MSAL application already talks to the authority.
        if self._app_instance is None:
            self._app_instance = self._build_app()
        return self._app_instance

    @abstractmethod
    def _build_app(self) -> Any:
        """Create the MSAL application (called once, on first use)."""

    def _secrets(self) -> list[str]:
        """Secret values that must be scrubbed from any error text."""
        return []

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """Return a cached token, or ask MSAL (which refreshes before expiry)."""
        with self._lock:
            cached = self._cached
            if cached and not force_refresh and not cached.expires_within(REFRESH_MARGIN_S):
                return cached
            try:
                result = self._acquire(force_refresh=force_refresh)
            except DataverseError:
                raise
            except Exception as exc:  # MSAL and its HTTP client raise many kinds
                raise AuthError(
                    f"sign-in at {self._authority} failed: {type(exc).__name__}: "
                    f"{redact_text(str(exc), self._secrets())[:300]}"
                ) from None
            self._cached = _token_from_result(result, self._scope, self._secrets())
            return self._cached

    @abstractmethod
    def _acquire(self, *, force_refresh: bool) -> Mapping[str, Any]:
        """Ask MSAL for a token; return its result mapping."""

    def _drop_access_tokens(self) -> None:
        cache = self._app.token_cache
        kind = cache.CredentialType.ACCESS_TOKEN
        for item in list(cache.search(kind, target=[self._scope])):
            cache.remove_at(item)


def _token_from_result(
    result: Mapping[str, Any] | None, scope: str, secrets: Sequence[str] = ()
) -> AccessToken:
    if not result:
        raise AuthError(f"no token was returned for {scope}")
    if "access_token" not in result:
        error = str(result.get("error") or "unknown_error")
        lines = str(result.get("error_description") or "").splitlines()
        description = redact_text(lines[0], secrets) if lines else ""
        raise AuthError(f"sign-in failed for {scope}: {error}: {description}".rstrip(": "))
    expires_in = float(result.get("expires_in") or 3600)
    return AccessToken(str(result["access_token"]), time.time() + expires_in)


def _msal() -> Any:
    import msal  # the only msal import in the package

    return msal


def _authority_url(host: str, tenant: str) -> str:
    return f"https://{host.strip('/')}/{tenant}"


class _ClientCredentialsProvider(_MsalProvider):
    """A confidential client (application user): the client-credentials grant."""

    def __init__(
        self,
        org_url: str,
        *,
        tenant_id: str,
        client_id: str,
        authority_host: str,
        timeout: float,
        scope: str | None,
    ) -> None:
        super().__init__(
            org_url,
            authority=_authority_url(authority_host, tenant_id),
            timeout=timeout,
            scope=scope,
        )
        self._client_id = client_id

    def _confidential_app(self, credential: str | Mapping[str, str]) -> Any:
        return _msal().ConfidentialClientApplication(
            self._client_id,
            authority=self._authority,
            client_credential=credential,
            timeout=self._timeout,
            instance_discovery=False,
        )

    def _acquire(self, *, force_refresh: bool) -> Mapping[str, Any]:
        if force_refresh:
            self._drop_access_tokens()
        result: Mapping[str, Any] = self._app.acquire_token_for_client(scopes=[self._scope])
        return result


class ClientSecretTokenProvider(_ClientCredentialsProvider):
    """An application user signing in with a client secret (MSAL confidential client)."""

    def __init__(
        self,
        org_url: str,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str | Secret,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        timeout: float = 30.0,
        scope: str | None = None,
    ) -> None:
        super().__init__(
            org_url,
            tenant_id=tenant_id,
            client_id=client_id,
            authority_host=authority_host,
            timeout=timeout,
            scope=scope,
        )
        secret = client_secret.reveal() if isinstance(client_secret, Secret) else client_secret
        if not secret:
            raise ConfigError(
                "AZURE_CLIENT_SECRET is empty: set the app registration's client secret",
                setting="AZURE_CLIENT_SECRET",
            )
        self._secret = Secret(secret)

    def _secrets(self) -> list[str]:
        return [self._secret.reveal()]

    def _build_app(self) -> Any:
        return self._confidential_app(self._secret.reveal())

    def __repr__(self) -> str:
        return (
            f"ClientSecretTokenProvider(client_id={self._client_id!r}, "
            f"authority={self._authority!r}, client_secret='***')"
        )


class CertificateTokenProvider(_ClientCredentialsProvider):
    """An application user signing in with a certificate (PEM holding cert + private key)."""

    def __init__(
        self,
        org_url: str,
        *,
        tenant_id: str,
        client_id: str,
        certificate_path: Path | str,
        password: str | Secret | None = None,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        timeout: float = 30.0,
        scope: str | None = None,
    ) -> None:
        super().__init__(
            org_url,
            tenant_id=tenant_id,
            client_id=client_id,
            authority_host=authority_host,
            timeout=timeout,
            scope=scope,
        )
        private_key, _cert, thumbprint = load_certificate(Path(certificate_path))
        self._private_key = Secret(private_key)
        self._passphrase = (
            password if isinstance(password, Secret) else Secret(password) if password else None
        )
        self.thumbprint = thumbprint

    def _secrets(self) -> list[str]:
        secrets = [self._private_key.reveal()]
        if self._passphrase:
            secrets.append(self._passphrase.reveal())
        return secrets

    def _build_app(self) -> Any:
        credential = {"private_key": self._private_key.reveal(), "thumbprint": self.thumbprint}
        if self._passphrase:
            credential["passphrase"] = self._passphrase.reveal()
        try:
            return self._confidential_app(credential)
        except ValueError as exc:  # MSAL cannot load the key (wrong password, bad format)
            raise ConfigError(
                f"the certificate key could not be used: {redact_text(str(exc), self._secrets())}",
                setting="AZURE_CLIENT_CERTIFICATE_PATH",
            ) from None

    def __repr__(self) -> str:
        return (
            f"CertificateTokenProvider(client_id={self._client_id!r}, "
            f"authority={self._authority!r}, thumbprint={self.thumbprint!r})"
        )


def _print_prompt(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class DeviceCodeTokenProvider(_MsalProvider):
    """A person signs in with a device code (MSAL public client).

    The MSAL cache is kept in ``cache_path`` (``0600``), so the user signs in once and later
    runs refresh silently. ``prompt`` receives the "go to ... and enter code ..." text.
    """

    def __init__(
        self,
        org_url: str,
        *,
        tenant_id: str | None = None,
        client_id: str | None = None,
        cache_path: Path | str | None = None,
        prompt: Callable[[str], None] = _print_prompt,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        timeout: float = 30.0,
        scope: str | None = None,
    ) -> None:
        super().__init__(
            org_url,
            authority=_authority_url(authority_host, tenant_id or "organizations"),
            timeout=timeout,
            scope=scope,
        )
        msal = _msal()
        self._client_id = client_id or DEFAULT_PUBLIC_CLIENT_ID
        self._cache_path = Path(cache_path) if cache_path else default_token_cache_path()
        self._prompt = prompt
        self._cache = msal.SerializableTokenCache()
        load_token_cache(self._cache, self._cache_path)

    def _build_app(self) -> Any:
        return _msal().PublicClientApplication(
            self._client_id,
            authority=self._authority,
            token_cache=self._cache,
            timeout=self._timeout,
            # Only the authority named is used: no extra call to the instance-discovery endpoint.
            instance_discovery=False,
        )

    @property
    def cache_path(self) -> Path:
        """Where the MSAL token cache is kept."""
        return self._cache_path

    def _acquire(self, *, force_refresh: bool) -> Mapping[str, Any]:
        scopes = [self._scope]
        result: Mapping[str, Any] | None = None
        accounts = self._app.get_accounts()
        if accounts:
            result = self._app.acquire_token_silent(
                scopes, account=accounts[0], force_refresh=force_refresh
            )
        if not result or "access_token" not in result:
            flow = self._app.initiate_device_flow(scopes=scopes)
            if "user_code" not in flow:
                raise AuthError(
                    "device-code sign-in could not start: "
                    f"{flow.get('error', 'unknown_error')}: "
                    f"{redact_text(str(flow.get('error_description', '')))}"
                )
            self._prompt(str(flow["message"]))
            result = self._app.acquire_token_by_device_flow(flow)
        save_token_cache(self._cache, self._cache_path)
        return result or {}

    def __repr__(self) -> str:
        return (
            f"DeviceCodeTokenProvider(client_id={self._client_id!r}, "
            f"authority={self._authority!r}, cache_path={str(self._cache_path)!r})"
        )


def token_provider_from_settings(
    settings: Settings, *, prompt: Callable[[str], None] | None = None
) -> TokenProvider:
    """Build the token provider the settings ask for (see ``D365_AUTH`` in :mod:`.config`)."""
    mode = settings.auth
    if mode == "device-code":
        return DeviceCodeTokenProvider(
            settings.url,
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            cache_path=settings.token_cache_path,
            prompt=prompt or _print_prompt,
            authority_host=settings.authority_host,
        )
    if mode == "static" or (mode == "auto" and settings.access_token):
        if not settings.access_token:
            raise ConfigError(
                "D365_AUTH=static but D365_ACCESS_TOKEN is not set: set it to a bearer token "
                "(for example from `az account get-access-token --resource <org url>`)",
                setting="D365_ACCESS_TOKEN",
            )
        return StaticTokenProvider(settings.access_token)
    wants_secret = mode == "client-secret" or (mode == "auto" and settings.client_secret)
    wants_cert = mode == "certificate" or (mode == "auto" and settings.client_certificate_path)
    if wants_secret or wants_cert:
        for value, var in (
            (settings.tenant_id, "AZURE_TENANT_ID"),
            (settings.client_id, "AZURE_CLIENT_ID"),
        ):
            if not value:
                raise ConfigError(
                    f"{var} is not set: an application sign-in needs AZURE_TENANT_ID and "
                    "AZURE_CLIENT_ID of the app registration",
                    setting=var,
                )
        assert settings.tenant_id and settings.client_id
        if wants_secret:
            if not settings.client_secret:
                raise ConfigError(
                    "AZURE_CLIENT_SECRET is not set: set the app registration's client secret",
                    setting="AZURE_CLIENT_SECRET",
                )
            return ClientSecretTokenProvider(
                settings.url,
                tenant_id=settings.tenant_id,
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                authority_host=settings.authority_host,
            )
        if not settings.client_certificate_path:
            raise ConfigError(
                "AZURE_CLIENT_CERTIFICATE_PATH is not set: point it at a PEM file with the "
                "certificate and its private key",
                setting="AZURE_CLIENT_CERTIFICATE_PATH",
            )
        return CertificateTokenProvider(
            settings.url,
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            certificate_path=settings.client_certificate_path,
            password=settings.client_certificate_password,
            authority_host=settings.authority_host,
        )
    raise ConfigError(
        "no credentials configured: set D365_ACCESS_TOKEN (a bearer token), or "
        "AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET (or "
        "AZURE_CLIENT_CERTIFICATE_PATH), or D365_AUTH=device-code to sign in interactively",
        setting="D365_AUTH",
    )
