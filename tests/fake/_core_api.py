"""Shared fixture for the fake-core tests: one raw-HTTP API over both transports.

``api`` is parametrized over the in-process ``responses`` adapter and the real HTTP server, so
every scenario checks both adapters (encoding, headers, status lines, faults).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from d365leads.fake import FakeDataverse, FakeOptions


class Api:
    """A requests session bound to a fake (in-process or served)."""

    def __init__(self, fake: FakeDataverse, base: str, mode: str) -> None:
        self.fake = fake
        self.base = base
        self.mode = mode
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": "Bearer test-token",
                "Accept": "application/json",
                "OData-Version": "4.0",
                "OData-MaxVersion": "4.0",
            }
        )

    def url(self, path: str) -> str:
        return path if "://" in path else self.base + path

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.request(method, self.url(path), **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        response = self.post(entity_set, json=body)
        assert response.status_code == 204, response.text
        location = response.headers["OData-EntityId"]
        return location[location.rindex("(") + 1 : -1]


def make_api(request: pytest.FixtureRequest, options: FakeOptions | None = None) -> Iterator[Api]:
    fake = FakeDataverse(options=options or FakeOptions(), sleep=lambda seconds: None)
    if request.param == "inprocess":
        with fake.mock():
            yield Api(fake, fake.base_url, "inprocess")
    else:
        with fake.serve() as server:
            yield Api(fake, server.base_url, "server")
    assert fake.errors == [], fake.errors


def error_of(response: requests.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, str] = body["error"]
    return error
