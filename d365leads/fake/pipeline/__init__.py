"""The pipeline: the middleware chain (journal, faults, auth, impersonation, service
protection, latency, after-commit faults), the routing table, and the state those middlewares
keep (fault plan, throttling windows, latency totals).

Imports handlers, org, wire and the foundation; never the adapters or the facade.
"""

from __future__ import annotations

__all__: list[str] = []
