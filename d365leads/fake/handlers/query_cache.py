"""The filtered, sorted ids of recent collection queries, kept while the store is unchanged.

Paging through a large table asks the same query once per page.  Filtering and sorting every
row again for each page made a full read quadratic, so the handler keeps, per store, the
sorted ids of the last few queries (LRU), valid for one :attr:`Store.state` (any write,
delete, restore or clear anywhere in the org invalidates them: filters and lookup ordering
may read other tables).  For each ``$skiptoken`` it hands out it remembers where the next page
starts, so a continuation at an unchanged state costs the page's rows only.  After a write the
query is evaluated again and the page continues after where the last row sent sorts now,
exactly as without the cache.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from ..org.schema import Table
from ..org.store import Store

__all__ = ["CachedQuery", "QueryCache", "cache_of"]

# Filters whose result depends on the clock (relative date functions) are never reused.
_CLOCK_MARKERS = ("microsoft.dynamics.crm.", "now(")
_MAX_TOKENS = 1024


@dataclass
class CachedQuery:
    """The sorted ids of one query at one store state, and where each handed-out page ends."""

    meta: Table
    state: tuple[int, int]
    ids: list[str]
    keys: list[tuple[str, bool]]
    ends: dict[str, int] = field(default_factory=dict)

    def remember(self, token: str, end: int) -> None:
        """Note that the page after ``token`` starts at ``end``."""
        if len(self.ends) >= _MAX_TOKENS:
            del self.ends[next(iter(self.ends))]
        self.ends[token] = end


class QueryCache:
    """An LRU of :class:`CachedQuery` by query key; callers hold the store's lock."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, CachedQuery] = OrderedDict()

    def get(self, key: Hashable, meta: Table, state: tuple[int, int]) -> CachedQuery | None:
        """The entry for ``key`` if it was made for this table object at this state."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.state != state or entry.meta is not meta:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: CachedQuery) -> None:
        """Keep ``entry``, dropping the least recently used beyond :attr:`size`."""
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


_CACHES: weakref.WeakKeyDictionary[Store, QueryCache] = weakref.WeakKeyDictionary()


def cache_of(store: Store) -> QueryCache:
    """The query cache of ``store`` (made on first use; call with the store's lock held)."""
    cache = _CACHES.get(store)
    if cache is None:
        cache = _CACHES[store] = QueryCache()
    return cache


def clock_dependent(*texts: str | None) -> bool:
    """True when a filter text (or an alias value) may read the clock."""
    return any(t is not None and m in t.lower() for t in texts for m in _CLOCK_MARKERS)
