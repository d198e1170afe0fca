"""An in-memory org for the FetchXML engine's unit tests (implements ``FetchOrg``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

SCHEMA: dict[str, dict[str, str]] = {
    "lead": {
        "leadid": "guid",
        "fullname": "string",
        "companyname": "string",
        "subject": "string",
        "leadsourcecode": "picklist",
        "statecode": "state",
        "statuscode": "status",
        "ownerid": "owner",
        "owningbusinessunit": "lookup",
        "createdon": "datetime",
        "modifiedon": "datetime",
        "estimatedclosedate": "date",
        "revenue": "money",
        "numberofemployees": "int",
        "donotemail": "bool",
        "parentaccountid": "lookup",
    },
    "account": {
        "accountid": "guid",
        "name": "string",
        "address1_city": "string",
        "numberofemployees": "int",
        "primarycontactid": "lookup",
    },
    "contact": {"contactid": "guid", "fullname": "string", "jobtitle": "string"},
}

USER_ID = "aaaaaaaa-0000-0000-0000-000000000001"
OTHER_USER_ID = "aaaaaaaa-0000-0000-0000-000000000002"
BUSINESS_UNIT_ID = "bbbbbbbb-0000-0000-0000-000000000001"
NOW = datetime(2026, 3, 15, 12, 30, tzinfo=timezone.utc)


class MemoryOrg:
    """Tables of dict rows; the caller, business unit and clock are attributes."""

    def __init__(self, now: datetime = NOW) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in SCHEMA}
        self.clock = now
        self.me = USER_ID
        self.unit = BUSINESS_UNIT_ID

    def add(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            assert set(row) <= set(SCHEMA[table]), set(row) - set(SCHEMA[table])
            self.tables[table].append(dict(row))

    def has_table(self, table: str) -> bool:
        return table in SCHEMA

    def column_type(self, table: str, column: str) -> str | None:
        return SCHEMA[table].get(column)

    def columns(self, table: str) -> Iterable[str]:
        return list(SCHEMA[table])

    def primary_id(self, table: str) -> str:
        return f"{table}id"

    def rows(self, table: str) -> Iterable[Mapping[str, Any]]:
        return self.tables[table]

    def user_id(self) -> str:
        return self.me

    def business_unit_id(self) -> str:
        return self.unit

    def now(self) -> datetime:
        return self.clock


def guid(n: int, prefix: str = "00000000") -> str:
    """A readable GUID: ``prefix-0000-0000-0000-<n as 12 hex digits>``."""
    return f"{prefix}-0000-0000-0000-{n:012x}"
