"""Pytest fixtures for the fake (registered through the ``pytest11`` entry point).

* ``fake_dataverse``: a fresh :class:`~d365leads.fake.FakeDataverse` per test, installed
  in-process with ``responses`` (requests to any other host fail: leak guard);
* ``fake_dataverse_server``: a fresh fake behind a real HTTP server on 127.0.0.1, port 0;
* ``fake_dataverse_options``: the :class:`~d365leads.fake.FakeOptions` both use (override this
  fixture in a module or ``conftest.py`` to change rules, limits or faults).

Both fixtures offer the fake's seeding helpers, read-back (``rows``, ``get``), ``journal``,
``faults`` and ``options``, plus ``.client(**kwargs)``: a client bound to the fake with a no-wait
sleep that records every requested delay in ``.sleeps``.  The fake imports nothing of the client:
``.client()`` asks the ``pytest_fake_dataverse_client`` hook (:mod:`.pytest_hooks`), which
:mod:`d365leads.testing` implements with a ``DataverseClient`` and
``StaticTokenProvider("fake-token")``.

Exceptions raised inside the fake while handling a request (bugs in the fake) fail the test at
teardown, even when the client swallowed the resulting 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..core.options import FakeOptions
from ..facade import FakeDataverse
from . import pytest_hooks
from .server import FakeServer

__all__ = [
    "ClientFactory",
    "FakeDataverseFixture",
    "FakeServerFixture",
    "fake_dataverse",
    "fake_dataverse_options",
    "fake_dataverse_server",
    "pytest_addhooks",
]

ClientFactory = Callable[[str, list[float], dict[str, Any]], Any]
"""``(org url, list that records sleeps, kwargs) -> client``."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Declare ``pytest_fake_dataverse_client`` (see :mod:`.pytest_hooks`)."""
    pluginmanager.add_hookspecs(pytest_hooks)


def _client_factory(config: pytest.Config) -> ClientFactory:
    def make(url: str, sleeps: list[float], kwargs: dict[str, Any]) -> Any:
        client = config.hook.pytest_fake_dataverse_client(
            url=url, sleep=sleeps.append, kwargs=kwargs
        )
        if client is None:
            raise RuntimeError(
                "no plugin implements pytest_fake_dataverse_client; install d365leads (its "
                "d365leads.testing plugin makes the clients) or build a client yourself"
            )
        return client

    return make


class FakeDataverseFixture(FakeDataverse):
    """The in-process fake with a ``client()`` helper and the record of client ``sleeps``."""

    def __init__(self, options: FakeOptions, make_client: ClientFactory) -> None:
        self.sleeps: list[float] = []
        """Delays the client asked for (its injected sleep never waits)."""
        self.fake_sleeps: list[float] = []
        """Delays the fake's latency simulation asked for (never waited either)."""
        super().__init__(options=options, sleep=self.fake_sleeps.append)
        self._make_client = make_client
        self._clients: list[Any] = []

    def client(self, **kwargs: Any) -> Any:
        """A ``DataverseClient`` for this fake (kwargs override the defaults)."""
        client = self._make_client(self.org_url, self.sleeps, kwargs)
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        """Close every client made by :meth:`client`."""
        for client in self._clients:
            client.close()
        self._clients.clear()


class FakeServerFixture:
    """A running fake server; attributes not defined here come from the fake itself."""

    def __init__(self, fake: FakeDataverse, server: FakeServer, make_client: ClientFactory) -> None:
        self.fake = fake
        self._make_client = make_client
        self.server = server
        self.url = server.url
        self.base_url = server.base_url
        self.sleeps: list[float] = []
        self._clients: list[Any] = []

    def client(self, **kwargs: Any) -> Any:
        """A ``DataverseClient`` for this server (kwargs override the defaults)."""
        client = self._make_client(self.url, self.sleeps, kwargs)
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
def fake_dataverse(
    fake_dataverse_options: FakeOptions, pytestconfig: pytest.Config
) -> Iterator[FakeDataverseFixture]:
    """A fresh fake installed in-process (``responses``) for one test."""
    fake = FakeDataverseFixture(fake_dataverse_options, _client_factory(pytestconfig))
    with fake.mock():
        yield fake
        fake.close_clients()
    _raise_fake_errors(fake)


@pytest.fixture
def fake_dataverse_server(
    fake_dataverse_options: FakeOptions, pytestconfig: pytest.Config
) -> Iterator[FakeServerFixture]:
    """A fresh fake behind a real HTTP server on a free port for one test."""
    fake = FakeDataverse(options=fake_dataverse_options, sleep=lambda seconds: None)
    handle = FakeServerFixture(fake, fake.serve(), _client_factory(pytestconfig))
    try:
        yield handle
    finally:
        handle.close()
    _raise_fake_errors(fake)
