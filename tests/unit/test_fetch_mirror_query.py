"""The FetchXML of a filtered mirror: checks, forced columns, and the queries each pass sends."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from d365leads.errors import InvalidInputError, SyncError
from d365leads.sync.pull.fetch_query import fetchxml_digest, prepare_mirror_query

QUERY = (
    '<fetch version="1.0" count="50" page="2">'
    '<entity name="lead"><attribute name="subject"/><attribute name="new_score"/>'
    '<order attribute="subject" descending="true"/>'
    '<filter type="or"><condition attribute="companyname" operator="eq" value="A"/>'
    '<condition attribute="companyname" operator="eq" value="B"/></filter>'
    '<link-entity name="account" from="accountid" to="parentaccountid" alias="acc">'
    '<attribute name="name"/><order attribute="name"/></link-entity>'
    "</entity></fetch>"
)


def _entity(root: ET.Element) -> ET.Element:
    entity = root.find("entity")
    assert entity is not None
    return entity


def test_prepare_forces_the_watermark_columns_and_drops_order_and_paging() -> None:
    query = prepare_mirror_query(QUERY)
    assert query.spec.logical_name == "lead" and query.extra_columns == ("new_score",)
    assert "new_score" in {c.name for c in query.columns}
    entity = _entity(query.root)
    names = [a.get("name") for a in entity.findall("attribute")]
    assert names == ["subject", "new_score", "leadid", "modifiedon"]
    assert not list(query.root.iter("order"))
    assert query.root.get("count") is None and query.root.get("page") is None
    every = prepare_mirror_query(
        "<fetch><entity name='account'><all-attributes/></entity></fetch>", "accounts"
    )
    assert not _entity(every.root).findall("attribute")


def test_since_ands_the_watermark_with_the_query_filters_in_watermark_order() -> None:
    query = prepare_mirror_query(QUERY)
    root = query.since(datetime(2026, 1, 5, 9, 0, 7, 500000, tzinfo=timezone.utc))
    entity = _entity(root)
    [wrapper] = entity.findall("filter")
    assert wrapper.get("type") == "and"
    inner, condition = list(wrapper)
    assert inner.get("type") == "or" and len(inner) == 2
    assert condition.attrib == {
        "attribute": "modifiedon",
        "operator": "ge",
        "value": "2026-01-05T09:00:07Z",
    }
    orders = [(o.get("attribute"), o.get("descending")) for o in entity.findall("order")]
    assert orders == [("modifiedon", "false"), ("leadid", "false")]
    # without a watermark the filters are the query's own; the prepared query never changes
    plain = _entity(query.since(None))
    assert [f.get("type") for f in plain.findall("filter")] == ["or"]
    assert not _entity(query.root).findall("order")


def test_ids_keeps_joins_and_filters_but_reads_only_the_key() -> None:
    root = prepare_mirror_query(QUERY).ids()
    entity = _entity(root)
    assert [a.get("name") for a in root.iter("attribute")] == ["leadid"]
    link = entity.find("link-entity")
    assert link is not None and link.get("alias") == "acc"
    assert entity.find("filter") is not None


def test_by_ids_adds_an_in_condition() -> None:
    root = prepare_mirror_query(QUERY).by_ids(["a", "b"])
    [wrapper] = _entity(root).findall("filter")
    condition = wrapper.find("condition")
    assert condition is not None
    assert condition.get("attribute") == "leadid" and condition.get("operator") == "in"
    assert [v.text for v in condition.findall("value")] == ["a", "b"]


def test_digest_ignores_layout_but_not_content() -> None:
    spaced = QUERY.replace("><", ">\n  <").replace(
        '<fetch version="1.0" count="50" page="2">', "<fetch page='2' count='50' version='1.0'>"
    )
    assert spaced != QUERY
    assert fetchxml_digest(spaced) == fetchxml_digest(QUERY)
    assert fetchxml_digest(QUERY.replace('value="B"', 'value="C"')) != fetchxml_digest(QUERY)


@pytest.mark.parametrize(
    ("xml", "table", "error", "words"),
    [
        ("<fetch>\n<entity name='lead'>\n</fetch>", None, InvalidInputError, "line 3"),
        ("<fetch><entity name='task'/></fetch>", None, SyncError, "the tables sync mirrors"),
        ("<fetch><entity name='lead'/></fetch>", "contact", SyncError, "mirror is of 'contact'"),
        ("<fetch top='3'><entity name='lead'/></fetch>", None, SyncError, "drop top"),
        ("<fetch aggregate='true'><entity name='lead'/></fetch>", None, SyncError, "aggregate"),
        (
            "<fetch><entity name='lead'><attribute name='subject' alias='s'/></entity></fetch>",
            None,
            SyncError,
            "drop the alias",
        ),
        (
            "<fetch><entity name='lead'><attribute name='Bad-Name'/></entity></fetch>",
            None,
            SyncError,
            "not a column name",
        ),
    ],
)
def test_queries_no_mirror_can_follow_are_refused(
    xml: str, table: str | None, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        prepare_mirror_query(xml, table)
