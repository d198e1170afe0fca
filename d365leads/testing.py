"""Client-side pytest conveniences for testing code against the fake Dataverse.

Registered as a pytest plugin (``pytest11`` entry point ``d365leads_testing``): it answers the
fake plugin's ``pytest_fake_dataverse_client`` hook, so ``fake_dataverse.client()`` and
``fake_dataverse_server.client()`` return a :class:`~d365leads.DataverseClient` bound to the
fake with ``StaticTokenProvider("fake-token")`` and a sleep that records delays instead of
waiting.  The fake itself imports nothing of the client; this module is the bridge.

Outside the fixtures, :func:`fake_client` builds the same client for any fake URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from d365leads import DataverseClient, StaticTokenProvider
from d365leads.fake.adapters.pytest_plugin import FakeDataverseFixture, FakeServerFixture

__all__ = [
    "FakeDataverseFixture",
    "FakeServerFixture",
    "fake_client",
    "pytest_fake_dataverse_client",
]


def fake_client(
    url: str, *, sleep: Callable[[float], None] | None = None, **kwargs: Any
) -> DataverseClient:
    """A ``DataverseClient`` for the fake at ``url`` with a static token and no real waits.

    :param url: the fake's org URL (``fake.org_url`` or a server's ``.url``)
    :param sleep: replaces waiting (retries, throttling); the default does not wait at all
    :param kwargs: any other ``DataverseClient`` argument (overrides the defaults)
    """
    kwargs.setdefault("token_provider", StaticTokenProvider("fake-token"))
    kwargs.setdefault("sleep", sleep if sleep is not None else _no_wait)
    return DataverseClient(url, **kwargs)


def _no_wait(seconds: float) -> None:
    del seconds


@pytest.hookimpl(optionalhook=True)
def pytest_fake_dataverse_client(
    url: str, sleep: Callable[[float], None], kwargs: dict[str, Any]
) -> DataverseClient:
    """Make the client the fake's fixtures hand out (see the module docstring).

    :param url: the fake's org URL
    :param sleep: records every delay the client asks for
    :param kwargs: the test's overrides of the ``DataverseClient`` arguments
    """
    return fake_client(url, sleep=sleep, **kwargs)
