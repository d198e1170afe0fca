"""The stateful fake Dataverse: an in-memory org for the lead lifecycle.

Use it in-process (``with fake.mock(): …``, through ``responses``), as a local HTTP server
(``fake.serve()`` / ``python -m d365leads.fake``), or through the pytest fixtures
``fake_dataverse`` and ``fake_dataverse_server``.  What it supports: ``SUPPORTED.md``.

The fake is an island: it imports only the stdlib, ``responses`` (inside functions) and
``d365leads.cassette``; never the client's code.
"""

from __future__ import annotations

from .app import DEFAULT_ORG_URL, FakeDataverse, SeedError
from .clock import ManualClock
from .errors import FakeFault
from .faults import FaultPlan
from .http import FakeRequest, FakeResponse, Handler, Middleware, TransportFault
from .options import FakeOptions
from .server import FakeServer, run_server
from .store import Store, Tombstone

__all__ = [
    "DEFAULT_ORG_URL",
    "FakeDataverse",
    "FakeFault",
    "FakeOptions",
    "FakeRequest",
    "FakeResponse",
    "FakeServer",
    "FaultPlan",
    "Handler",
    "ManualClock",
    "Middleware",
    "SeedError",
    "Store",
    "Tombstone",
    "TransportFault",
    "run_server",
]
