"""Fixtures for DataverseClient tests over HTTP mocked with ``responses``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from d365leads import DataverseClient, StaticTokenProvider

ORG = "https://contoso.crm.dynamics.com"
API = ORG + "/api/data/v9.2/"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(rsps: responses.RequestsMock, sleeps: list[float]) -> Iterator[DataverseClient]:
    with DataverseClient(
        ORG, token_provider=StaticTokenProvider("test-token"), sleep=sleeps.append
    ) as c:
        yield c
