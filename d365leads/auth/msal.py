"""The MSAL token providers: application users (client secret, certificate) and device code.

This module is the only importer of ``msal`` (``tests/test_layering.py`` allows it in
``d365leads.auth.*`` only). Every provider gets its token through one path,
:meth:`~d365leads.auth.tokens.CachingTokenProvider.get_token` (shared with the credential
adapter): a cached token while it is fresh, else the provider's MSAL call
(:meth:`_MsalProvider._acquire`), with MSAL's errors turned into :class:`AuthError` and
secrets scrubbed from them. The confidential clients differ only in their credential.

Every MSAL provider asks for ``<org>/.default`` unless ``scope=`` says otherwise. Microsoft's
docs name ``<org>/user_impersonation`` for public clients; ``.default`` works for them in
practice but that is not documented, so device-code users whose tenant refuses it can pass
``scope=<org>/user_impersonation``.
"""

from __future__ import annotations

import sys
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from d365leads.auth.certificate import load_certificate
from d365leads.auth.token_cache import (
    default_token_cache_path,
    load_token_cache,
    save_token_cache,
)
from d365leads.auth.tokens import AccessToken, CachingTokenProvider, scope_for
from d365leads.config import DEFAULT_AUTHORITY_HOST
from d365leads.errors import AuthError, ConfigError, DataverseError
from d365leads.redaction import Secret, redact_text

__all__ = [
    "DEFAULT_PUBLIC_CLIENT_ID",
    "CertificateTokenProvider",
    "ClientSecretTokenProvider",
    "DeviceCodeTokenProvider",
    "print_prompt",
]

#: Microsoft's documented sample public client for Dataverse (override with AZURE_CLIENT_ID).
DEFAULT_PUBLIC_CLIENT_ID = "51f81489-12ee-4a9e-aaae-a2591f45987d"


class _MsalProvider(CachingTokenProvider):
    """Shared MSAL plumbing: one application (built on first use) and its cache; tokens come
    through :meth:`CachingTokenProvider.get_token` (MSAL refreshes before expiry too).

    Subclasses say how to build the MSAL application and how to ask it for a token.
    """

    def __init__(
        self, org_url: str, *, authority: str, timeout: float, scope: str | None = None
    ) -> None:
        super().__init__(scope or scope_for(org_url))
        self._authority = authority
        self._timeout = timeout
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

    def _fetch(self, *, force_refresh: bool) -> AccessToken:
        try:
            result = self._acquire(force_refresh=force_refresh)
        except DataverseError:
            raise
        except Exception as exc:  # MSAL and its HTTP client raise many kinds
            raise AuthError(
                f"sign-in at {self._authority} failed: {type(exc).__name__}: "
                f"{redact_text(str(exc), self._secrets())[:300]}"
            ) from None
        return _token_from_result(result, self._scope, self._secrets())

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
    import msal  # the package imports msal here only

    return msal


def _authority_url(host: str, tenant: str) -> str:
    return f"https://{host.strip('/')}/{tenant}"


class _ClientCredentialsProvider(_MsalProvider):
    """A confidential client (application user): the client-credentials grant.

    Subclasses give the credential (:meth:`_credential`) and how their repr shows it.
    """

    def __init__(
        self,
        org_url: str,
        tenant_id: str,
        client_id: str,
        authority_host: str,
        timeout: float,
        scope: str | None,
        /,
    ) -> None:
        super().__init__(
            org_url,
            authority=_authority_url(authority_host, tenant_id),
            timeout=timeout,
            scope=scope,
        )
        self._client_id = client_id

    @abstractmethod
    def _credential(self) -> str | Mapping[str, str]:
        """The ``client_credential`` of the MSAL application."""

    @abstractmethod
    def _shown_credential(self) -> str:
        """How the repr shows the credential (never the secret itself)."""

    def _build_app(self) -> Any:
        return _msal().ConfidentialClientApplication(
            self._client_id,
            authority=self._authority,
            client_credential=self._credential(),
            timeout=self._timeout,
            instance_discovery=False,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(client_id={self._client_id!r}, "
            f"authority={self._authority!r}, {self._shown_credential()})"
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
        super().__init__(org_url, tenant_id, client_id, authority_host, timeout, scope)
        secret = client_secret.reveal() if isinstance(client_secret, Secret) else client_secret
        if not secret:
            raise ConfigError(
                "AZURE_CLIENT_SECRET is empty: set the app registration's client secret",
                setting="AZURE_CLIENT_SECRET",
            )
        self._secret = Secret(secret)

    def _secrets(self) -> list[str]:
        return [self._secret.reveal()]

    def _credential(self) -> str:
        return self._secret.reveal()

    def _shown_credential(self) -> str:
        return "client_secret='***'"


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
        super().__init__(org_url, tenant_id, client_id, authority_host, timeout, scope)
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

    def _credential(self) -> dict[str, str]:
        credential = {"private_key": self._private_key.reveal(), "thumbprint": self.thumbprint}
        if self._passphrase:
            credential["passphrase"] = self._passphrase.reveal()
        return credential

    def _shown_credential(self) -> str:
        return f"thumbprint={self.thumbprint!r}"

    def _build_app(self) -> Any:
        try:
            return super()._build_app()
        except ValueError as exc:  # MSAL cannot load the key (wrong password, bad format)
            raise ConfigError(
                f"the certificate key could not be used: {redact_text(str(exc), self._secrets())}",
                setting="AZURE_CLIENT_CERTIFICATE_PATH",
            ) from None


def print_prompt(message: str) -> None:
    """Show the device-code sign-in text on stderr (the default ``prompt``)."""
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
        prompt: Callable[[str], None] = print_prompt,
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
