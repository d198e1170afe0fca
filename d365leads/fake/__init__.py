"""The stateful fake Dataverse: an in-memory org for the lead lifecycle.

Use it in-process (``with fake.mock(): …``, through ``responses``), as a local HTTP server
(``fake.serve()`` / ``python -m d365leads.fake``), or through the pytest fixtures
``fake_dataverse`` and ``fake_dataverse_server``.  What it supports: ``SUPPORTED.md``.

The fake is an island: it imports only the stdlib, ``responses`` (inside functions), ``yaml``
(seed files) and ``d365leads.cassette``; never the client's code.  Its layers, from the bottom:
``core`` (options, clock, faults), ``org`` (state and rules) and ``wire`` (HTTP shapes),
``handlers``, ``pipeline`` (middleware and routing), ``adapters`` (``responses``, the server,
replay, pytest) with :class:`FakeDataverse` (``facade``) composing them; see
``docs/architecture.md``.
"""

from __future__ import annotations

from .adapters.serve import run_server
from .adapters.server import FakeServer
from .core.clock import ManualClock
from .core.fault import FakeFault
from .core.options import FakeOptions
from .facade import DEFAULT_ORG_URL, FakeDataverse
from .org.seeding import SeedError
from .org.store import Store, Tombstone
from .pipeline.faults import FaultPlan
from .wire.messages import FakeRequest, FakeResponse, Handler, Middleware, TransportFault

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
