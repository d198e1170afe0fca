"""Pytest fixtures for the fake (registered through the ``pytest11`` entry point).

* ``fake_dataverse``: a fresh :class:`~d365leads.fake.FakeDataverse` per test, installed
  in-process with ``responses`` (requests to any other host fail: leak guard);
* ``fake_dataverse_server``: a fresh fake behind a real HTTP server on 127.0.0.1, port 0;
* ``fake_dataverse_options``: the :class:`~d365leads.fake.FakeOptions` both use (override this
  fixture in a module or ``conftest.py`` to change rules, limits or faults).

Both fixtures offer the fake's seeding helpers, read-back (``rows``, ``get``), ``journal``,
``faults`` and ``options``, plus ``.client(**kwargs)``: a ``d365leads.DataverseClient`` bound to
the fake with ``StaticTokenProvider("fake-token")`` and a no-wait sleep that records every
requested delay in ``.sleeps``.  That helper is the **only** place where fake code touches the
client: it imports it lazily, inside the function, so the fake stays an island.

Exceptions raised inside the fake while handling a request (bugs in the fake) fail the test at
teardown, even when the client swallowed the resulting 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .app import FakeDataverse
from .options import FakeOptions
from .server import FakeServer

__all__ = [
    "FakeDataverseFixture",
    "FakeServerFixture",
    "fake_dataverse",
    "fake_dataverse_options",
    "fake_dataverse_server",
]


def _make_client(url: str, sleeps: list[float], kwargs: dict[str, Any]) -> Any:
    # The one allowed touch point between the fake and the client (see the module docstring).
    from d365leads import DataverseClient, StaticTokenProvider

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    kwargs.setdefault("token_provider", StaticTokenProvider("fake-token"))
    kwargs.setdefault("sleep", sleep)
    return DataverseClient(url, **kwargs)


class FakeDataverseFixture(FakeDataverse):
    """The in-process fake with a ``client()`` helper and the record of client ``sleeps``."""

    def __init__(self, options: FakeOptions) -> None:
        self.sleeps: list[float] = []
        """Delays the client asked for (its injected sleep never waits)."""
        self.fake_sleeps: list[float] = []
        """Delays the fake's latency simulation asked for (never waited either)."""
        super().__init__(options=options, sleep=self.fake_sleeps.append)
        self._clients: list[Any] = []

    def client(self, **kwargs: Any) -> Any:
        """A ``DataverseClient`` for this fake (kwargs override the defaults)."""
        client = _make_client(self.org_url, self.sleeps, kwargs)
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        """Close every client made by :meth:`client`."""
        for client in self._clients:
            client.close()
        self._clients.clear()


class FakeServerFixture:
    """A running fake server; attributes not defined here come from the fake itself."""

    def __init__(self, fake: FakeDataverse, server: FakeServer) -> None:
        self.fake = fake
        self.server = server
        self.url = server.url
        self.base_url = server.base_url
        self.sleeps: list[float] = []
        self._clients: list[Any] = []

    def client(self, **kwargs: Any) -> Any:
        """A ``DataverseClient`` for this server (kwargs override the defaults)."""
        client = _make_client(self.url, self.sleeps, kwargs)
        self._clients.append(client)
        return client

    def close(self) -> None:
        """Close the clients and stop the server."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        self.server.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fake, name)

    def __repr__(self) -> str:
        return f"FakeServerFixture({self.url})"


def _raise_fake_errors(fake: FakeDataverse) -> None:
    if fake.errors:
        first = fake.errors[0]
        raise AssertionError(
            f"the fake raised {len(fake.errors)} unexpected exception(s) while handling "
            f"requests; first: {type(first).__name__}: {first}"
        ) from first


@pytest.fixture
def fake_dataverse_options() -> FakeOptions:
    """Options for ``fake_dataverse``/``fake_dataverse_server`` (override to customise)."""
    return FakeOptions()


@pytest.fixture
def fake_dataverse(fake_dataverse_options: FakeOptions) -> Iterator[FakeDataverseFixture]:
    """A fresh fake installed in-process (``responses``) for one test."""
    fake = FakeDataverseFixture(fake_dataverse_options)
    with fake.mock():
        yield fake
        fake.close_clients()
    _raise_fake_errors(fake)


@pytest.fixture
def fake_dataverse_server(fake_dataverse_options: FakeOptions) -> Iterator[FakeServerFixture]:
    """A fresh fake behind a real HTTP server on a free port for one test."""
    fake = FakeDataverse(options=fake_dataverse_options, sleep=lambda seconds: None)
    handle = FakeServerFixture(fake, fake.serve())
    try:
        yield handle
    finally:
        handle.close()
    _raise_fake_errors(fake)
