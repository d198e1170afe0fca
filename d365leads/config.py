"""Client settings, read from arguments or from the environment.

Every setting, its environment variable and its default:

=============================== ===================================== ===========================
Setting                         Environment variable                  Default
=============================== ===================================== ===========================
``url``                         ``D365_URL``                          required
``access_token``                ``D365_ACCESS_TOKEN``                 none (static bearer token)
``auth``                        ``D365_AUTH``                         ``auto``
``tenant_id``                   ``AZURE_TENANT_ID``                   none (``organizations``)
``client_id``                   ``AZURE_CLIENT_ID``                   none (sample public app)
``client_secret``               ``AZURE_CLIENT_SECRET``               none
``client_certificate_path``     ``AZURE_CLIENT_CERTIFICATE_PATH``     none (PEM: cert + key)
``client_certificate_password`` ``AZURE_CLIENT_CERTIFICATE_PASSWORD`` none
``authority_host``              ``AZURE_AUTHORITY_HOST``              login.microsoftonline.com
``token_cache_path``            ``D365_TOKEN_CACHE``                  per-user cache directory
``timeout``                     ``D365_TIMEOUT``                      ``120`` (seconds)
``request_deadline``            ``D365_REQUEST_DEADLINE``             ``600`` (seconds)
``max_response_mb``             ``D365_MAX_RESPONSE_MB``              ``256`` (MiB)
``max_retries``                 ``D365_MAX_RETRIES``                  ``5``
``max_retry_time``              ``D365_MAX_RETRY_TIME``               ``300`` (seconds)
``page_size``                   ``D365_PAGE_SIZE``                    ``5000`` (1 to 5000)
``keep_affinity``               ``D365_KEEP_AFFINITY``                ``true``
``pool_size``                   ``D365_POOL_SIZE``                    ``16``
``limit_window``                ``D365_LIMIT_WINDOW``                 ``0`` (off; seconds, e.g. 300)
=============================== ===================================== ===========================

What they mean:

* ``url``: the org root, ``https://<org>.crm.dynamics.com`` (``/api/data/v9.2`` is added).
* ``access_token``: a bearer token you already have (the local fake, or
  ``az account get-access-token --resource <url>``); it is not refreshed.
* ``tenant_id``/``client_id``/``client_secret``/``client_certificate_path``: an application user
  (confidential client). The certificate PEM holds the certificate and its private key; the
  thumbprint is computed from the certificate.
* ``token_cache_path``: where device-code sign-in keeps its MSAL cache (file mode ``0600``).
* ``timeout``: seconds to wait for each response; the wait restarts with every chunk of bytes
  that arrives.
* ``request_deadline``: the most seconds one request may take from sending to the last byte of
  its answer, however the bytes trickle in (``RequestDeadlineError``). 600 s is far above what
  one Web API request legitimately takes (a ``$batch`` of 1,000 operations or a 5,000-row page
  over a slow link) and still ends a stuck nightly job within minutes. It applies even when
  ``timeout`` is larger; only a per-call ``timeout`` larger than it extends it, for that call.
* ``max_response_mb``: the largest body read into memory, in MiB (``ResponseTooLargeError``),
  counted while streaming so chunked answers without ``Content-Length`` cannot bypass it. A full
  page of 5,000 rows with every column and formatted values is about 25 to 50 MiB; 256 MiB leaves
  room for that and for ``$batch`` answers, while an endless or gigabyte body stops long before
  it can exhaust the memory of the machine running the job.
* ``max_retries``/``max_retry_time``: resends after 429/502/503/504/connection errors, and the
  total seconds that waiting and resending may take.
* ``page_size``: rows per page (``Prefer: odata.maxpagesize``).
* ``keep_affinity``: ``false`` drops the ``ARRAffinity`` cookie so parallel requests reach every
  web server.
* ``pool_size``: pooled HTTP connections (match the number of concurrent workers).
* ``limit_window``: opt-in pacing. Set it to the service-protection sliding window (300 s, as
  documented) and, when the remaining-budget headers report less than a quarter of the budget
  left, request starts are spaced to the rate this window gives the budget back, so a job slows
  down before it is refused; while the readings match the identity's own completed work, the
  client instead predicts when that work leaves the window and sends until the budget is spent
  (:mod:`d365leads.http.pacing`). ``Retry-After`` still rules after a 429. Off (0) by default
  because Microsoft calls those headers debugging aids, not for flow control, and they reset when
  a request lands on another web server
  (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits).

``auth`` is one of ``auto`` (static token if ``D365_ACCESS_TOKEN`` is set, else client secret,
else certificate), ``static``, ``client-secret``, ``certificate`` or ``device-code``.

Plain ``http://`` is refused except for loopback hosts (``localhost``, ``127.0.0.0/8``, ``::1``),
which the local fake uses. TLS certificates are always verified.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from d365leads import _wire
from d365leads.errors import ConfigError
from d365leads.redaction import Secret

__all__ = [
    "AUTH_MODES",
    "DEFAULT_AUTHORITY_HOST",
    "ENV_VARS",
    "Settings",
    "is_loopback_host",
    "normalize_org_url",
]

AUTH_MODES = ("auto", "static", "client-secret", "certificate", "device-code")
DEFAULT_AUTHORITY_HOST = "login.microsoftonline.com"

#: Settings field -> environment variable.
ENV_VARS: dict[str, str] = {
    "url": "D365_URL",
    "access_token": "D365_ACCESS_TOKEN",
    "auth": "D365_AUTH",
    "tenant_id": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
    "client_secret": "AZURE_CLIENT_SECRET",
    "client_certificate_path": "AZURE_CLIENT_CERTIFICATE_PATH",
    "client_certificate_password": "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "authority_host": "AZURE_AUTHORITY_HOST",
    "token_cache_path": "D365_TOKEN_CACHE",
    "timeout": "D365_TIMEOUT",
    "request_deadline": "D365_REQUEST_DEADLINE",
    "max_response_mb": "D365_MAX_RESPONSE_MB",
    "max_retries": "D365_MAX_RETRIES",
    "max_retry_time": "D365_MAX_RETRY_TIME",
    "page_size": "D365_PAGE_SIZE",
    "keep_affinity": "D365_KEEP_AFFINITY",
    "pool_size": "D365_POOL_SIZE",
    "limit_window": "D365_LIMIT_WINDOW",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_org_url(url: str, *, setting: str = "D365_URL") -> str:
    """Return ``scheme://host[:port]`` for an org URL, refusing anything unsafe or malformed.

    Accepts the org root (``https://contoso.crm.dynamics.com``), with or without a trailing
    slash or the ``/api/data/v9.2`` suffix.
    """
    raw = (url or "").strip()
    if not raw:
        raise ConfigError(
            f"{setting} is not set: set it to your org URL, e.g. https://contoso.crm.dynamics.com",
            setting=setting,
        )
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(
            f"{setting}={raw!r} is not an org URL: use https://<org>.crm.dynamics.com",
            setting=setting,
        )
    if parts.username or parts.password:
        raise ConfigError(f"{setting} must not contain credentials", setting=setting)
    if parts.query or parts.fragment:
        raise ConfigError(
            f"{setting}={raw!r} must not have a query or fragment: use the org root URL",
            setting=setting,
        )
    path = parts.path.rstrip("/")
    if path not in ("", _wire.API_PATH.rstrip("/")):
        raise ConfigError(
            f"{setting}={raw!r} has an unexpected path {parts.path!r}: use the org root URL "
            "such as https://contoso.crm.dynamics.com",
            setting=setting,
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"{setting}={raw!r} uses plain http: use https (http is only allowed for "
            "localhost/127.0.0.1/::1, where the local fake runs)",
            setting=setting,
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{setting}={raw!r} has an invalid port", setting=setting) from exc
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


@dataclass(frozen=True)
class Settings:
    """Everything the client needs to connect; see the module docstring for the table.

    Build it directly (``Settings(url=...)``) or from the environment with :meth:`from_env`.
    Secrets are held as :class:`~d365leads.redaction.Secret` and never appear in ``repr``.
    """

    url: str
    access_token: Secret | None = field(default=None, repr=False)
    auth: str = "auto"
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: Secret | None = field(default=None, repr=False)
    client_certificate_path: Path | None = None
    client_certificate_password: Secret | None = field(default=None, repr=False)
    authority_host: str = DEFAULT_AUTHORITY_HOST
    token_cache_path: Path | None = None
    timeout: float = 120.0
    request_deadline: float = 600.0
    max_response_mb: float = 256.0
    max_retries: int = 5
    max_retry_time: float = 300.0
    page_size: int = _wire.MAX_PAGE_SIZE
    keep_affinity: bool = True
    pool_size: int = 16
    limit_window: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", normalize_org_url(self.url))
        for name in ("access_token", "client_secret", "client_certificate_password"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, Secret(value) if value else None)
        if isinstance(self.client_certificate_path, str):
            object.__setattr__(self, "client_certificate_path", Path(self.client_certificate_path))
        if isinstance(self.token_cache_path, str):
            object.__setattr__(self, "token_cache_path", Path(self.token_cache_path))
        if self.auth not in AUTH_MODES:
            raise ConfigError(
                f"D365_AUTH={self.auth!r} is not supported: use one of {', '.join(AUTH_MODES)}",
                setting="D365_AUTH",
            )
        _check_positive("timeout", self.timeout)
        _check_positive("request_deadline", self.request_deadline)
        _check_positive("max_response_mb", self.max_response_mb)
        _check_positive("max_retry_time", self.max_retry_time, allow_zero=True)
        _check_positive("max_retries", self.max_retries, allow_zero=True)
        _check_positive("pool_size", self.pool_size)
        _check_positive("limit_window", self.limit_window, allow_zero=True)
        if not 1 <= self.page_size <= _wire.MAX_PAGE_SIZE:
            raise ConfigError(
                f"D365_PAGE_SIZE={self.page_size} is out of range: use 1 to {_wire.MAX_PAGE_SIZE}",
                setting="D365_PAGE_SIZE",
            )
        if not self.authority_host or "/" in self.authority_host.strip("/"):
            raise ConfigError(
                f"AZURE_AUTHORITY_HOST={self.authority_host!r} must be a host name such as "
                f"{DEFAULT_AUTHORITY_HOST}",
                setting="AZURE_AUTHORITY_HOST",
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from ``env`` (default ``os.environ``); ``overrides`` win.

        Raises :class:`~d365leads.errors.ConfigError` naming the variable that is missing or
        malformed and what to set.
        """
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, var in ENV_VARS.items():
            raw = source.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[name] = _parse(name, var, raw.strip())
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        if "url" not in values:
            raise ConfigError(
                "D365_URL is not set: set it to your org URL, e.g. "
                "export D365_URL=https://contoso.crm.dynamics.com",
                setting="D365_URL",
            )
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def max_response_bytes(self) -> int:
        """``max_response_mb`` in bytes."""
        return int(self.max_response_mb * 1024 * 1024)

    @property
    def api_url(self) -> str:
        """The Web API root, ``<url>/api/data/v9.2/``."""
        return self.url + _wire.API_PATH


_INT_FIELDS = {"max_retries", "page_size", "pool_size"}
_FLOAT_FIELDS = {"timeout", "max_retry_time", "request_deadline", "limit_window"}
_BOOL_FIELDS = {"keep_affinity"}
_PATH_FIELDS = {"client_certificate_path", "token_cache_path"}
_SECRET_FIELDS = {"access_token", "client_secret", "client_certificate_password"}


def _parse(name: str, var: str, raw: str) -> Any:
    if name in _INT_FIELDS:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r} is not a whole number", setting=var) from None
    if name == "max_response_mb":
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(
                f"{var}={raw!r} is not a number of megabytes (MiB), e.g. 256", setting=var
            ) from None
    if name in _FLOAT_FIELDS:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r} is not a number of seconds", setting=var) from None
    if name in _BOOL_FIELDS:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{var}={raw!r} is not a boolean: use true or false", setting=var)
    if name in _PATH_FIELDS:
        return Path(raw).expanduser()
    if name in _SECRET_FIELDS:
        return Secret(raw)
    if name == "auth":
        return raw.lower()
    if name == "url":
        return normalize_org_url(raw, setting=var)
    return raw


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    var = ENV_VARS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{var} must be a number, got {value!r}", setting=var)
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        raise ConfigError(
            f"{var}={value!r} is out of range: use a {'non-negative' if allow_zero else 'positive'}"
            " number",
            setting=var,
        )
