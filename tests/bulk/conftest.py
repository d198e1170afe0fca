"""Helpers for the bulk tests: an in-process fake with seeded leads and a no-wait client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from d365leads.auth import StaticTokenProvider, TokenProvider
from d365leads.bulk import Journal
from d365leads.client import DataverseClient
from d365leads.fake import FakeDataverse
from d365leads.fake.core.options import FakeOptions


def no_wait(_seconds: float) -> None:
    """Injected sleep: tests never wait on a real timer."""


def make_client(fake: FakeDataverse, provider: TokenProvider | None = None) -> DataverseClient:
    return DataverseClient(
        fake.org_url,
        token_provider=provider or StaticTokenProvider("bulk-test-token"),
        sleep=no_wait,
        keep_affinity=False,
    )


def seed_leads(
    fake: FakeDataverse, n: int, *, state: int = 2, status: int = 6, **extra: Any
) -> list[str]:
    rows = [
        {
            "firstname": f"Ana{i}",
            "lastname": f"Lee{i}",
            "companyname": f"Contoso {i}",
            "subject": f"Inquiry {i}",
            "statecode": state,
            "statuscode": status,
            **extra,
        }
        for i in range(n)
    ]
    return fake.seed("lead", rows)


@pytest.fixture
def fake() -> Iterator[FakeDataverse]:
    fake = FakeDataverse(options=FakeOptions(dop_hint=4))
    with fake.mock():
        yield fake
    assert not fake.errors, fake.errors


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "jobs.sqlite") as journal:
        yield journal


class CapsRecorder:
    """Stands in for a runner's scheduler in dop-share tests: records the caps it is given."""

    def __init__(self) -> None:
        self.caps: list[int | None] = []

    def set_share(self, share: int | None) -> None:
        self.caps.append(share)

    def share_floor(self) -> int:
        return 0
