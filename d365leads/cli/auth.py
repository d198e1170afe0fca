"""``d365leads auth``: sign in, save profiles, show and forget them."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from d365leads.cli.context import State, pass_state
from d365leads.cli.errors import UsageProblem
from d365leads.cli.profiles import Profile, complete_profile, config_dir, keyring_available
from d365leads.config import Settings
from d365leads.redaction import Secret

__all__ = ["auth"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GUID_OR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*$")


def _secret_or_none(value: str | None) -> Secret | None:
    return Secret(value) if value else None


def _token_cache_for(name: str, state: State) -> Path:
    return config_dir(state.environ) / "token-cache" / f"{name}.json"


def _check_name(value: str, what: str) -> str:
    if not _GUID_OR_NAME.match(value):
        raise UsageProblem(f"{what} {value!r} is not valid", hint="use the GUID or domain name")
    return value


def _show_prompt(message: str) -> None:
    click.echo(message, err=True)


def _whoami(
    state: State, settings: Settings, prompt: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Sign in with ``settings`` and call WhoAmI; ``prompt`` shows device-code instructions."""
    from d365leads.auth import token_provider_from_settings
    from d365leads.client import DataverseClient

    provider = token_provider_from_settings(settings, prompt=prompt or state.device_code_prompt)
    with DataverseClient(settings.url, token_provider=provider, settings=settings) as client:
        me = client.whoami()
    return {
        "user_id": str(me.user_id),
        "business_unit_id": str(me.business_unit_id),
        "organization_id": str(me.organization_id),
    }


@click.group()
def auth() -> None:
    """Sign in to an org and manage saved profiles."""


@auth.command("login")
@click.option("--url", "login_url", metavar="URL", help="Org URL (or the global --url).")
@click.option(
    "--profile",
    "profile_name",
    metavar="NAME",
    help="Profile name to save (default: the global --profile, else 'default').",
)
@click.option("--device-code", is_flag=True, help="Sign in as a person with a device code.")
@click.option("--client-id", metavar="ID", help="App registration (client) id.")
@click.option("--tenant", metavar="ID", help="Tenant id or domain of the app registration.")
@click.option(
    "--secret-env",
    metavar="VAR",
    help="Name of the environment variable holding the client secret (the secret is not saved).",
)
@click.option(
    "--secret-stdin",
    is_flag=True,
    help="Read the client secret from stdin and keep it in the OS keyring (needs 'keyring').",
)
@click.option(
    "--certificate",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file with the app's certificate and private key.",
)
@click.option("--no-verify", is_flag=True, help="Save the profile without signing in now.")
@pass_state
def login(
    state: State,
    login_url: str | None,
    profile_name: str | None,
    device_code: bool,
    client_id: str | None,
    tenant: str | None,
    secret_env: str | None,
    secret_stdin: bool,
    certificate: Path | None,
    no_verify: bool,
) -> None:
    """Sign in and save a profile (no secret is ever written to disk).

    \b
    Person:       d365leads auth login --url URL --device-code
    Application:  d365leads auth login --url URL --client-id ID --tenant T --secret-env VAR
                  d365leads auth login --url URL --client-id ID --tenant T --certificate app.pem
    """
    env = state.environ
    chosen = [
        flag
        for flag, on in (
            ("--device-code", device_code),
            ("--secret-env", secret_env is not None),
            ("--secret-stdin", secret_stdin),
            ("--certificate", certificate is not None),
        )
        if on
    ]
    if len(chosen) != 1:
        raise UsageProblem(
            "choose exactly one way to sign in"
            + (f" (got {' and '.join(chosen)})" if chosen else ""),
            hint="--device-code, --secret-env VAR, --secret-stdin or --certificate FILE",
        )
    name = profile_name or state.profile or "default"
    existing = state.profiles().find(name) if name in state.profiles().names() else None
    url = login_url or state.url or env.get("D365_URL") or (existing.url if existing else None)
    if not url:
        raise UsageProblem(
            "no org URL to sign in to",
            hint="pass --url https://<org>.crm.dynamics.com or set D365_URL",
        )
    client_id = client_id or env.get("AZURE_CLIENT_ID") or None
    tenant = tenant or env.get("AZURE_TENANT_ID") or None
    if client_id:
        _check_name(client_id, "--client-id")
    if tenant:
        _check_name(tenant, "--tenant")

    profile = Profile(name=name, url=url, tenant_id=tenant, client_id=client_id)
    secret: str | None = None
    if device_code:
        profile.auth = "device-code"
        profile.token_cache_path = str(_token_cache_for(name, state))
    else:
        missing = [f for f, v in (("--client-id", client_id), ("--tenant", tenant)) if not v]
        if missing:
            raise UsageProblem(
                f"an application sign-in needs {' and '.join(missing)}",
                hint="pass them or set AZURE_CLIENT_ID / AZURE_TENANT_ID",
            )
        if certificate is not None:
            profile.auth = "certificate"
            profile.certificate_path = str(certificate.resolve())
        else:
            profile.auth = "client-secret"
            if secret_env is not None:
                if not _ENV_NAME.match(secret_env):
                    raise UsageProblem(
                        f"--secret-env wants the NAME of a variable, not {secret_env[:3]}...",
                        hint="e.g. --secret-env MY_APP_SECRET, with MY_APP_SECRET exported",
                    )
                profile.secret_env = secret_env
                secret = env.get(secret_env) or None
                if secret is None and not no_verify:
                    raise UsageProblem(
                        f"${secret_env} is not set, so the sign-in cannot be checked",
                        hint=f"export {secret_env}=<client secret>, or pass --no-verify",
                    )
            else:
                if not keyring_available():
                    raise UsageProblem(
                        "--secret-stdin keeps the secret in the OS keyring, but the 'keyring' "
                        "package is not installed",
                        hint="pip install keyring, or use --secret-env VAR",
                    )
                stdin = sys.stdin
                if stdin.isatty():
                    secret = click.prompt("Client secret", hide_input=True, err=True).strip()
                else:
                    secret = stdin.readline().strip()
                if not secret:
                    raise UsageProblem("no client secret on stdin")

    user: dict[str, Any] = {}
    if not no_verify:
        settings = Settings(
            url=profile.url,
            auth=profile.auth,
            tenant_id=profile.tenant_id,
            client_id=profile.client_id,
            client_secret=Secret(secret) if secret else None,
            client_certificate_path=(
                Path(profile.certificate_path) if profile.certificate_path else None
            ),
            client_certificate_password=_secret_or_none(
                env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD")
            ),
            token_cache_path=(Path(profile.token_cache_path) if profile.token_cache_path else None),
        )
        user = _whoami(state, settings, _show_prompt)
    if secret_stdin and secret:
        profile.store_secret(secret)
    state.profiles().save(profile)
    state.out.info(
        f"Saved profile {name!r} for {profile.url}"
        + (f", signed in as user {user['user_id']}" if user else " (not verified)")
        + "."
    )
    state.out.record({"profile": name, "url": profile.url, "auth": profile.auth, **user})


def _secret_source(profile: Profile | None, env: Any) -> str:
    if env.get("D365_ACCESS_TOKEN"):
        return "$D365_ACCESS_TOKEN"
    if env.get("AZURE_CLIENT_SECRET"):
        return "$AZURE_CLIENT_SECRET"
    if profile is not None and profile.secret_env:
        return f"${profile.secret_env}"
    if profile is not None and profile.secret_in_keyring:
        return "OS keyring"
    return ""


def _effective_auth(settings: Settings) -> str:
    if settings.auth != "auto":
        return settings.auth
    if settings.access_token:
        return "static"
    if settings.client_secret:
        return "client-secret"
    if settings.client_certificate_path:
        return "certificate"
    return "none"


@auth.command("status")
@click.option("--offline", is_flag=True, help="Only show the settings; do not sign in.")
@pass_state
def status(state: State, offline: bool) -> None:
    """Show which org, profile and credentials are in effect, and check the sign-in."""
    profile = state.selected_profile()
    settings = state.settings()
    info: dict[str, Any] = {
        "profile": profile.name if profile else None,
        "url": settings.url,
        "auth": _effective_auth(settings),
        "tenant_id": settings.tenant_id,
        "client_id": settings.client_id,
        "secret_from": _secret_source(profile, state.environ) or None,
        "certificate": str(settings.client_certificate_path or "") or None,
        "token_cache": str(settings.token_cache_path or "") or None,
    }
    if not offline:
        info.update(_whoami(state, settings))
        info["signed_in"] = True
    state.out.record({k: v for k, v in info.items() if v is not None})


@auth.command("logout")
@click.option("--forget", is_flag=True, help="Also delete the saved profile itself.")
@pass_state
def logout(state: State, forget: bool) -> None:
    """Delete the cached sign-in (token cache, keyring secret) of the selected profile."""
    profile = state.selected_profile()
    if profile is None:
        raise UsageProblem(
            "no profile selected and no default profile saved",
            hint="pass --profile NAME (see 'd365leads auth profiles')",
        )
    removed: list[str] = []
    if profile.token_cache_path:
        cache = Path(profile.token_cache_path)
        if cache.exists():
            cache.unlink()
            removed.append(f"token cache {cache}")
    if profile.forget_secret():
        removed.append("keyring secret")
    if forget:
        state.profiles().remove(profile.name)
        removed.append(f"profile {profile.name!r}")
    state.out.info(
        f"Signed out of {profile.name!r}: "
        + (", ".join(removed) if removed else "nothing cached")
        + " removed."
    )
    state.out.record({"profile": profile.name, "removed": removed})


@auth.command("profiles")
@pass_state
def profiles(state: State) -> None:
    """List saved profiles (the default one is marked)."""
    store = state.profiles()
    default = store.default_name()
    rows = [
        {
            "name": p.name,
            "default": p.name == default,
            "url": p.url,
            "auth": p.auth,
            "client_id": p.client_id,
            "tenant_id": p.tenant_id,
            "secret_from": f"${p.secret_env}"
            if p.secret_env
            else ("OS keyring" if p.secret_in_keyring else None),
        }
        for p in store.all()
    ]
    state.out.rows(
        rows, ["name", "default", "url", "auth", "client_id", "tenant_id", "secret_from"]
    )


@auth.command("use")
@click.argument("name", shell_complete=complete_profile)
@pass_state
def use(state: State, name: str) -> None:
    """Make NAME the default profile."""
    state.profiles().set_default(name)
    state.out.info(f"Default profile is now {name!r}.")
