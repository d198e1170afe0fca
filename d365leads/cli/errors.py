"""The one place where exceptions become a one-line message and an exit code.

Exit codes (documented in ``d365leads --help`` and the README):

====  ==========================================================================
0     everything worked
1     unexpected error (or Dataverse refused the request for a non-auth reason)
2     usage or configuration error, bad input, or ``--yes`` missing when not interactive
3     authentication or permission problem
4     partial failure: the job finished but some records failed (report written)
5     stopped with a checkpoint saved (time budget reached, token expired, ...)
130   interrupted (Ctrl-C)
====  ==========================================================================

Commands raise library exceptions (:mod:`d365leads.errors`) or the :class:`CliExit` family
below; :func:`describe` turns any of them into ``(exit_code, message)``. Expected failures never
print a traceback; ``--debug`` adds one for unexpected errors.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import IO

import click

from d365leads import errors as e
from d365leads.redaction import redact_text

__all__ = [
    "EXIT_AUTH",
    "EXIT_CHECKPOINT",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "CliExit",
    "ConfirmationRequired",
    "Failure",
    "PartialFailure",
    "StoppedWithCheckpoint",
    "UsageProblem",
    "describe",
    "report",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_PARTIAL = 4
EXIT_CHECKPOINT = 5
EXIT_INTERRUPTED = 130


class CliExit(Exception):
    """Stop the command with ``exit_code`` after printing ``message`` (and ``hint``) to stderr."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Failure(CliExit):
    """A command failed in an expected way (exit 1, no traceback)."""

    exit_code = EXIT_ERROR


class UsageProblem(CliExit):
    """Bad arguments or configuration that click itself cannot detect (exit 2)."""

    exit_code = EXIT_USAGE


class ConfirmationRequired(CliExit):
    """A destructive command needs ``--yes`` because stdin is not interactive (exit 2)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(
            message
            or "this command changes data and needs confirmation, but stdin is not a terminal",
            hint=hint or "pass --yes to confirm, or --dry-run to see the plan first",
        )


class PartialFailure(CliExit):
    """The job finished but some records failed (exit 4)."""

    exit_code = EXIT_PARTIAL


class StoppedWithCheckpoint(CliExit):
    """The job stopped early and saved a checkpoint it can resume from (exit 5)."""

    exit_code = EXIT_CHECKPOINT


@dataclass(frozen=True)
class _Rule:
    exit_code: int
    hint: str | None


# Most specific class first: the first isinstance match wins.
_RULES: list[tuple[type[BaseException], _Rule]] = [
    (e.ConfigError, _Rule(EXIT_USAGE, None)),
    (
        e.UnauthorizedError,
        _Rule(
            EXIT_AUTH,
            "the token is missing, expired or for another org: run 'd365leads auth login' "
            "again or refresh D365_ACCESS_TOKEN",
        ),
    ),
    (
        e.PermissionDeniedError,
        _Rule(
            EXIT_AUTH,
            "the signed-in user lacks a privilege: ask an administrator to add it to their "
            "security role",
        ),
    ),
    (
        e.AuthError,
        _Rule(EXIT_AUTH, "check the app registration and credentials, then 'd365leads auth login'"),
    ),
    (
        e.InvalidIdError,
        _Rule(EXIT_USAGE, "record ids are GUIDs such as 3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
    ),
    (
        e.LeadClosedError,
        _Rule(EXIT_USAGE, "to work on it again, run: d365leads leads reactivate ID"),
    ),
    (
        e.InactiveRecordError,
        _Rule(EXIT_USAGE, "reactivate it first, or pass --force to edit it anyway"),
    ),
    (
        e.NoCustomerError,
        _Rule(
            EXIT_USAGE,
            "let qualify create an account or contact, or pass --customer account:ID",
        ),
    ),
    (e.InvalidStatusError, _Rule(EXIT_USAGE, None)),
    (e.InvalidInputError, _Rule(EXIT_USAGE, None)),
    (
        e.NotFoundError,
        _Rule(EXIT_ERROR, "check the id, for example with 'd365leads leads list'"),
    ),
    (
        e.InvalidStateTransitionError,
        _Rule(
            EXIT_ERROR,
            "the status reason does not fit the record's state; see 'd365leads leads show ID'",
        ),
    ),
    (
        e.PreconditionFailedError,
        _Rule(EXIT_ERROR, "someone changed the record since it was read; read it and try again"),
    ),
    (e.DuplicateRecordError, _Rule(EXIT_ERROR, "a matching record already exists")),
    (
        e.ThrottledError,
        _Rule(
            EXIT_ERROR,
            "Dataverse service protection limits were hit; wait and retry, or lower --concurrency",
        ),
    ),
    (e.NotSupportedError, _Rule(EXIT_ERROR, None)),
    (
        e.ServerError,
        _Rule(EXIT_ERROR, "Dataverse failed; retry later and quote the request id to support"),
    ),
    (e.HTTPError, _Rule(EXIT_ERROR, None)),
    (
        e.RequestTimeoutError,
        _Rule(
            EXIT_ERROR,
            "no answer in time; a write may have been applied, so check before retrying",
        ),
    ),
    (
        e.TransportError,
        _Rule(
            EXIT_ERROR, "could not reach Dataverse: check the URL (--url / D365_URL) and network"
        ),
    ),
    (e.BulkJobError, _Rule(EXIT_USAGE, None)),
    (e.SyncError, _Rule(EXIT_USAGE, None)),
    (e.BatchError, _Rule(EXIT_ERROR, None)),
    (e.DataverseError, _Rule(EXIT_ERROR, None)),
]


def _scrub(text: str) -> str:
    # Last line of defence: a message built from a server answer or a library error must not
    # carry a bearer token, a JWT or a secret-looking key=value pair.
    return redact_text(text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _http_message(exc: e.HTTPError) -> str:
    code = f" {exc.code}" if exc.code else ""
    text = f"Dataverse answered HTTP {exc.status}{code}: {exc.message}"
    if exc.method and exc.url:
        # the query string (long $select lists) is in the --debug log; keep this line short
        text += f" ({exc.method} {exc.url.split('?', 1)[0]})"
    if exc.request_id:
        text += f" [request id {exc.request_id}]"
    return text


def describe(exc: BaseException) -> tuple[int, str]:
    """Return ``(exit_code, one-line message)`` for an exception raised by a command."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "Interrupted."
    if isinstance(exc, CliExit):
        return exc.exit_code, _format(exc.message, exc.hint)
    for cls, rule in _RULES:
        if isinstance(exc, cls):
            message = _http_message(exc) if isinstance(exc, e.HTTPError) else str(exc)
            hint = rule.hint
            if isinstance(exc, e.InactiveRecordError):
                message = exc.message_for("--force")
                if exc.names_override:
                    hint = None
            if isinstance(exc, e.ConfigError) and hint is None and exc.setting:
                hint = f"set {exc.setting}, pass the matching option, or use a saved profile"
            return rule.exit_code, _format(message, hint)
    name = type(exc).__name__
    return EXIT_ERROR, _format(
        f"unexpected error: {name}: {exc}", "re-run with --debug to see the traceback"
    )


def _format(message: str, hint: str | None) -> str:
    text = f"Error: {_one_line(_scrub(message)) or 'failed'}"
    if hint:
        text += f" (hint: {hint})"
    return text


def _expected(exc: BaseException) -> bool:
    return isinstance(exc, CliExit | e.DataverseError | KeyboardInterrupt)


def report(exc: BaseException, *, debug: bool = False, file: IO[str] | None = None) -> int:
    """Print the message for ``exc`` on stderr and return the exit code to use."""
    code, message = describe(exc)
    if debug and not _expected(exc):
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        click.echo(_scrub(tb), file=file, err=file is None)
    click.echo(message, file=file, err=file is None)
    return code
