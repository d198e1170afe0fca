"""Fixtures for the peer suite: a fresh fake per test, reached through each adapter in turn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from d365leads.fake import FakeDataverse, FakeOptions

from .routing import ADAPTERS, route


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    """``in-process`` (the responses adapter) or ``server`` (the real server, via a forwarder)."""
    return str(request.param)


@pytest.fixture
def fake(adapter: str) -> Iterator[FakeDataverse]:
    """A fresh fake that receives every peer request for its org (and the login host).

    ``strict_auth`` is on: a peer's bearer token must come from the fake's own login host.
    """
    fake = FakeDataverse(options=FakeOptions(strict_auth=True))
    with route(fake, adapter):
        yield fake
    assert fake.errors == [], f"the fake raised inside a handler: {fake.errors!r}"
