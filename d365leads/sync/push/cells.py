"""One CSV cell to one lead property: the column rules and the per-type parsers.

Each parser raises ``ValueError`` saying what is wrong with the value; the caller adds the line
and column.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from d365leads.errors import InvalidIdError
from d365leads.metadata import AttributeInfo
from d365leads.models import Lead, entity_set_of
from d365leads.odata.literals import normalize_guid
from d365leads.records import odata_bind
from d365leads.sync.tables import LEAD

__all__ = ["READ_ONLY", "TENANT_TYPES", "parse_cell", "parse_org_cell", "parse_status"]


_EMAIL = re.compile(r"^[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+$")
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}

_MAX_LENGTH = {
    "subject": 300,
    "firstname": 50,
    "middlename": 50,
    "lastname": 50,
    "companyname": 100,
    "jobtitle": 100,
    "emailaddress1": 100,
    "telephone1": 50,
    "mobilephone": 20,
    "websiteurl": 200,
    "address1_line1": 250,
    "address1_line2": 250,
    "address1_line3": 250,
    "address1_city": 80,
    "address1_stateorprovince": 50,
    "address1_postalcode": 20,
    "address1_country": 80,
    "description": 2000,
    "qualificationcomments": 2000,
}
# Writable single-target lookups of the Lead model -> entity set bound to (an owner is bound
# to its first target, a user).
_LOOKUP_SETS = {
    name: entity_set_of(spec.targets[0])
    for name, spec in Lead.lookups.items()
    if not spec.read_only and not spec.polymorphic
}
READ_ONLY = {
    "fullname": "it is computed from firstname and lastname",
    "createdon": "Dataverse sets it",
    "modifiedon": "Dataverse sets it",
    "createdby": "Dataverse sets it",
    "modifiedby": "Dataverse sets it",
    "versionnumber": "Dataverse sets it",
    "customerid": "it is polymorphic; set parentaccountid or parentcontactid instead",
    "statecode": "it follows from statuscode; set statuscode only",
}
_LEAD_SOURCES = {
    1: "Advertisement",
    2: "Employee Referral",
    3: "External Referral",
    4: "Partner",
    5: "Public Relations",
    6: "Seminar",
    7: "Trade Show",
    8: "Web",
    9: "Word of Mouth",
    10: "Other",
}


# AttributeType codes of org columns a CSV cell can be converted to.
TENANT_TYPES = (
    "String",
    "Memo",
    "Integer",
    "BigInt",
    "Decimal",
    "Double",
    "Money",
    "Boolean",
    "DateTime",
)
_INT_RANGES = {"Integer": (-(2**31), 2**31 - 1), "BigInt": (-(2**63), 2**63 - 1)}


def parse_status(text: str) -> int | None:
    stripped = text.strip()
    if stripped.isdigit():
        value = int(stripped)
        return value if value in LEAD.statuses else None
    for value, (_state, label) in LEAD.statuses.items():
        if label.lower() == stripped.lower():
            return value
    return None


def _parse_int(value: str, low: int | None = None, high: int | None = None) -> int:
    if not _INTEGER.match(value):
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value)
    if low is not None and high is not None and not low <= number <= high:
        raise ValueError(f"{value} is out of range ({low} to {high})")
    return number


def _parse_number(value: str) -> float:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number (use '.' for decimals)") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return float(number)


def _parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true/false (or yes/no, 1/0)")


def _parse_datetime(value: str) -> str:
    """A date (``YYYY-MM-DD``, sent as is) or a date and time with a zone (sent in UTC)."""
    if len(value) == 10:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                raise ValueError(
                    f"{value!r} has no time zone; add Z (UTC) or an offset such as +02:00"
                )
            return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    raise ValueError(
        f"{value!r} is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM:SSZ)"
    )


def parse_org_cell(attr: AttributeInfo, text: str) -> Any:
    """The value of one cell of an org (tenant) column, by its ``AttributeType``."""
    value = text.strip()
    kind = attr.type
    if kind in ("String", "Memo"):
        return value
    if kind in _INT_RANGES:
        return _parse_int(value, *_INT_RANGES[kind])
    if kind in ("Decimal", "Double", "Money"):
        return _parse_number(value)
    if kind == "Boolean":
        return _parse_bool(value)
    if kind == "DateTime":
        return _parse_datetime(value)
    raise ValueError(f"cannot be written from a CSV file (a {kind} column)")


def parse_cell(name: str, text: str) -> tuple[str, Any]:
    """``(property, value)`` for one cell; raises ``ValueError`` with what is wrong."""
    col = LEAD.column(name)
    assert col is not None
    kind = col.kind
    value = text.strip()
    if name in _LOOKUP_SETS:
        try:
            guid = normalize_guid(value, what=name)
        except InvalidIdError:
            raise ValueError(f"{value!r} is not a GUID (expected 00000000-0000-...)") from None
        return f"{name}@odata.bind", odata_bind(_LOOKUP_SETS[name], guid)
    if kind in ("string", "memo"):
        limit = _MAX_LENGTH.get(name)
        if limit is not None and len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; at most {limit} are allowed")
        if name == "emailaddress1" and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return name, value
    if kind in ("int", "bigint"):
        return name, _parse_int(value)
    if kind in ("money", "decimal", "float"):
        return name, _parse_number(value)
    if kind == "bool":
        return name, _parse_bool(value)
    if kind == "date":
        try:
            return name, date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if kind == "choice":
        if value.isdigit() and int(value) in _LEAD_SOURCES:
            return name, int(value)
        for code, label in _LEAD_SOURCES.items():
            if label.lower() == value.lower():
                return name, code
        raise ValueError(
            f"{value!r} is not a lead source; use one of {', '.join(_LEAD_SOURCES.values())}"
        )
    raise ValueError("cannot be written from a CSV file")
