"""The parsed FetchXML query: one frozen dataclass per element the engine understands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Attribute",
    "Condition",
    "Fetch",
    "Filter",
    "LinkEntity",
    "Order",
    "Source",
]


@dataclass(frozen=True)
class Condition:
    """``<condition attribute= operator= value= entityname=>`` with its ``<value>`` children."""

    attribute: str
    operator: str
    values: tuple[str, ...] = ()
    entityname: str | None = None


@dataclass(frozen=True)
class Filter:
    """``<filter type="and|or">`` holding conditions and nested filters."""

    type: Literal["and", "or"] = "and"
    items: tuple[Condition | Filter, ...] = ()


@dataclass(frozen=True)
class Attribute:
    """``<attribute>``: a column, optionally aliased, grouped or aggregated."""

    name: str
    alias: str | None = None
    aggregate: str | None = None
    groupby: bool = False
    distinct: bool = False


@dataclass(frozen=True)
class Order:
    """``<order attribute= | alias= descending=>``."""

    attribute: str | None = None
    alias: str | None = None
    descending: bool = False


@dataclass(frozen=True)
class Source:
    """What ``<entity>`` and ``<link-entity>`` share: a table and what to read from it."""

    name: str
    attributes: tuple[Attribute, ...] = ()
    all_attributes: bool = False
    orders: tuple[Order, ...] = ()
    filters: tuple[Filter, ...] = ()
    links: tuple[LinkEntity, ...] = ()


@dataclass(frozen=True)
class LinkEntity(Source):
    """``<link-entity name= from= to= link-type= alias=>``.

    ``from`` is the column of the linked table, ``to`` the column of the parent.
    """

    from_attribute: str = ""
    to_attribute: str = ""
    link_type: Literal["inner", "outer"] = "inner"
    alias: str = ""


@dataclass(frozen=True)
class Fetch:
    """``<fetch>`` and its single ``<entity>``."""

    entity: Source
    top: int | None = None
    count: int | None = None
    page: int | None = None
    paging_cookie: str | None = None
    distinct: bool = False
    aggregate: bool = False
    aggregate_limit: int | None = None

    def all_links(self) -> tuple[LinkEntity, ...]:
        """Every link-entity, depth first, in document order."""
        found: list[LinkEntity] = []

        def walk(source: Source) -> None:
            for link in source.links:
                found.append(link)
                walk(link)

        walk(self.entity)
        return tuple(found)
