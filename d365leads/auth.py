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
tokens are not fetched per request. This module is the only importer of ``msal``.

Every MSAL provider asks for ``<org>/.default`` unless ``scope=`` says otherwise. Microsoft's
docs name ``<org>/user_impersonation`` for public clients; ``.default`` works for them in
practice but that is not documented, so device-code users whose tenant refuses it can pass
``scope=<org>/user_impersonation``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import ssl
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

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

# Refresh a cached token this many seconds before it expires (MSAL uses the same margin).
_REFRESH_MARGIN_S = 300.0


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when it expires (seconds since the epoch)."""

    token: str = field(repr=False)
    expires_on: float

    def __repr__(self) -> str:
        return f"AccessToken(token='***', expires_on={self.expires_on!r})"

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        """True when the token expires in less than ``seconds``."""
        current = time.time() if now is None else now
        return self.expires_on - current < seconds


@runtime_checkable
class TokenProvider(Protocol):
    """Anything that can hand out a bearer token for the org.

    ``force_refresh=True`` is passed after Dataverse answered 401: drop any cached token.
    """

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """Return a token valid for at least a few minutes."""
        ...


def scope_for(org_url: str) -> str:
    """The ``.default`` scope for an org URL (``https://contoso.crm.dynamics.com/.default``)."""
    return org_url.rstrip("/") + "/.default"


class StaticTokenProvider:
    """A fixed token: for the local fake and for tokens obtained elsewhere.

    A static token cannot be refreshed; after a 401 the same token is returned again and the
    request fails with :class:`~d365leads.errors.UnauthorizedError`.
    """

    def __init__(self, token: str | Secret, *, expires_on: float | None = None) -> None:
        value = token.reveal() if isinstance(token, Secret) else token
        if not value or not value.strip():
            raise ConfigError(
                "the static access token is empty: set D365_ACCESS_TOKEN to a bearer token",
                setting="D365_ACCESS_TOKEN",
            )
        if value.lower().startswith("bearer "):
            value = value[7:]
        self._token = AccessToken(value.strip(), expires_on or float("inf"))

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """Return the token given at construction."""
        return self._token

    def __repr__(self) -> str:
        return "StaticTokenProvider(token='***')"


class CredentialTokenProvider:
    """Adapts an object with ``get_token(*scopes)`` returning ``.token`` and ``.expires_on``.

    This is the shape of ``azure.identity`` credentials (``DefaultAzureCredential`` and
    friends); d365leads does not import ``azure-identity`` itself.
    """

    def __init__(self, credential: Any, org_url: str) -> None:
        if not callable(getattr(credential, "get_token", None)):
            raise ConfigError("the credential object has no get_token(scope) method")
        self._credential = credential
        self._scope = scope_for(org_url)
        self._lock = threading.Lock()
        self._cached: AccessToken | None = None

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """Ask the credential for a token, reusing it until five minutes before expiry."""
        with self._lock:
            cached = self._cached
            if cached and not force_refresh and not cached.expires_within(_REFRESH_MARGIN_S):
                return cached
            try:
                result = self._credential.get_token(self._scope)
            except Exception as exc:
                raise AuthError(
                    f"the credential could not get a token for {self._scope}: "
                    f"{redact_text(str(exc))}"
                ) from None
            token = getattr(result, "token", None)
            if not isinstance(token, str) or not token:
                raise AuthError("the credential returned no token")
            expires_on = float(getattr(result, "expires_on", 0) or time.time() + 3600)
            self._cached = AccessToken(token, expires_on)
            return self._cached

    def __repr__(self) -> str:
        kind = type(self._credential).__name__
        return f"CredentialTokenProvider(credential={kind}, scope={self._scope!r})"


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
            if cached and not force_refresh and not cached.expires_within(_REFRESH_MARGIN_S):
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


_CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.DOTALL)
_KEY_BLOCK = re.compile(
    r"-----BEGIN ((?:RSA |EC |ENCRYPTED )?)PRIVATE KEY-----\s.*?-----END \1PRIVATE KEY-----",
    re.DOTALL,
)


def load_certificate(path: Path) -> tuple[str, str, str]:
    """Read a PEM file holding a certificate and its private key.

    Returns ``(private_key_pem, certificate_pem, sha1_thumbprint_hex)``; the thumbprint is the
    SHA-1 of the certificate's DER bytes, as Entra ID expects.
    """
    var = "AZURE_CLIENT_CERTIFICATE_PATH"
    try:
        text = Path(path).read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigError(f"{var}={str(path)!r}: file not found", setting=var) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{var}={str(path)!r} cannot be read as a PEM file: {type(exc).__name__}", setting=var
        ) from None
    cert = _CERT_BLOCK.search(text)
    key = _KEY_BLOCK.search(text)
    if cert is None or key is None:
        missing = "certificate" if cert is None else "private key"
        raise ConfigError(
            f"{var}={str(path)!r} has no PEM {missing}: the file must hold both the "
            "certificate and its private key",
            setting=var,
        )
    try:
        der = ssl.PEM_cert_to_DER_cert(cert.group(0))
    except ValueError:
        raise ConfigError(
            f"{var}={str(path)!r}: the certificate is not valid PEM", setting=var
        ) from None
    return key.group(0), cert.group(0), hashlib.sha1(der).hexdigest().upper()


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


def default_token_cache_path() -> Path:
    """The per-user MSAL cache file for device-code sign-in."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("d365leads")) / "msal_token_cache.json"


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
        self._load_cache()

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

    def _load_cache(self) -> None:
        try:
            data = self._cache_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(
                f"D365_TOKEN_CACHE={str(self._cache_path)!r} cannot be read: {exc.strerror}",
                setting="D365_TOKEN_CACHE",
            ) from None
        with contextlib.suppress(ValueError):  # a corrupt cache only means signing in again
            self._cache.deserialize(data)

    def _save_cache(self) -> None:
        if not self._cache.has_state_changed:
            return
        path = self._cache_path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if hasattr(os, "fchmod"):  # the umask may have narrowed, never widened, the mode
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self._cache.serialize())
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        os.replace(tmp, path)
        self._cache.has_state_changed = False

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
        self._save_cache()
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
