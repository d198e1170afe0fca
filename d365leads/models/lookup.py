"""Lookups: references to other records, and how each lookup column is read and written.

A lookup is read from ``_<nav>_value`` plus its annotations and written as
``<nav>@odata.bind: "/<entityset>(<id>)"``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from d365leads.errors import InvalidInputError
from d365leads.odata.literals import normalize_guid

__all__ = [
    "ENTITY_SETS",
    "Lookup",
    "LookupSpec",
    "entity_set_of",
    "new_lookup",
    "parse_id",
]

_BIND = "@odata.bind"

#: Entity set name of each table the models link to (logical name -> entity set).
ENTITY_SETS: Mapping[str, str] = {
    "account": "accounts",
    "businessunit": "businessunits",
    "campaign": "campaigns",
    "contact": "contacts",
    "lead": "leads",
    "opportunity": "opportunities",
    "opportunityclose": "opportunitycloses",
    "systemuser": "systemusers",
    "team": "teams",
    "transactioncurrency": "transactioncurrencies",
}


def entity_set_of(table: str) -> str:
    """Return the entity set name of a table given by logical name.

    :raises InvalidInputError: for a table this library does not know.
    """
    try:
        return ENTITY_SETS[table]
    except KeyError:
        known = ", ".join(sorted(ENTITY_SETS))
        raise InvalidInputError(f"unknown table {table!r}; expected one of: {known}") from None


def parse_id(value: object, *, what: str = "record id") -> UUID:
    """Return ``value`` as a UUID, or raise :class:`InvalidIdError` naming what was wrong.

    Accepts a :class:`uuid.UUID` or a GUID string (``8-4-4-4-12`` hex digits, braces allowed).
    """
    if isinstance(value, UUID):
        return value
    return UUID(normalize_guid(value, what=what))


class Lookup(BaseModel):
    """A reference to another record: its id, table (logical name) and display name.

    Read from ``_<nav>_value`` plus its annotations; written as ``<nav>@odata.bind``.
    """

    model_config = ConfigDict(frozen=True)

    id: UUID
    table: str | None = None
    name: str | None = None

    @classmethod
    def to(cls, table: str, record_id: UUID | str) -> Lookup:
        """Build a reference to ``table`` (logical name) row ``record_id``."""
        entity_set_of(table)
        return cls(id=parse_id(record_id), table=table)

    def __str__(self) -> str:
        return str(self.id)

    def __eq__(self, other: object) -> bool:
        # Two references to the same row are equal whatever display name came with them; a
        # reference without a table matches on the id alone.
        if not isinstance(other, Lookup):
            return NotImplemented
        if self.id != other.id:
            return False
        return self.table is None or other.table is None or self.table == other.table

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True)
class LookupSpec:
    """How a lookup column is read and written.

    :param targets: logical names of the tables it may point to.
    :param navigation: single-valued navigation property used to write it.
    :param polymorphic: write through ``<navigation>_<table>`` (customer lookups).
    :param read_only: the platform maintains it; never written.
    """

    targets: tuple[str, ...]
    navigation: str
    polymorphic: bool = False
    read_only: bool = False

    def bind_key(self, table: str | None) -> str:
        """The ``@odata.bind`` key that writes a reference to ``table``."""
        if self.polymorphic:
            if table is None:
                raise InvalidInputError(
                    f"{self.navigation} can point to {' or '.join(self.targets)}; "
                    "say which with Lookup.to(table, id) or pass the record itself"
                )
            return f"{self.navigation}_{table}{_BIND}"
        return f"{self.navigation}{_BIND}"


def new_lookup(record_id: UUID, table: str | None, name: str | None) -> Lookup:
    """A :class:`Lookup` from values already checked (a UUID and two optional strings).

    Builds the instance as ``Lookup(id=..., table=..., name=...)`` would, without validating
    it again; the fields set are all three, as with that call.
    """
    lookup = Lookup.__new__(Lookup)
    object.__setattr__(lookup, "__dict__", {"id": record_id, "table": table, "name": name})
    object.__setattr__(lookup, "__pydantic_fields_set__", {"id", "table", "name"})
    object.__setattr__(lookup, "__pydantic_extra__", None)
    object.__setattr__(lookup, "__pydantic_private__", None)
    return lookup
