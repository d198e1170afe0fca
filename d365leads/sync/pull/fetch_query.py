"""The FetchXML of a filtered mirror: checked before anything is sent, and the queries its
passes send (rows since a watermark, the ids of the filter, rows by id).

The user's query decides *which* rows and columns are mirrored; the mirror decides the order
and the paging. So the query must be a plain row query of one of the mirrored tables: no
``aggregate``, no ``top`` (a mirror holds every matching row), no alias on the table's own
columns (columns are stored by logical name). Its ``<order>`` elements are dropped: every pass
reads ``modifiedon`` ascending with the primary key as the tiebreak, and the primary key and
``modifiedon`` are added to the columns when the query does not name them.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from d365leads.errors import SyncError
from d365leads.fetchxml import check_fetchxml, fetch_entity
from d365leads.sync.tables import TABLES, ColumnSpec, TableSpec, table_spec

__all__ = ["MirrorQuery", "fetchxml_digest", "prepare_mirror_query"]

_TRUE = ("true", "1")


def fetchxml_digest(xml: str) -> str:
    """SHA-256 of the query's canonical XML (whitespace between elements and attribute order
    do not change it; any change of a table, column, condition or value does)."""
    canonical = ET.canonicalize(xml_data=xml, strip_text=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _refuse(message: str) -> SyncError:
    return SyncError(f"the FetchXML cannot drive a mirror: {message}; nothing was sent")


@dataclass(frozen=True)
class MirrorQuery:
    """A checked FetchXML query of a mirrored table, ready to be varied by each pass."""

    spec: TableSpec
    root: ET.Element
    """The ``<fetch>`` with its orders and paging attributes removed (never changed)."""
    digest: str
    xml: str
    extra_columns: tuple[str, ...]
    """Columns of the query that the table's spec does not model (stored as text)."""

    @property
    def columns(self) -> tuple[ColumnSpec, ...]:
        """The mirror's columns: the modelled ones plus the query's other columns."""
        return self.spec.with_extras(self.extra_columns)

    def _copy(self) -> tuple[ET.Element, ET.Element]:
        root = ET.fromstring(ET.tostring(self.root, encoding="unicode"))
        entity = root.find("entity")
        assert entity is not None
        return root, entity

    def _ordered(self, entity: ET.Element, *columns: str) -> None:
        for column in columns:
            ET.SubElement(entity, "order", {"attribute": column, "descending": "false"})

    def since(self, when: datetime | None) -> ET.Element:
        """The query in watermark order; with ``when``, only rows modified at or after it."""
        root, entity = self._copy()
        if when is not None:
            # Every filter of the query stays; the watermark condition is ANDed with them.
            wrapper = ET.Element("filter", {"type": "and"})
            for old in entity.findall("filter"):
                entity.remove(old)
                wrapper.append(old)
            stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            ET.SubElement(
                wrapper,
                "condition",
                {"attribute": self.spec.modified_column, "operator": "ge", "value": stamp},
            )
            entity.append(wrapper)
        self._ordered(entity, self.spec.modified_column, self.spec.primary_key)
        return root

    def ids(self) -> ET.Element:
        """The ids of every row the query matches now (joins and filters kept, no columns)."""
        root, entity = self._copy()
        for element in [*entity.iter("attribute"), *entity.iter("all-attributes")]:
            _parent_of(entity, element).remove(element)
        ET.SubElement(entity, "attribute", {"name": self.spec.primary_key})
        self._ordered(entity, self.spec.primary_key)
        return root

    def by_ids(self, ids: Sequence[str]) -> ET.Element:
        """The query's rows among ``ids`` (rows that entered the filter unseen)."""
        root, entity = self._copy()
        wrapper = ET.Element("filter", {"type": "and"})
        for old in entity.findall("filter"):
            entity.remove(old)
            wrapper.append(old)
        condition = ET.SubElement(
            wrapper, "condition", {"attribute": self.spec.primary_key, "operator": "in"}
        )
        for rid in ids:
            ET.SubElement(condition, "value").text = rid
        entity.append(wrapper)
        self._ordered(entity, self.spec.primary_key)
        return root


def _parent_of(top: ET.Element, child: ET.Element) -> ET.Element:
    for parent in top.iter():
        if child in list(parent):
            return parent
    raise AssertionError("element not under the entity")


def prepare_mirror_query(xml: str, table: str | None = None) -> MirrorQuery:
    """Check ``xml`` as the query of a filtered mirror (of ``table``, when given).

    :raises InvalidInputError: not well-formed (the error names the line and column).
    :raises SyncError: a query no mirror can follow (aggregate, ``top``, an aliased column,
        a table sync does not mirror, or another table than ``table``).
    """
    root = check_fetchxml(xml)
    entity_name = fetch_entity(root)
    if entity_name not in TABLES:
        raise _refuse(
            f"it queries {entity_name!r}; the tables sync mirrors are {', '.join(TABLES)}"
        )
    spec = TABLES[entity_name]
    if table is not None and table_spec(table).logical_name != entity_name:
        raise _refuse(
            f"it queries {entity_name!r} but the mirror is of {table_spec(table).logical_name!r}"
        )
    if (root.get("aggregate") or "").lower() in _TRUE:
        raise _refuse("an aggregate query returns totals, not rows")
    if root.get("top") is not None:
        raise _refuse("top limits the rows; a mirror holds every matching row (drop top)")
    entity = root.find("entity")
    assert entity is not None
    extras: list[str] = []
    named = {spec.primary_key, spec.modified_column}
    known = {c.name for c in spec.columns}
    all_attributes = entity.find("all-attributes") is not None
    for attribute in entity.findall("attribute"):
        name = (attribute.get("name") or "").strip().lower()
        if not name:
            raise _refuse("an <attribute> of the table has no name")
        if attribute.get("alias"):
            raise _refuse(
                f"<attribute name='{name}' alias='{attribute.get('alias')}'>: columns are stored "
                "by their logical name (drop the alias)"
            )
        if attribute.get("aggregate") or attribute.get("groupby"):
            raise _refuse(f"<attribute name='{name}'> aggregates")
        named.discard(name)
        if name not in known and name not in extras:
            extras.append(name)
    if not all_attributes:
        # The watermark needs modifiedon and the primary key in every row.
        for name in sorted(named):
            ET.SubElement(entity, "attribute", {"name": name})
    for parent in [root, *root.iter()]:
        for order in parent.findall("order"):
            parent.remove(order)
    for name in ("count", "page", "paging-cookie"):
        root.attrib.pop(name, None)
    try:
        spec.with_extras(extras)
    except SyncError as exc:
        raise _refuse(str(exc)) from None
    return MirrorQuery(spec, root, fetchxml_digest(xml), xml, tuple(extras))
