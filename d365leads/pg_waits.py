"""Bounded waits for a PostgreSQL engine: a broken or hostile server never hangs the client.

:class:`PgWaits` holds four limits, each set on every connection the engine opens:

* ``connect_timeout``: how long opening a connection may take (libpq's own setting; it
  counts whole seconds and treats anything below 2 as 2);
* ``statement_timeout``: how long the server lets one statement run before it cancels it;
* ``lock_timeout``: how long a statement may wait for a lock another session holds
  (``FOR UPDATE SKIP LOCKED`` never waits, so it is not affected);
* TCP keepalives (``keepalives_idle``, ``keepalives_interval``, ``keepalives_count``, and a
  ``tcp_user_timeout`` derived from them), so a dead server or network is noticed within
  ``idle + interval * count`` seconds instead of the operating system's two hours or more
  (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-KEEPALIVES).

Each can be given in the database URL's query, in seconds (``?statement_timeout=30``), which
wins over the values passed through the library API.  What these cannot bound is a server
that keeps its TCP connection alive but never answers: no PostgreSQL setting covers that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import OperationalError

from d365leads.errors import ConfigError, DataverseError

__all__ = ["PgWaitError", "PgWaits", "explain_wait"]

_QUERY_KEYS = {
    "connect_timeout": "connect_s",
    "statement_timeout": "statement_s",
    "lock_timeout": "lock_s",
    "keepalives_idle": "keepalive_idle_s",
    "keepalives_interval": "keepalive_interval_s",
    "keepalives_count": "keepalive_count",
}
_QUERY_OF = {attr: key for key, attr in _QUERY_KEYS.items()}


@dataclass(frozen=True)
class PgWaits:
    """How long a PostgreSQL connection may wait on the server (seconds; counts for ``*_count``).

    Defaults: connect 10 s, statement 60 s, lock 10 s, keepalives after 15 s idle, every 5 s,
    3 unanswered probes (a dead peer is noticed within 30 s).
    """

    connect_s: float = 10.0
    statement_s: float = 60.0
    lock_s: float = 10.0
    keepalive_idle_s: float = 15.0
    keepalive_interval_s: float = 5.0
    keepalive_count: int = 3

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{_QUERY_OF[field.name]} must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(
                    f"{_QUERY_OF[field.name]} must be a positive number of "
                    f"{'probes' if field.name == 'keepalive_count' else 'seconds'}, got {value!r}"
                )

    def resolve(self, url: sa.URL) -> tuple[PgWaits, sa.URL]:
        """The waits ``url``'s query sets over these ones, and the URL without those settings.

        A bad value raises :class:`ConfigError` naming its setting.
        """
        given: dict[str, Any] = {}
        for key, attr in _QUERY_KEYS.items():
            if key not in url.query:
                continue
            text = _last(url.query[key])
            try:
                given[attr] = int(text) if attr == "keepalive_count" else float(text)
            except ValueError:
                raise ConfigError(
                    f"{key} in the database URL must be a number of "
                    f"{'probes' if attr == 'keepalive_count' else 'seconds'}, got {text!r}"
                ) from None
        waits = replace(self, **given) if given else self
        return waits, url.difference_update_query(list(_QUERY_KEYS))

    def connect_args(self, options: str | None = None) -> dict[str, Any]:
        """psycopg's connection arguments for these waits; ``options`` (libpq's, such as the
        URL's own) go after the timeouts, so their ``-c`` settings win."""
        joined = f"-c statement_timeout={_ms(self.statement_s)} -c lock_timeout={_ms(self.lock_s)}"
        if options:
            joined += " " + options
        dead_after = self.keepalive_idle_s + self.keepalive_interval_s * self.keepalive_count
        return {
            "connect_timeout": _whole_s(self.connect_s),
            "options": joined,
            "keepalives": 1,
            "keepalives_idle": _whole_s(self.keepalive_idle_s),
            "keepalives_interval": _whole_s(self.keepalive_interval_s),
            "keepalives_count": self.keepalive_count,
            # Keepalives stay silent while sent data waits for its ACK; this bounds that case.
            "tcp_user_timeout": _ms(dead_after),
        }

    def engine(self, url: sa.URL, **kwargs: Any) -> tuple[sa.Engine, PgWaits]:
        """A SQLAlchemy engine for the PostgreSQL ``url`` whose connections keep to the waits
        (the URL's query over these), and those waits."""
        waits, url = self.resolve(url)
        options = url.query.get("options")
        url = url.difference_update_query(["options"])
        args = waits.connect_args(_last(options) if options else None)
        engine = sa.create_engine(url, connect_args=args, **kwargs)
        what = f"the database {url.render_as_string(hide_password=True)}"

        def name_the_limit(context: ExceptionContext) -> None:
            error = context.sqlalchemy_exception
            why = explain_wait(context.original_exception, waits, what)
            if why is not None and isinstance(error, sa.exc.DBAPIError):
                raise PgWaitError(why, error.statement, error.params, context.original_exception)

        sa.event.listen(engine, "handle_error", name_the_limit)
        return engine, waits


class PgWaitError(OperationalError, DataverseError):
    """A wait on the server ran past one of :class:`PgWaits`' limits.

    Still an :class:`~sqlalchemy.exc.OperationalError`, so code that retries database errors
    retries it; its message names the limit and the setting that raises it.
    """

    def __init__(self, why: str, statement: str | None, params: Any, orig: BaseException) -> None:
        super().__init__(statement, params, orig, hide_parameters=True)
        self.why = why

    def __reduce__(self) -> Any:
        return (PgWaitError, (self.why, self.statement, self.params, self.orig))

    def __str__(self) -> str:
        return self.why


def _last(value: str | tuple[str, ...]) -> str:
    return value[-1] if isinstance(value, tuple) else value


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _whole_s(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def explain_wait(exc: BaseException, waits: PgWaits, what: str) -> str | None:
    """A sentence for a database error that is one of ``waits``' limits running out, else None.

    ``what`` names the database for the user ("the job journal postgresql://...").
    """
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None)
    if state == "57014" and "statement timeout" in str(orig):
        return (
            f"{what}: a statement ran past statement_timeout ({waits.statement_s:g} s) and the "
            "server cancelled it; the database is overloaded or a lock is held for long (see "
            "pg_stat_activity), or raise ?statement_timeout=SECONDS in the database URL"
        )
    if state == "55P03":
        return (
            f"{what}: waited past lock_timeout ({waits.lock_s:g} s) for a lock another session "
            "holds; find that session in pg_locks / pg_stat_activity, or raise "
            "?lock_timeout=SECONDS in the database URL"
        )
    text = str(orig).lower()
    if state is None and "timeout expired" in text:
        return (
            f"{what}: no connection within connect_timeout ({waits.connect_s:g} s); check the "
            "host and port and that the server is up, or raise ?connect_timeout=SECONDS in the "
            "database URL"
        )
    return None
