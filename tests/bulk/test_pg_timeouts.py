"""The PostgreSQL journal's waits on its server are bounded: nothing it does hangs a worker."""

from __future__ import annotations

import contextlib
import logging
import pickle
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from d365leads.bulk.dop_share import DopShare
from d365leads.bulk.journal_pg import PgJournal
from d365leads.bulk.journal_url import open_journal
from d365leads.errors import BulkJobError, ConfigError, DataverseError, SyncError
from d365leads.fake import FakeDataverse
from d365leads.pg_waits import PgWaitError, PgWaits, explain_wait
from d365leads.sync.target import SYNC_PG_WAITS, SyncTarget

from .conftest import CapsRecorder, make_client
from .pg_server import bulk_pg_server, pg_journal_url

__all__ = ["bulk_pg_server", "pg_journal_url"]


def _with_query(url: str, **query: str) -> str:
    parsed = sa.make_url(url).update_query_dict(query)
    return parsed.render_as_string(hide_password=False)


def _show(engine: sa.Engine, setting: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text(f"SHOW {setting}")).scalar_one())


@pytest.fixture
def locker(pg_journal_url: str) -> Iterator[sa.Connection]:
    """A connection of another session, for taking locks the journal then waits on."""
    engine = sa.create_engine(sa.make_url(pg_journal_url).set(drivername="postgresql+psycopg"))
    with engine.connect() as conn:
        yield conn
        conn.rollback()
    engine.dispose()


# the settings, as parsed from a URL and handed to the driver


def test_the_url_query_sets_the_waits_over_the_api_and_reaches_the_driver() -> None:
    url = sa.make_url(
        "postgresql+psycopg://u@db.example.com/jobs?statement_timeout=2.5&keepalives_count=5"
        "&options=-c%20work_mem%3D8MB&sslmode=require"
    )
    waits, rest = PgWaits(lock_s=3).resolve(url)
    assert waits == PgWaits(statement_s=2.5, lock_s=3, keepalive_count=5)
    assert dict(rest.query) == {"options": "-c work_mem=8MB", "sslmode": "require"}
    args = waits.connect_args("-c work_mem=8MB")
    assert args == {
        "connect_timeout": 10,
        "options": "-c statement_timeout=2500 -c lock_timeout=3000 -c work_mem=8MB",
        "keepalives": 1,
        "keepalives_idle": 15,
        "keepalives_interval": 5,
        "keepalives_count": 5,
        "tcp_user_timeout": 40000,  # 15 s idle + 5 probes 5 s apart
    }
    assert PgWaits().connect_args()["options"] == "-c statement_timeout=60000 -c lock_timeout=10000"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("statement_timeout=soon", "statement_timeout in the database URL must be a number"),
        ("lock_timeout=0", "lock_timeout must be a positive number of seconds, got 0"),
        ("connect_timeout=-1", "connect_timeout must be a positive number of seconds"),
        ("keepalives_count=2.5", "keepalives_count in the database URL must be a number"),
        ("keepalives_idle=inf", "keepalives_idle must be a positive number of seconds"),
    ],
)
def test_a_bad_wait_in_the_url_is_refused_by_name(query: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        PgWaits().resolve(sa.make_url(f"postgresql://u@h/db?{query}"))
    with pytest.raises(BulkJobError, match=f"cannot open the job journal .*{named}"):
        PgJournal(f"postgresql://u:secret@h/db?{query}")
    with pytest.raises(SyncError, match=named) as caught:
        SyncTarget(f"postgresql://u:secret@h/db?{query}")
    assert "secret" not in str(caught.value)


def test_a_journal_and_a_sync_target_connect_with_the_waits(pg_journal_url: str) -> None:
    with open_journal(_with_query(pg_journal_url, statement_timeout="0.3")) as journal:
        assert isinstance(journal, PgJournal)
        assert _show(journal.engine, "statement_timeout") == "300ms"
        assert _show(journal.engine, "lock_timeout") == "10s"
        assert journal.waits.statement_s == 0.3
        with journal.engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            given = dbapi.info.get_parameters()  # type: ignore[attr-defined]
        assert given["connect_timeout"] == "10" and given["keepalives_idle"] == "15"
        assert given["keepalives_count"] == "3" and given["tcp_user_timeout"] == "30000"
    api = open_journal(pg_journal_url, waits=PgWaits(statement_s=4, lock_s=2))
    with api as journal:
        assert isinstance(journal, PgJournal)
        assert _show(journal.engine, "statement_timeout") == "4s"
        assert _show(journal.engine, "lock_timeout") == "2s"
    with SyncTarget(pg_journal_url) as target:
        assert _show(target.engine, "statement_timeout") == "5min"
        assert SYNC_PG_WAITS.statement_s == 300
    with SyncTarget(_with_query(pg_journal_url, lock_timeout="1")) as target:
        assert _show(target.engine, "lock_timeout") == "1s"


# waits that run out


def test_a_statement_held_up_by_a_lock_ends_at_lock_timeout(
    pg_journal_url: str, locker: sa.Connection
) -> None:
    with PgJournal(_with_query(pg_journal_url, lock_timeout="0.2")) as journal:
        locker.execute(sa.text("LOCK TABLE bulk_jobs IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        with pytest.raises(PgWaitError) as caught:
            journal.jobs()
        assert time.monotonic() - started < 5  # not held until the lock goes
        # Still a database error (callers that retry those retry it), and one of ours.
        assert isinstance(caught.value, OperationalError)
        assert isinstance(caught.value, DataverseError)
        message = str(caught.value)
        assert message.startswith(f"the database {journal.path.split('?')[0]}: waited past")
        assert "lock_timeout (0.2 s)" in message and "?lock_timeout=SECONDS" in message
        assert explain_wait(caught.value, journal.waits, "the job journal") is not None
        copy = pickle.loads(pickle.dumps(caught.value))  # as it crosses a process boundary
        assert isinstance(copy, PgWaitError) and str(copy) == message
        locker.rollback()
        assert journal.jobs() == []  # the engine works on once the lock is gone


def test_a_statement_that_runs_too_long_ends_at_statement_timeout(
    pg_journal_url: str, locker: sa.Connection
) -> None:
    url = _with_query(pg_journal_url, statement_timeout="0.2", lock_timeout="30")
    with PgJournal(url) as journal:
        locker.execute(sa.text("LOCK TABLE bulk_jobs IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(PgWaitError, match=r"statement_timeout \(0.2 s\) and the server"):
            journal.jobs()


def test_a_sync_target_names_the_limit_that_ran_out(
    pg_journal_url: str, locker: sa.Connection
) -> None:
    with SyncTarget(_with_query(pg_journal_url, lock_timeout="0.2")) as target:
        target.prepare()
        locker.execute(sa.text("LOCK TABLE _d365leads_sync_state IN ACCESS EXCLUSIVE MODE"))
        with (
            pytest.raises(SyncError, match=r"lock_timeout \(0.2 s\) for a lock another"),
            target.connect() as conn,
        ):
            conn.execute(sa.text("SELECT * FROM _d365leads_sync_state"))


def test_skip_locked_claims_do_not_wait_on_a_locked_chunk(
    pg_journal_url: str, locker: sa.Connection
) -> None:
    with PgJournal(_with_query(pg_journal_url, lock_timeout="0.1")) as journal:
        with journal.engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO bulk_chunks (job_id, chunk, state) VALUES ('j', 0, 'open')")
            )
            conn.execute(
                sa.text("INSERT INTO bulk_chunks (job_id, chunk, state) VALUES ('j', 1, 'open')")
            )
        locker.execute(sa.text("SELECT * FROM bulk_chunks WHERE chunk = 0 FOR UPDATE"))
        assert journal.claim_chunk("j", "w", 60) == 1
        assert journal.claim_chunk("j", "w", 60) is None  # 0 is locked: skipped, not waited on


def test_a_server_that_never_answers_fails_the_open_at_connect_timeout() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:  # accept, then never say a word
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    port = silent.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(BulkJobError) as caught:
            PgJournal(f"postgresql://u:hunter2@127.0.0.1:{port}/jobs?connect_timeout=1")
        assert time.monotonic() - started < 10  # libpq's floor is 2 s
        message = str(caught.value)
        assert "no connection within connect_timeout (1 s)" in message
        assert "?connect_timeout=SECONDS" in message and "hunter2" not in message
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        silent.close()


# the dop-hint share fences itself on a sync that times out


def test_a_sync_stuck_on_a_lock_times_out_and_the_worker_fences_itself(
    fake: FakeDataverse,
    pg_journal_url: str,
    locker: sa.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(fake)
    client.session.get_json("WhoAmI")  # learns the hint, 4
    now = [100.0]
    runner = CapsRecorder()
    with PgJournal(pg_journal_url) as journal:
        share = DopShare(
            journal, client.session, "app", "w", lease_s=2, wait_s=0.2, clock=lambda: now[0]
        )
        share.attach(runner)
        share.sync()
        assert runner.caps[-1] == 4 and share.held == 4
        locker.execute(sa.text("LOCK TABLE bulk_presence IN ACCESS EXCLUSIVE MODE"))
        now[0] += 0.5
        with caplog.at_level(logging.WARNING, logger="d365leads.bulk.dop_share"):
            started = time.monotonic()
            share.renew()  # waits on the lock for wait_s, then counts as a failed sync
            assert time.monotonic() - started < 5
        assert "did not finish a statement within 0.2 s" in caplog.text
        assert runner.caps[-1] == 4 and share.held == 4  # a short gap: the slots are still its
        now[0] += 0.5  # half the slot lease since the last sync that went through
        share.renew()
        assert runner.caps[-1] == 0 and share.held == 0
        locker.rollback()
        share.renew()
        assert runner.caps[-1] == 4 and share.held == 4
        # The cap is the sync's own: the journal's other statements keep the engine's limits.
        assert _show(journal.engine, "lock_timeout") == "10s"
        share.stop()
    client.close()


def test_the_sync_wait_must_leave_room_to_fence_before_the_lease_ends(
    fake: FakeDataverse, pg_journal_url: str
) -> None:
    client = make_client(fake)
    with PgJournal(pg_journal_url) as journal:
        with pytest.raises(ValueError, match=r"wait_s \(2 s\) must be positive and below"):
            DopShare(journal, client.session, "app", "w", lease_s=5, wait_s=2)
        assert DopShare(journal, client.session, "app", "w", lease_s=5).wait_s == 1.0
        assert DopShare(journal, client.session, "app", "w", lease_s=1.5).wait_s == 0.125
    client.close()


class _FreezingProxy:
    """A TCP relay to the PostgreSQL server that can stop passing bytes while keeping every
    connection open: a server that neither answers nor breaks, which no PostgreSQL setting
    bounds."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self.flowing = threading.Event()
        self.flowing.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client = self._listener.accept()[0]
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.flowing.set()
        self._listener.close()
        for sock in self._sockets:
            sock.close()


def test_a_sync_hung_on_a_silent_server_still_fences_the_worker_in_time(
    fake: FakeDataverse, pg_journal_url: str
) -> None:
    real = sa.make_url(pg_journal_url)
    proxy = _FreezingProxy((real.host or "127.0.0.1", real.port or 5432))
    client = make_client(fake)
    client.session.get_json("WhoAmI")  # learns the hint, 4
    runner = CapsRecorder()
    seen_zero = threading.Event()

    class _Watched(CapsRecorder):
        def set_share(self, share: int | None) -> None:
            runner.set_share(share)
            if share == 0:
                seen_zero.set()

    try:
        url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        with PgJournal(url) as journal:
            share = DopShare(journal, client.session, "app", "w", lease_s=2)
            share.start()
            share.attach(_Watched())
            assert runner.caps[-1] == 4
            proxy.flowing.clear()  # every sync now waits for an answer that does not come
            started = time.monotonic()
            assert seen_zero.wait(10), "the worker kept sending on a silent journal"
            assert time.monotonic() - started < 10
            assert share.held == 0
            share.stop()  # returns although a sync still hangs (its slots run out instead)
            hung = [t for t in threading.enumerate() if t.name == "d365leads-dop-share"]
            assert hung
            proxy.flowing.set()  # the hung sync goes through and its thread ends
            for thread in hung:
                thread.join(10)
                assert not thread.is_alive()
    finally:
        proxy.close()
        client.close()
