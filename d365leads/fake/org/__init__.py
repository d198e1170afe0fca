"""The org: tables and schema, the row store, seeding, tenant customisations, identity and the
lifecycle rules as functions over the store.

Knows nothing of HTTP: imports only the foundation (``fake.core``), never the wire or above.
"""

from __future__ import annotations

__all__: list[str] = []
