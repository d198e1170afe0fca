"""``--identity``: the identities a bulk job runs as (one token provider and throttle each).

An identity is written one of three ways:

* ``PROFILE``: a saved profile (``d365leads auth login --profile NAME``);
* ``CLIENT_ID=env:VAR``: an app registration whose client secret is in the environment variable
  ``VAR`` (never on the command line, where other users of the machine could read it);
* ``CLIENT_ID=cert:PATH``: an app registration signing in with the PEM certificate at ``PATH``.

Any of them may end in ``@caller=OBJECT_ID`` to act as another user (an application user, say)
through ``CallerObjectId``, or ``@systemuser=SYSTEMUSERID`` through the older
``MSCRMCallerID``: ``--identity app@caller=<guid1> --identity app@caller=<guid2>`` runs one
app registration as two users (the signing-in user needs ``prvActOnBehalfOfAnotherUser``).
Such an identity is named ``NAME@<guid>`` in the journal and report.

The tenant and org come from the usual settings (flags, environment, profile).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from d365leads.bulk.identities import Identity
from d365leads.cli.context import State
from d365leads.cli.errors import UsageProblem
from d365leads.client import DataverseClient
from d365leads.errors import InvalidIdError
from d365leads.odata.literals import normalize_guid
from d365leads.redaction import Secret

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "IdentitySpec",
    "default_identity_name",
    "identity_clients",
    "identity_option",
    "open_identities",
    "parse_identity",
]


def identity_option() -> Callable[[F], F]:
    """The repeatable ``--identity`` option."""
    return click.option(
        "--identity",
        "identity",
        multiple=True,
        metavar="PROFILE|CLIENT_ID=env:VAR|CLIENT_ID=cert:PATH[@caller=OBJECT_ID]",
        help="Run as this identity; repeat to share the job between several application "
        "users, each with its own limits (work goes to whichever is admitted faster). "
        "Append @caller=OBJECT_ID to act as that user through CallerObjectId (or "
        "@systemuser=ID for MSCRMCallerID); this needs the prvActOnBehalfOfAnotherUser "
        "privilege.",
    )


def default_identity_name(state: State) -> str:
    """The name the one identity of a run goes by in a shared journal: its profile, or default."""
    return state.profile or state.environ.get("D365_PROFILE") or "default"


@dataclass(frozen=True)
class IdentitySpec:
    """One parsed ``--identity`` value (holds no secret: only where to find it)."""

    name: str
    profile: str | None = None
    client_id: str | None = None
    secret_env: str | None = None
    certificate: Path | None = None
    caller_object_id: str | None = None
    caller_systemuser_id: str | None = None


_CALLER_KINDS = ("caller", "systemuser")


def parse_identity(text: str) -> IdentitySpec:
    """Parse ``PROFILE``, ``CLIENT_ID=env:VAR`` or ``CLIENT_ID=cert:PATH``, each optionally
    followed by ``@caller=OBJECT_ID`` or ``@systemuser=SYSTEMUSERID``."""
    value = text.strip()
    base, at, impersonated = value.rpartition("@")
    if not at or "=" not in impersonated or impersonated.split("=", 1)[0] not in _CALLER_KINDS:
        return _parse_sign_in(value)
    kind, _, raw = impersonated.partition("=")
    try:
        caller = normalize_guid(raw, what=f"@{kind}= of --identity {base or '?'}")
    except InvalidIdError as exc:
        raise UsageProblem(str(exc)) from exc
    spec = _parse_sign_in(base)
    name = f"{spec.name}@{caller}"
    if kind == "caller":
        return dataclasses.replace(spec, name=name, caller_object_id=caller)
    return dataclasses.replace(spec, name=name, caller_systemuser_id=caller)


def _parse_sign_in(value: str) -> IdentitySpec:
    value = value.strip()
    if not value:
        raise UsageProblem(
            "--identity needs a value: PROFILE, CLIENT_ID=env:VAR or CLIENT_ID=cert:PATH "
            "(optionally followed by @caller=OBJECT_ID)"
        )
    if "=" not in value:
        return IdentitySpec(name=value, profile=value)
    client_id, _, where = value.partition("=")
    kind, _, arg = where.partition(":")
    client_id = client_id.strip()
    if not client_id or not arg.strip() or kind not in ("env", "cert"):
        raise UsageProblem(
            f"--identity {client_id or '?'}=...: write CLIENT_ID=env:VAR (the secret is in "
            "the environment variable VAR) or CLIENT_ID=cert:PATH (a PEM certificate)"
        )
    if kind == "env":
        return IdentitySpec(name=client_id, client_id=client_id, secret_env=arg.strip())
    return IdentitySpec(name=client_id, client_id=client_id, certificate=Path(arg.strip()))


def open_identities(state: State, specs: list[IdentitySpec], **overrides: Any) -> list[Identity]:
    """Build one client per identity (closed with the command); return their sessions."""
    return [identity for identity, _ in identity_clients(state, specs, **overrides)]


def identity_clients(
    state: State, specs: list[IdentitySpec], **overrides: Any
) -> list[tuple[Identity, DataverseClient]]:
    """One client per identity (closed with the command), with the identity it sends as."""
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageProblem(f"--identity {', '.join(duplicates)} is given more than once")
    identities: list[tuple[Identity, DataverseClient]] = []
    for spec in specs:
        extra: dict[str, Any] = dict(overrides)
        if spec.profile is not None:
            # A copy of the invocation's state that selects this profile and shares its
            # list of clients, so they are closed with the command.
            source = dataclasses.replace(state, profile=spec.profile, _clients=state._clients)
        else:
            source = state
            extra["client_id"] = spec.client_id
            if spec.secret_env is not None:
                secret = state.environ.get(spec.secret_env, "")
                if not secret.strip():
                    raise UsageProblem(
                        f"--identity {spec.name}: the environment variable {spec.secret_env} "
                        "holding its client secret is not set"
                    )
                extra.update(auth="client-secret", client_secret=Secret(secret.strip()))
            else:
                assert spec.certificate is not None
                if not spec.certificate.is_file():
                    raise UsageProblem(
                        f"--identity {spec.name}: no certificate file {spec.certificate}"
                    )
                extra.update(auth="certificate", client_certificate_path=spec.certificate)
        client = source.client(**extra)
        identity = Identity(
            spec.name,
            client.session,
            caller_object_id=spec.caller_object_id,
            caller_systemuser_id=spec.caller_systemuser_id,
        )
        identities.append((identity, client))
    return identities
