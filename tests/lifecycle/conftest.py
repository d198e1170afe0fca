from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from d365leads import DataverseClient, StaticTokenProvider

from .wire_helpers import ORG


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def wire_client(rsps: responses.RequestsMock) -> Iterator[DataverseClient]:
    client = DataverseClient(
        ORG, token_provider=StaticTokenProvider("wire-token"), sleep=lambda s: None
    )
    yield client
    client.close()
