"""Fixtures of the hostile-server suite: a server in front of a fake org, and clients for it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from d365leads import DataverseClient, RetryPolicy, StaticTokenProvider
from d365leads.fake import FakeDataverse
from d365leads.http import RequestsTransport

from .hostile_server import HostileServer

ClientFactory = Callable[..., DataverseClient]

DEADLINE = 5.0
"""The request deadline of the deadline tests: far above what an honest exchange with the fake
needs on a loaded machine, far below the hostile answers (which would go on for minutes)."""
TICK = 0.25
"""Seconds of the client's deadline clock each trickled byte costs (``Wire.tick``): a trickle
runs out :data:`DEADLINE` after about 20 bytes, however slow the machine."""


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        hostile.fake = FakeDataverse(org_url=hostile.url)
        yield hostile


@pytest.fixture
def sleeps() -> list[float]:
    """What the client asked to sleep (nothing is slept)."""
    return []


@pytest.fixture
def make_client(server: HostileServer, sleeps: list[float]) -> Iterator[ClientFactory]:
    made: list[DataverseClient] = []

    def factory(**kwargs: Any) -> DataverseClient:
        kwargs.setdefault(
            "retry", RetryPolicy(max_retries=2, max_retry_time=60, rng=random.Random(5))
        )
        # The deadline runs on the clock the server paces (real time plus trickled ticks).
        kwargs.setdefault("transport", RequestsTransport(clock=server.pace))
        client = DataverseClient(
            server.url,
            token_provider=StaticTokenProvider("hostile-suite-token"),
            sleep=sleeps.append,
            **kwargs,
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
