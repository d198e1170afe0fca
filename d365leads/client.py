"""DataverseClient: one object that holds the session and the operations built on it.

::

    from d365leads import DataverseClient, Query

    with DataverseClient.from_env() as client:
        me = client.whoami()
        for row in client.records.query("leads", Query().select("fullname").top(10)):
            print(row["fullname"])
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from d365leads.auth import TokenProvider, token_provider_from_settings
from d365leads.batch import BatchRequest
from d365leads.config import Settings, normalize_org_url
from d365leads.errors import ConfigError
from d365leads.http.pipeline import ApiSession
from d365leads.http.retry import RetryPolicy
from d365leads.http.throttle import ThrottleState
from d365leads.http.transport import Transport
from d365leads.metadata import StatusMetadata
from d365leads.records import RecordsAPI, WhoAmI
from d365leads.resources import Accounts, Contacts, Leads, Opportunities
from d365leads.views import ViewsAPI

__all__ = ["DataverseClient"]


class DataverseClient:
    """A client for one Dataverse org.

    ``token_provider`` supplies bearer tokens (:class:`~d365leads.auth.StaticTokenProvider`,
    an MSAL provider, or your own). ``transport``, ``sleep``, ``clock`` and ``retry`` are for
    tests and tuning. ``keep_affinity=False`` drops the ``ARRAffinity`` cookie so parallel
    requests spread over all web servers. ``max_response_mb`` and ``request_deadline`` bound
    each answer's size and total time (see :class:`~d365leads.config.Settings`).
    """

    def __init__(
        self,
        url: str,
        *,
        token_provider: TokenProvider | None = None,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        keep_affinity: bool | None = None,
        page_size: int | None = None,
        pool_size: int | None = None,
        settings: Settings | None = None,
        rng: random.Random | None = None,
        max_response_mb: float | None = None,
        request_deadline: float | None = None,
    ) -> None:
        overrides: dict[str, Any] = {
            "timeout": timeout,
            "max_response_mb": max_response_mb,
            "request_deadline": request_deadline,
            "keep_affinity": keep_affinity,
            "page_size": page_size,
            "pool_size": pool_size,
        }
        base = settings if settings is not None else Settings(url=url)
        if settings is not None and url and normalize_org_url(url) != settings.url:
            raise ConfigError(
                f"url {url!r} does not match settings.url {settings.url!r}", setting="D365_URL"
            )
        self.settings = base.replace(**{k: v for k, v in overrides.items() if v is not None})
        if token_provider is None:
            raise ConfigError(
                "no token provider: pass token_provider=StaticTokenProvider(token) (or an MSAL "
                "provider), or use DataverseClient.from_env()",
                setting="D365_ACCESS_TOKEN",
            )
        if retry is None:
            retry = RetryPolicy(
                max_retries=self.settings.max_retries,
                max_retry_time=self.settings.max_retry_time,
                rng=rng or random.Random(),
            )
        self._token_provider = token_provider
        self.session = ApiSession(
            self.settings.url,
            token_provider=token_provider,
            transport=transport,
            retry=retry,
            sleep=sleep,
            clock=clock,
            timeout=self.settings.timeout,
            page_size=self.settings.page_size,
            keep_affinity=self.settings.keep_affinity,
            pool_size=self.settings.pool_size,
            deadline=self.settings.request_deadline,
            max_response_bytes=self.settings.max_response_bytes,
            limit_window=self.settings.limit_window,
        )
        self.records = RecordsAPI(self.session)
        self.metadata = StatusMetadata(self.session)
        self.leads = Leads(self.records, self.session, self.metadata)
        self.accounts = Accounts(self.records, self.session, self.metadata)
        self.contacts = Contacts(self.records, self.session, self.metadata)
        self.opportunities = Opportunities(self.records, self.session, self.metadata)
        self.views = ViewsAPI(self.records)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        token_provider: TokenProvider | None = None,
        prompt: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> DataverseClient:
        """Build a client from ``D365_*``/``AZURE_*`` environment variables.

        ``kwargs`` are passed to the constructor (``transport``, ``sleep``, ...); ``prompt``
        receives the device-code sign-in message. Raises ``ConfigError`` naming what to set.
        """
        settings = Settings.from_env(env)
        return cls.from_settings(settings, token_provider=token_provider, prompt=prompt, **kwargs)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        token_provider: TokenProvider | None = None,
        prompt: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> DataverseClient:
        """Build a client from :class:`~d365leads.config.Settings`.

        Without ``token_provider`` the settings choose one (see ``D365_AUTH``).
        """
        provider = token_provider or token_provider_from_settings(settings, prompt=prompt)
        return cls(settings.url, token_provider=provider, settings=settings, **kwargs)

    @property
    def url(self) -> str:
        """The org URL."""
        return self.settings.url

    @property
    def throttle(self) -> ThrottleState:
        """Shared throttling state (dop hint, 429 counters)."""
        return self.session.throttle

    def whoami(self) -> WhoAmI:
        """The signed-in user's id, business unit and organization."""
        return self.records.whoami()

    def batch(self, *, continue_on_error: bool = True) -> BatchRequest:
        """Start a ``$batch`` of up to 1,000 operations sent through this client's session."""
        return BatchRequest(self.session, continue_on_error=continue_on_error)

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    def __enter__(self) -> DataverseClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DataverseClient({self.settings.url!r}, token_provider={self._token_provider!r})"
