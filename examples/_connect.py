"""Shared by the examples: a client for your org, or for a local fake with demo data.

With ``D365_URL`` set the examples use :meth:`d365leads.DataverseClient.from_env` (your org and
credentials); otherwise they start the built-in fake Dataverse on 127.0.0.1 with demo data and
talk to it over real HTTP with a static token.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from d365leads import DataverseClient, StaticTokenProvider


def using_real_org() -> bool:
    """True when ``D365_URL`` points the examples at a real org."""
    return bool(os.environ.get("D365_URL"))


@contextmanager
def connect() -> Iterator[DataverseClient]:
    """A client for the org in D365_URL, or for a local fake with demo data."""
    if using_real_org():
        with DataverseClient.from_env() as client:
            yield client
        return
    from d365leads.fake import FakeDataverse

    fake = FakeDataverse()
    fake.seed_demo_data()
    server = fake.serve(host="127.0.0.1", port=0)
    try:
        with DataverseClient(server.url, token_provider=StaticTokenProvider("example")) as client:
            yield client
    finally:
        server.close()
