"""Tokens and the simplest providers: a token you hold, or a credential object's tokens.

:class:`AccessToken` and the :class:`TokenProvider` protocol are what the HTTP pipeline asks
for; :class:`StaticTokenProvider` and :class:`CredentialTokenProvider` need no MSAL.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from d365leads.errors import AuthError, ConfigError
from d365leads.redaction import Secret, redact_text

__all__ = [
    "REFRESH_MARGIN_S",
    "AccessToken",
    "CachingTokenProvider",
    "CredentialTokenProvider",
    "StaticTokenProvider",
    "TokenProvider",
    "scope_for",
]

#: Refresh a cached token this many seconds before it expires (MSAL uses the same margin).
REFRESH_MARGIN_S = 300.0


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


class CachingTokenProvider(ABC):
    """The one path to a token of the providers that fetch them (a credential object, MSAL).

    :meth:`get_token` returns the cached token until five minutes before it expires
    (:data:`REFRESH_MARGIN_S`), else fetches a new one (:meth:`_fetch`) under a lock, so
    threads that ask at once fetch once.
    """

    def __init__(self, scope: str) -> None:
        self._scope = scope
        self._lock = threading.Lock()
        self._cached: AccessToken | None = None

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """Return the cached token while it is fresh, else fetch (and cache) a new one."""
        with self._lock:
            cached = self._cached
            if cached and not force_refresh and not cached.expires_within(REFRESH_MARGIN_S):
                return cached
            self._cached = self._fetch(force_refresh=force_refresh)
            return self._cached

    @abstractmethod
    def _fetch(self, *, force_refresh: bool) -> AccessToken:
        """Get a new token (:class:`AuthError` when that fails)."""


class CredentialTokenProvider(CachingTokenProvider):
    """Adapts an object with ``get_token(*scopes)`` returning ``.token`` and ``.expires_on``.

    This is the shape of ``azure.identity`` credentials (``DefaultAzureCredential`` and
    friends); d365leads does not import ``azure-identity`` itself.
    """

    def __init__(self, credential: Any, org_url: str) -> None:
        if not callable(getattr(credential, "get_token", None)):
            raise ConfigError("the credential object has no get_token(scope) method")
        super().__init__(scope_for(org_url))
        self._credential = credential

    def _fetch(self, *, force_refresh: bool) -> AccessToken:
        # The credential keeps (and refreshes) its own tokens: asking again is the refresh.
        try:
            result = self._credential.get_token(self._scope)
        except Exception as exc:
            raise AuthError(
                f"the credential could not get a token for {self._scope}: {redact_text(str(exc))}"
            ) from None
        token = getattr(result, "token", None)
        if not isinstance(token, str) or not token:
            raise AuthError("the credential returned no token")
        expires_on = float(getattr(result, "expires_on", 0) or time.time() + 3600)
        return AccessToken(token, expires_on)

    def __repr__(self) -> str:
        kind = type(self._credential).__name__
        return f"CredentialTokenProvider(credential={kind}, scope={self._scope!r})"
