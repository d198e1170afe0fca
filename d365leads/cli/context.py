"""Shared state of one CLI invocation: global flags, settings resolution and the client.

Settings are resolved with the precedence users know from ``az`` and clig.dev:
command-line flags > environment variables (``D365_URL``, ``D365_ACCESS_TOKEN``, ``AZURE_*``, see
:mod:`d365leads.config`) > the selected profile (``--profile`` / ``D365_PROFILE`` / the default
profile) > built-in defaults.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import jmespath.parser

from d365leads.cli.output import Output, resolve_format
from d365leads.cli.profiles import PROFILE_ENV, Profile, ProfileStore
from d365leads.config import ENV_VARS, Settings
from d365leads.redaction import RedactingFilter

if TYPE_CHECKING:
    from d365leads.client import DataverseClient
    from d365leads.http.recording import RecordingTransport

__all__ = ["State", "pass_state", "profile_env"]

_CREDENTIAL_VARS = ("D365_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH")


def profile_env(profile: Profile, env: Mapping[str, str]) -> dict[str, str]:
    """The settings a profile contributes, in environment-variable form.

    The profile's credentials step aside when the environment already brings its own (a
    ``D365_ACCESS_TOKEN`` in CI beats a saved device-code login).
    """
    values: dict[str, str] = {"D365_URL": profile.url}
    env_has_credentials = any(env.get(v) for v in _CREDENTIAL_VARS) or bool(env.get("D365_AUTH"))
    if env_has_credentials:
        return values
    if profile.auth and profile.auth != "auto":
        values["D365_AUTH"] = profile.auth
    if profile.tenant_id:
        values["AZURE_TENANT_ID"] = profile.tenant_id
    if profile.client_id:
        values["AZURE_CLIENT_ID"] = profile.client_id
    if profile.certificate_path:
        values["AZURE_CLIENT_CERTIFICATE_PATH"] = profile.certificate_path
    if profile.token_cache_path:
        values["D365_TOKEN_CACHE"] = profile.token_cache_path
    secret = profile.client_secret(env)
    if secret:
        values["AZURE_CLIENT_SECRET"] = secret
    return values


@dataclass
class State:
    """Global options of one invocation, plus lazily built helpers for commands."""

    url: str | None = None
    profile: str | None = None
    output_format: str | None = None
    debug: bool = False
    color: bool = True
    env: Mapping[str, str] | None = field(default=None, repr=False)
    store: ProfileStore | None = None
    record: Path | None = None
    query: jmespath.parser.ParsedResult | None = None
    wide: bool = False
    raw_csv: bool = False
    _clients: list[DataverseClient] = field(default_factory=list, repr=False)
    _recorders: list[RecordingTransport] = field(default_factory=list, repr=False)

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment variables in effect (``os.environ`` unless injected)."""
        return os.environ if self.env is None else self.env

    def profiles(self) -> ProfileStore:
        """The profile store (``D365LEADS_CONFIG_DIR`` or the per-user config dir)."""
        if self.store is None:
            from d365leads.cli.profiles import config_dir

            self.store = ProfileStore(config_dir(self.environ))
        return self.store

    def selected_profile(self) -> Profile | None:
        """``--profile``, else ``D365_PROFILE``, else the default profile (if any)."""
        name = self.profile or self.environ.get(PROFILE_ENV) or None
        return self.profiles().find(name)

    @property
    def out(self) -> Output:
        """The output renderer for this invocation's ``-o`` choice."""
        return Output(
            resolve_format(self.output_format),
            color=self.color,
            query=self.query,
            wide=self.wide,
            raw_csv=self.raw_csv,
        )

    def settings(self, **overrides: Any) -> Settings:
        """Resolve settings: flags > environment > profile > defaults.

        Raises :class:`~d365leads.errors.ConfigError` naming the missing variable.
        """
        env = dict(self.environ)
        profile = self.selected_profile()
        merged: dict[str, str] = {}
        if profile is not None:
            merged.update(profile_env(profile, env))
        merged.update({k: v for k, v in env.items() if k in ENV_VARS.values() and v.strip()})
        flag_values: dict[str, Any] = {"url": self.url}
        flag_values.update(overrides)
        if not self.url and "D365_URL" not in merged:
            from d365leads.errors import ConfigError

            raise ConfigError(
                "no org URL: pass --url https://<org>.crm.dynamics.com, set D365_URL, or save a "
                "profile with 'd365leads auth login --url ...'",
                setting="D365_URL",
            )
        return Settings.from_env(merged, **flag_values)

    def client(
        self, *, prompt: Callable[[str], None] | None = None, **overrides: Any
    ) -> DataverseClient:
        """Build a :class:`~d365leads.client.DataverseClient` from the resolved settings.

        The client is closed when the command finishes. With ``--record FILE`` its traffic
        is recorded (redacted as it happens) and the cassette is written on close.
        """
        from d365leads.auth import token_provider_from_settings
        from d365leads.client import DataverseClient

        settings = self.settings(**overrides)
        provider = token_provider_from_settings(settings, prompt=prompt or self.device_code_prompt)
        extra: dict[str, Any] = {}
        if self.record is not None:
            from d365leads.http.recording import RecordingTransport
            from d365leads.http.transport import RequestsTransport

            inner = RequestsTransport(
                pool_size=settings.pool_size, keep_affinity=settings.keep_affinity
            )
            shared = self._recorders[0].redactor if self._recorders else None
            recorder = RecordingTransport(inner, settings.url, redactor=shared, path=self.record)
            self._recorders.append(recorder)
            extra["transport"] = recorder
        client = DataverseClient(settings.url, token_provider=provider, settings=settings, **extra)
        self._clients.append(client)
        return client

    def device_code_prompt(self, message: str) -> None:
        """Show device-code sign-in instructions, or fail (exit 3) when nobody can act on them."""
        # A command (not 'auth login') found no usable cached sign-in. Waiting for a person to
        # enter a device code only makes sense when one is at the keyboard; in CI it would hang.
        stdin = sys.stdin
        isatty = getattr(stdin, "isatty", None)
        if not (callable(isatty) and isatty()):
            from d365leads.errors import AuthError

            raise AuthError(
                "the saved device-code sign-in has expired or was removed, and this session is "
                "not interactive: run 'd365leads auth login --device-code' in a terminal"
            )
        click.echo(message, err=True)

    def close(self) -> None:
        """Close every client this invocation opened; write the ``--record`` cassette."""
        while self._clients:
            self._clients.pop().close()
        if self.record is not None and self._recorders:
            cassette = self._recorders[0].cassette()
            cassette.interactions = [i for r in self._recorders for i in r.interactions]
            self._recorders.clear()
            try:
                cassette.save(self.record)
            except OSError as exc:
                where = f": {exc.filename}" if exc.filename else ""
                hint = f"{exc.strerror or exc}{where}"
                raise click.FileError(str(self.record), hint=hint) from None

    def install_logging(self) -> Callable[[], None]:
        """Send library logs to stderr: warnings always, the HTTP exchange with ``--debug``.

        Secrets are redacted by the filter. Returns a function that removes the handler.
        """
        logger = logging.getLogger("d365leads")
        handler = logging.StreamHandler(sys.stderr)
        prefix = "debug: %(name)s: " if self.debug else "%(levelname)s: "
        handler.setFormatter(logging.Formatter(prefix + "%(message)s"))
        handler.addFilter(RedactingFilter())
        handler.setLevel(logging.DEBUG if self.debug else logging.WARNING)
        previous = logger.level
        logger.addHandler(handler)
        if self.debug:
            logger.setLevel(logging.DEBUG)

        def undo() -> None:
            logger.removeHandler(handler)
            logger.setLevel(previous)

        return undo


pass_state = click.make_pass_decorator(State, ensure=True)
