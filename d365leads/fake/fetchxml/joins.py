"""``link-entity``: inner and outer joins, nested, each filtered by its own ``<filter>``.

``to`` names the parent's column and ``from`` the linked table's column. An inner join keeps
one joined row per matching linked row (a one-to-many link repeats the parent); an outer join
keeps a parent without a match once, with ``None`` for the link's scope. A link's own filter
selects the linked rows before the join, so an outer join whose filter rejects every linked
row still keeps the parent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .conditions import JoinedRow, compile_filters
from .errors import CODE_INVALID_ALIAS, FetchXmlError, no_attribute, no_entity
from .nodes import Fetch, LinkEntity, Source
from .org import FetchOrg
from .values import comparable

__all__ = ["join", "scopes_of"]


def scopes_of(fetch: Fetch, org: FetchOrg) -> dict[str, str]:
    """Alias -> table for the entity (``""``) and every link-entity; checks the tables."""
    if not org.has_table(fetch.entity.name):
        raise no_entity(fetch.entity.name)
    scopes = {"": fetch.entity.name}
    for link in fetch.all_links():
        if not org.has_table(link.name):
            raise no_entity(link.name)
        if link.alias in scopes:
            raise FetchXmlError(
                CODE_INVALID_ALIAS,
                f"The alias '{link.alias}' is used by more than one link-entity.",
            )
        scopes[link.alias] = link.name
    return scopes


def join(fetch: Fetch, org: FetchOrg, scopes: Mapping[str, str]) -> list[dict[str, Any]]:
    """The entity's rows joined with every link-entity (before the entity's own filter)."""
    rows: list[dict[str, Any]] = [{"": row} for row in org.rows(fetch.entity.name)]
    return _join_links(rows, fetch.entity, "", org, scopes)


def _join_links(
    rows: list[dict[str, Any]],
    parent: Source,
    parent_scope: str,
    org: FetchOrg,
    scopes: Mapping[str, str],
) -> list[dict[str, Any]]:
    for link in parent.links:
        rows = _join_one(rows, link, parent, parent_scope, org, scopes)
        rows = _join_links(rows, link, link.alias, org, scopes)
    return rows


def _join_one(
    rows: Iterable[dict[str, Any]],
    link: LinkEntity,
    parent: Source,
    parent_scope: str,
    org: FetchOrg,
    scopes: Mapping[str, str],
) -> list[dict[str, Any]]:
    to_kind = org.column_type(parent.name, link.to_attribute)
    if to_kind is None:
        raise no_attribute(parent.name, link.to_attribute)
    from_kind = org.column_type(link.name, link.from_attribute)
    if from_kind is None:
        raise no_attribute(link.name, link.from_attribute)
    accept = compile_filters(link.filters, org, scopes, link.alias)
    index: dict[Any, list[Mapping[str, Any]]] = {}
    for candidate in org.rows(link.name):
        key = comparable(from_kind, candidate.get(link.from_attribute))
        if key is None or not accept({link.alias: candidate}):
            continue
        index.setdefault(key, []).append(candidate)
    joined: list[dict[str, Any]] = []
    for row in rows:
        source: JoinedRow | None = row.get(parent_scope)
        value = None if source is None else source.get(link.to_attribute)
        matches = index.get(comparable(to_kind, value), []) if value is not None else []
        if matches:
            joined.extend({**row, link.alias: match} for match in matches)
        elif link.link_type == "outer":
            joined.append({**row, link.alias: None})
    return joined
