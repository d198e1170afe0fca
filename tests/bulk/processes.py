"""Helpers of the tests that run real ``d365leads`` processes against a served fake."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from d365leads.fake import FakeDataverse, FakeServer
from d365leads.fake.core.options import FakeOptions

__all__ = ["cli_env", "serve_fake"]


def serve_fake(options: FakeOptions) -> Iterator[tuple[FakeDataverse, FakeServer]]:
    """Body of a fixture: a fake with ``options`` served on 127.0.0.1, closed after the test,
    which fails if the fake raised inside (``yield from serve_fake(...)``)."""
    fake = FakeDataverse(options=options)
    server = fake.serve()
    try:
        yield fake, server
    finally:
        server.close()
    assert not fake.errors, fake.errors


def cli_env(tmp_path: Path, token: str) -> dict[str, str]:
    """The environment of a CLI process: no D365/Azure settings of the caller, a static
    ``token``, its own config folder, unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("D365", "AZURE_"))}
    env.update(
        D365_ACCESS_TOKEN=token,
        D365LEADS_CONFIG_DIR=str(tmp_path / "config"),
        PYTHONUNBUFFERED="1",
    )
    return env
