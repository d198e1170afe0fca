"""Tenant customisations of one fake org: custom columns and alternate keys on the catalogue.

Custom columns need a publisher prefix (``new_score``); alternate keys use key-able columns.
:class:`TenantSchema` is the org's view of its tables: the built-in catalogue with the
customisations kept in ``FakeOptions.custom_columns``/``alternate_keys`` merged in.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from .schema import Column, Relationship, Table
from .tables import TABLES, collection_navigation, lookup_column

__all__ = [
    "CUSTOM_COLUMN_TYPES",
    "KEY_COLUMN_TYPES",
    "TenantSchema",
    "check_alternate_key",
    "check_custom_column",
    "custom_column",
    "customize",
]

CUSTOM_COLUMN_TYPES: tuple[str, ...] = (
    "string",
    "memo",
    "int",
    "bigint",
    "decimal",
    "money",
    "bool",
    "datetime",
    "date",
)
"""Types a tenant column may have; a custom lookup is ``lookup:<target table>``."""

KEY_COLUMN_TYPES: frozenset[str] = frozenset(
    {"string", "int", "bigint", "decimal", "datetime", "date", "picklist", "lookup"}
)
"""Column types Dataverse allows in an alternate key (text, numbers, dates, choices, lookups)."""

# Publisher prefix (2-8 letters/digits, starting with a letter), an underscore, then the name.
_CUSTOM_NAME_RE = re.compile(r"^[a-z][a-z0-9]{1,7}_[a-z0-9_]*[a-z0-9]$")
_CUSTOM_MAX_LENGTH = {"string": 100, "memo": 2000}


def custom_column(name: str, kind: str) -> Column:
    """The :class:`Column` of a tenant column ``name`` of type ``kind`` (no checks)."""
    if kind.startswith("lookup:"):
        return lookup_column(name, name, kind.partition(":")[2])
    return Column(
        name,
        kind,  # type: ignore[arg-type]  # checked by check_custom_column
        name,
        max_length=_CUSTOM_MAX_LENGTH.get(kind),
    )


def check_custom_column(meta: Table, name: object, kind: object) -> None:
    """Raise ``ValueError`` unless ``name``/``kind`` can be added to ``meta`` as a tenant column.

    The name must be a lower-case logical name with a publisher prefix (``new_score``), must
    not be taken by a column (or a lookup's ``<name>type`` companion / navigation property),
    and ``kind`` must be one of :data:`CUSTOM_COLUMN_TYPES` or ``lookup:<table>``.
    """
    where = f"custom column {name!r} on {meta.logical_name}"
    if not isinstance(name, str) or not _CUSTOM_NAME_RE.match(name):
        raise ValueError(
            f"{where}: a custom column needs a publisher prefix and an underscore, in lower "
            "case (prefix of 2-8 letters/digits starting with a letter), e.g. 'new_score'"
        )
    taken = {c.name for c in meta.columns}
    taken |= {c.type_attribute for c in meta.columns if c.is_lookup}
    taken |= set(meta.navigation_names)
    if name in taken:
        raise ValueError(f"{where}: {meta.logical_name} already has a column or property {name!r}")
    if not isinstance(kind, str):
        raise ValueError(f"{where}: the type must be a string, got {kind!r}")
    if kind.startswith("lookup:"):
        target = kind.partition(":")[2]
        if target not in TABLES:
            known = ", ".join(sorted(TABLES))
            raise ValueError(f"{where}: lookup target {target!r} is not a table ({known})")
        return
    if kind not in CUSTOM_COLUMN_TYPES:
        allowed = ", ".join(CUSTOM_COLUMN_TYPES)
        raise ValueError(f"{where}: unknown type {kind!r}; use one of {allowed} or lookup:<table>")


def check_alternate_key(meta: Table, columns: Iterable[object]) -> tuple[str, ...]:
    """Raise ``ValueError`` unless ``columns`` can be an alternate key of ``meta``; return them.

    Every column must exist on ``meta`` (built-in or tenant) with a key-able type
    (:data:`KEY_COLUMN_TYPES`), no column may repeat, and the key must be new.
    """
    names = tuple(columns)
    where = f"alternate key ({', '.join(map(str, names))}) on {meta.logical_name}"
    if not names:
        raise ValueError(f"alternate key on {meta.logical_name}: name at least one column")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: a column is listed twice")
    for name in names:
        column = meta.column(name) if isinstance(name, str) else None
        if column is None:
            raise ValueError(
                f"{where}: {meta.logical_name} has no column {name!r} (add custom columns first)"
            )
        if column.type not in KEY_COLUMN_TYPES:
            raise ValueError(
                f"{where}: {name!r} is a {column.type} column; keys may use "
                f"{', '.join(sorted(KEY_COLUMN_TYPES))} columns"
            )
    if any(set(k) == set(names) for k in meta.alternate_keys):
        raise ValueError(f"{where}: {meta.logical_name} already has this key")
    return names  # type: ignore[return-value]  # every item was checked to be a column name


def customize(
    base: Table,
    columns: Iterable[tuple[str, str]] = (),
    alternate_keys: Iterable[Iterable[str]] = (),
) -> Table:
    """``base`` with tenant ``columns`` (``(name, type)``) and ``alternate_keys`` added.

    Columns are appended after the built-in ones.  Everything is checked as by
    :func:`check_custom_column` / :func:`check_alternate_key` (``ValueError``).
    """
    meta = base
    for name, kind in columns:
        check_custom_column(meta, name, kind)
        meta = dataclasses.replace(meta, columns=(*meta.columns, custom_column(name, kind)))
    for key in alternate_keys:
        names = check_alternate_key(meta, key)
        meta = dataclasses.replace(meta, alternate_keys=(*meta.alternate_keys, names))
    return meta


_Customisations = tuple[tuple[tuple[str, str, str], ...], tuple[tuple[str, tuple[str, ...]], ...]]


class TenantSchema:
    """The tables of one fake org: the built-in catalogue plus that org's customisations.

    ``customisations()`` returns ``(custom_columns, alternate_keys)`` as kept in
    ``FakeOptions`` (read on every look-up, so replacing ``fake.options`` takes effect at once);
    the merged tables are cached per distinct value.
    """

    def __init__(self, customisations: Callable[[], _Customisations]) -> None:
        self._customisations = customisations
        self._lock = threading.Lock()
        self._cache: tuple[_Customisations, dict[str, Table], dict[str, Table]] | None = None

    def __repr__(self) -> str:
        columns, keys = self._customisations()
        return f"TenantSchema({len(columns)} custom column(s), {len(keys)} alternate key(s))"

    @staticmethod
    def build(custom: _Customisations) -> dict[str, Table]:
        """Merge ``(custom_columns, alternate_keys)`` into the catalogue (``ValueError``)."""
        columns, keys = custom
        tables = dict(TABLES)
        for logical, name, kind in columns:
            if logical not in TABLES:
                known = ", ".join(sorted(TABLES))
                raise ValueError(
                    f"custom column {name!r}: the fake has no table {logical!r} ({known})"
                )
            tables[logical] = customize(tables[logical], [(name, kind)])
        for logical, names in keys:
            if logical not in TABLES:
                known = ", ".join(sorted(TABLES))
                raise ValueError(f"alternate key: the fake has no table {logical!r} ({known})")
            tables[logical] = customize(tables[logical], alternate_keys=[names])
        return tables

    def _tables(self) -> tuple[dict[str, Table], dict[str, Table]]:
        custom = self._customisations()
        with self._lock:
            cached = self._cache
            if cached is not None and cached[0] == custom:
                return cached[1], cached[2]
            by_name = self.build(custom)
            by_set = {t.entity_set: t for t in by_name.values()}
            self._cache = (custom, by_name, by_set)
            return by_name, by_set

    @property
    def tables(self) -> Mapping[str, Table]:
        """Every table of the org (customised), by logical name."""
        return MappingProxyType(self._tables()[0])

    def table(self, logical_name: str) -> Table:
        """The (customised) table ``logical_name``; ``KeyError`` names the known tables."""
        try:
            return self._tables()[0][logical_name]
        except KeyError:
            known = ", ".join(sorted(TABLES))
            raise KeyError(
                f"the fake has no table {logical_name!r}; known tables: {known}"
            ) from None

    def table_for_set(self, entity_set: str) -> Table | None:
        """The (customised) table whose entity set is ``entity_set``, or ``None``."""
        return self._tables()[1].get(entity_set)

    def relationship(self, referenced: str, name: str) -> Relationship | None:
        """The collection-valued navigation ``name`` seen from table ``referenced``, or ``None``."""
        return collection_navigation(referenced, name)

    def table_named(self, name: str) -> Table:
        """The table whose entity set (``leads``) or logical name (``lead``) is ``name``;
        ``KeyError`` names the known tables."""
        meta = self.table_for_set(name)
        return meta if meta is not None else self.table(name)
