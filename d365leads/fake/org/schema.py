"""The schema types of the fake: columns, state/status options, tables and relationships.

Table and column metadata of the fake (the subset of Dataverse the lead lifecycle needs).

Column types (``Column.type``): ``string``, ``memo``, ``int``, ``bigint``, ``decimal``,
``money``, ``bool``, ``datetime``, ``date``, ``guid`` (the primary key), ``picklist``,
``state``, ``status`` and the lookups ``lookup`` (one target), ``customer`` (account or
contact) and ``owner`` (systemuser or team).

Lookups: the store keeps a lookup under its *attribute* name (``parentaccountid``) as a
lower-case GUID string (or ``None``).  A polymorphic lookup also keeps the target table in the
companion attribute ``<name>type`` (``customeridtype = "contact"``), as Dataverse does.  On the
wire a lookup reads as ``_<name>_value`` and is written through a navigation property:
``parentaccountid@odata.bind`` or, when polymorphic, ``customerid_account@odata.bind`` /
``customerid_contact@odata.bind`` (``Column.navigation`` maps target table -> navigation name).

Every business table (``ownership == "user"``) also carries the system columns ``createdon``,
``modifiedon``, ``createdby``, ``modifiedby``, ``ownerid`` and ``versionnumber``.

The built-in catalogue is :mod:`~d365leads.fake.org.tables`; a tenant's customisations are
merged in by :mod:`~d365leads.fake.org.tenant`.  The wire receives these types from the
handlers and never builds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = [
    "LOOKUP_TYPES",
    "Column",
    "ColumnType",
    "Relationship",
    "StateOption",
    "StatusOption",
    "Table",
]

ColumnType = Literal[
    "string",
    "memo",
    "int",
    "bigint",
    "decimal",
    "money",
    "bool",
    "datetime",
    "date",
    "guid",
    "picklist",
    "state",
    "status",
    "lookup",
    "customer",
    "owner",
]

LOOKUP_TYPES: frozenset[str] = frozenset({"lookup", "customer", "owner"})


@dataclass(frozen=True)
class Column:
    """One attribute of a table."""

    name: str
    type: ColumnType
    label: str = ""
    readonly: bool = False
    """Not valid for create or update through the API (system or computed columns)."""
    max_length: int | None = None
    targets: tuple[str, ...] = ()
    """Lookup target tables (logical names)."""
    navigation: Mapping[str, str] = field(default_factory=dict)
    """Lookup target table -> single-valued navigation property name."""
    options: Mapping[int, str] = field(default_factory=dict)
    """Picklist value -> label."""
    precision: int | None = None
    """Decimal places a decimal column keeps (values are rounded on write), or ``None``."""

    @property
    def is_lookup(self) -> bool:
        """True for lookup, customer and owner columns."""
        return self.type in LOOKUP_TYPES

    @property
    def is_polymorphic(self) -> bool:
        """True when the lookup has more than one target table."""
        return len(self.targets) > 1

    @property
    def value_property(self) -> str:
        """The read-side property name: ``_<name>_value`` for lookups, else the name."""
        return f"_{self.name}_value" if self.is_lookup else self.name

    @property
    def type_attribute(self) -> str:
        """Companion attribute storing the target table of a polymorphic lookup."""
        return f"{self.name}type"


@dataclass(frozen=True)
class StateOption:
    """A ``statecode`` value with its label and default ``statuscode``."""

    value: int
    label: str
    default_status: int
    enum_name: str
    """Platform enum member name, e.g. ``Open`` in ``LeadState.Open``."""


@dataclass(frozen=True)
class StatusOption:
    """A ``statuscode`` value, its label and the ``statecode`` it belongs to."""

    value: int
    label: str
    state: int


@dataclass(frozen=True)
class Table:
    """A table: names, key, typed columns, alternate keys and its state/status model."""

    logical_name: str
    entity_set: str
    primary_key: str
    primary_name: str
    columns: tuple[Column, ...]
    states: tuple[StateOption, ...] = ()
    statuses: tuple[StatusOption, ...] = ()
    alternate_keys: tuple[tuple[str, ...], ...] = ()
    ownership: Literal["user", "organization", "none"] = "user"
    state_enum: str = ""
    """Platform enum name for states, e.g. ``LeadState``."""

    @property
    def by_name(self) -> Mapping[str, Column]:
        """Columns by attribute name."""
        return MappingProxyType({c.name: c for c in self.columns})

    def column(self, name: str) -> Column | None:
        """The column named ``name`` (attribute name), or ``None``."""
        for col in self.columns:
            if col.name == name:
                return col
        return None

    def column_for_property(self, prop: str) -> Column | None:
        """Resolve a wire property (``name`` or ``_name_value`` for lookups) to its column."""
        if prop.startswith("_") and prop.endswith("_value"):
            col = self.column(prop[1:-6])
            return col if col is not None and col.is_lookup else None
        col = self.column(prop)
        if col is not None and col.is_lookup:
            return None
        return col

    def navigation(self, nav: str) -> tuple[Column, str] | None:
        """Resolve a single-valued navigation property to ``(column, target table)``."""
        for col in self.columns:
            for target, name in col.navigation.items():
                if name == nav:
                    return col, target
        return None

    @property
    def navigation_names(self) -> list[str]:
        """Every single-valued navigation property, sorted."""
        return sorted({n for c in self.columns for n in c.navigation.values()})

    @property
    def has_state(self) -> bool:
        """True when the table has a state/status model."""
        return bool(self.states)

    def state(self, value: int) -> StateOption | None:
        """The state option ``value``, or ``None``."""
        return next((s for s in self.states if s.value == value), None)

    def status(self, value: int) -> StatusOption | None:
        """The status option ``value``, or ``None``."""
        return next((s for s in self.statuses if s.value == value), None)

    def statuses_of(self, state: int) -> list[StatusOption]:
        """The status reasons that belong to ``state``."""
        return [s for s in self.statuses if s.state == state]

    @property
    def type_name(self) -> str:
        """The OData type name, ``Microsoft.Dynamics.CRM.<logical>``."""
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"


@dataclass(frozen=True)
class Relationship:
    """A one-to-many relationship: ``referenced`` rows see the ``referencing`` rows whose
    lookup ``column`` points to them through the collection-valued navigation ``name``."""

    name: str
    referenced: str
    referencing: str
    column: str
