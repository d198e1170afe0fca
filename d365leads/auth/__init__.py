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
tokens are not fetched per request. The MSAL providers are in :mod:`.msal` (the only importer
of ``msal``), token types and the MSAL-free providers in :mod:`.tokens`, the PEM reading in
:mod:`.certificate` and the device-code cache file in :mod:`.token_cache`; this module picks
the provider the settings ask for.
"""

from __future__ import annotations

from collections.abc import Callable

from d365leads.auth.certificate import load_certificate
from d365leads.auth.msal import (
    DEFAULT_PUBLIC_CLIENT_ID,
    CertificateTokenProvider,
    ClientSecretTokenProvider,
    DeviceCodeTokenProvider,
    print_prompt,
)
from d365leads.auth.token_cache import default_token_cache_path
from d365leads.auth.tokens import (
    AccessToken,
    CredentialTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    scope_for,
)
from d365leads.config import Settings
from d365leads.errors import ConfigError

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
            prompt=prompt or print_prompt,
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
