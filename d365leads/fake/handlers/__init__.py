"""The handlers: one module per kind of endpoint, each a function of a
:class:`~d365leads.fake.handlers.context.RequestContext` that returns a response.

Imports the org and the wire (and ``handlers._common``/``handlers.context``); never the
pipeline or the adapters.  The router (``fake.pipeline.router``) maps paths to them.
"""

from __future__ import annotations

__all__: list[str] = []
