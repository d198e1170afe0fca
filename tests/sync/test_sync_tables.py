"""Unit tests of the column specs: wire value conversion, delete entries, table names."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from d365leads.errors import SyncError
from d365leads.sync.tables import LEAD, convert, deleted_id, parse_datetime, row_builder, table_spec


def test_timestamps_parse_to_aware_utc() -> None:
    want = datetime(2026, 1, 5, 9, 0, 1, 123456, tzinfo=timezone.utc)
    assert parse_datetime("2026-01-05T09:00:01.123456Z") == want
    assert parse_datetime("2026-01-05T10:00:01.1234567+01:00") == want
    assert parse_datetime("2026-01-05T09:00:00") == datetime(2026, 1, 5, 9, tzinfo=timezone.utc)


def test_conversion_errors_name_the_column() -> None:
    assert convert("int", "42") == 42
    assert convert("date", "2026-02-03T00:00:00Z") == date(2026, 2, 3)
    assert convert("lookup", "ABCD") == "abcd"
    assert convert("extra", {"a": 1}) == '{"a":1}'
    with pytest.raises(SyncError, match="column 'numberofemployees'"):
        convert("int", "many", "numberofemployees")
    build = row_builder(LEAD.with_extras([]))
    with pytest.raises(SyncError, match="column 'revenue'"):
        build({"leadid": "x", "revenue": "lots"})


def test_row_builder_fills_labels_and_polymorphic_targets() -> None:
    build = row_builder(LEAD.with_extras(["new_score"]))
    out = build(
        {
            "statuscode": 6,
            "statuscode@OData.Community.Display.V1.FormattedValue": "No Longer Interested",
            "_customerid_value": "0A",
            "_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
            "new_score": 7,
        }
    )
    assert out["statuscode"] == 6 and out["statuscode_label"] == "No Longer Interested"
    assert (out["customerid"], out["customeridtype"]) == ("0a", "contact")
    assert out["new_score"] == "7" and out["subject"] is None


def test_deleted_entries_are_recognised() -> None:
    ctx = "https://x/api/data/v9.2/$metadata#leads/$deletedEntity"
    assert deleted_id({"@odata.context": ctx, "id": "AB", "reason": "deleted"}) == "ab"
    assert deleted_id({"leadid": "ab", "subject": "deleted"}) is None


def test_table_names_and_extra_columns() -> None:
    assert table_spec("Leads") is LEAD and table_spec("lead") is LEAD
    with pytest.raises(SyncError, match="the tables sync knows are lead, account"):
        table_spec("widgets")
    cols = LEAD.with_extras(["_new_region_value", "new_score", "subject"])
    extra = {c.name: c.kind for c in cols[len(LEAD.columns) :]}
    assert extra == {"new_region": "lookup", "new_score": "extra"}
