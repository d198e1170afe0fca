"""The org's system views: the Sales views every org starts with (``savedquery`` rows) for
lead, account, contact and opportunity.

A tenant's own views (a changed Closed Leads, personal ``userquery`` views) come from seed
files like any other row; these are the product's, re-seeded when the org's data is cleared.
"""

from __future__ import annotations

from ..fetchxml import load_system_views
from .store import Store

__all__ = ["seed_system_views"]


def seed_system_views(store: Store) -> list[str]:
    """Insert the product's system views into ``store``; return their ids."""
    return [store.insert("savedquery", view)["savedqueryid"] for view in load_system_views()]
