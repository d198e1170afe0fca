"""Plain ``requests`` against either pytest fixture of the fake (in-process or served)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

HEADERS = {"Authorization": "Bearer test-token", "Accept": "application/json"}


class Target:
    """One fake reached through one adapter: ``fake`` (the fixture) and ``base_url``."""

    def __init__(self, fake: Any, base_url: str) -> None:
        self.fake = fake
        self.base_url = base_url
        self.root = base_url.split("/api/data/")[0]
        self.session = requests.Session()
        self.session.headers.update(HEADERS)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        url = path if "://" in path else self.base_url + path
        return self.session.get(url, **kwargs)


def target_for(request: pytest.FixtureRequest) -> Target:
    """The ``fake_dataverse`` or ``fake_dataverse_server`` fixture named by ``request.param``."""
    fake = request.getfixturevalue(str(request.param))
    return Target(fake, fake.base_url)
