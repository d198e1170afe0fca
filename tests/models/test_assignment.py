"""Assigning a field validates that field alone, with pydantic's exact result and errors."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ConfigDict, ValidationError, field_validator

from d365leads.models import Account, Contact, Lead, Lookup, Opportunity
from d365leads.models.assignment import field_validators
from d365leads.models.base import DataverseModel

LEAD_ID = "0b6e2c55-8f0a-4c1e-9d62-3f1a7a0c9e11"
ACCOUNT_ID = "5d2b3a4c-1e0f-4a9b-8c7d-6e5f4a3b2c1d"


def _loaded() -> Lead:
    return Lead.from_wire(
        {"leadid": LEAD_ID, "subject": "Before", "statuscode": 1, "new_region": "north"}
    )


def _pydantic(model: DataverseModel, name: str, value: Any) -> Any:
    """pydantic's own assignment path on a copy: the reference result (or error)."""
    copy = model.model_copy()
    type(model).__pydantic_validator__.validate_assignment(copy, name, value)
    return copy.__dict__[name]


def _outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except ValidationError as exc:
        return ("error", exc.title, str(exc), exc.errors(include_url=False, include_context=False))


VALUES: list[tuple[str, Any]] = [
    ("subject", "Changed"),
    ("subject", None),
    ("subject", 12),
    ("subject", b"bytes"),
    ("statuscode", 2),
    ("statuscode", 99),
    ("statuscode", "2"),
    ("statuscode", "zz"),
    ("statuscode", True),
    ("statecode", 1),
    ("statecode", 7),
    ("leadsourcecode", "3"),
    ("leadsourcecode", 1.5),
    ("estimatedamount", "12.50"),
    ("estimatedamount", "twelve"),
    ("estimatedclosedate", "2026-12-31"),
    ("estimatedclosedate", date(2026, 1, 2)),
    ("estimatedclosedate", "tomorrow"),
    ("leadid", LEAD_ID.upper()),
    ("leadid", "not-a-guid"),
    ("parentaccountid", ACCOUNT_ID),
    ("parentaccountid", Lookup.to("account", ACCOUNT_ID)),
    ("parentaccountid", Lookup.to("contact", ACCOUNT_ID)),
    ("parentaccountid", "{" + ACCOUNT_ID + "}"),
    ("parentaccountid", "nope"),
    ("parentaccountid", 5),
    ("parentaccountid", None),
    ("customerid", ACCOUNT_ID),
    ("customerid", Account(accountid=uuid.UUID(ACCOUNT_ID), name="Contoso")),
    ("customerid", Account(name="No id yet")),
    ("ownerid", {"id": ACCOUNT_ID, "table": "team"}),
]


def _assign_as_pydantic_would(lead: Lead, name: str, value: Any) -> Any:
    """Assign ``value`` to ``lead.name``; check the outcome is pydantic's own, and return it."""
    expected = _outcome(lambda: _pydantic(lead, name, value))

    def assign() -> Any:
        setattr(lead, name, value)
        return lead.__dict__[name]

    assert _outcome(assign) == expected
    return expected


@pytest.mark.parametrize(("name", "value"), VALUES)
def test_assignment_matches_pydantic(name: str, value: Any) -> None:
    lead = _loaded()
    expected = _assign_as_pydantic_would(lead, name, value)
    if expected[0] == "ok":
        assert name in lead.model_fields_set
        assert name in lead.changed_fields
    else:
        assert lead.changed_fields == frozenset()
        assert lead.subject == "Before"


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["subject", "statuscode", "statecode", "leadsourcecode", "leadid"]),
    value=st.one_of(
        st.none(), st.integers(-3, 12), st.text(max_size=8), st.booleans(), st.floats()
    ),
)
def test_assignment_matches_pydantic_for_any_value(name: str, value: Any) -> None:
    _assign_as_pydantic_would(_loaded(), name, value)


def test_other_columns_and_tenant_columns_are_kept() -> None:
    lead = _loaded()
    lead.subject = "After"
    lead.statuscode = 2
    lead.parentaccountid = ACCOUNT_ID
    assert lead.leadid == uuid.UUID(LEAD_ID)
    assert lead.extra == {"new_region": "north"}
    assert lead.changes() == {
        "parentaccountid@odata.bind": f"/accounts({ACCOUNT_ID})",
        "statuscode": 2,
        "subject": "After",
    }


def test_every_declared_column_of_the_tables_takes_the_one_field_path() -> None:
    for model in (Lead, Contact, Account, Opportunity):
        validators = field_validators(model, DataverseModel._coerce)
        assert set(validators) == set(model.model_fields)


class _Frozen(Lead):
    model_config = ConfigDict(extra="allow", validate_assignment=True, frozen=True)


class _ReadsOtherFields(Lead):
    @field_validator("subject")
    @classmethod
    def _needs_lastname(cls, value: Any, info: Any) -> Any:
        if value and not info.data.get("lastname"):
            raise ValueError("a subject needs a last name")
        return value


def test_models_the_one_field_path_cannot_serve_keep_pydantic_assignment() -> None:
    assert field_validators(_Frozen, DataverseModel._coerce.__func__) == {}  # type: ignore[attr-defined]
    frozen = _Frozen(subject="x")
    with pytest.raises(ValidationError, match="frozen"):
        frozen.subject = "y"

    validators = field_validators(_ReadsOtherFields, DataverseModel._coerce)
    assert "subject" not in validators and "lastname" in validators
    record = _ReadsOtherFields(lastname="Lee")
    record.subject = "Seen with the other fields"
    assert record.changes() == {"lastname": "Lee", "subject": "Seen with the other fields"}
    with pytest.raises(ValidationError, match="needs a last name"):
        _ReadsOtherFields().subject = "No last name"


def test_decimal_value_is_the_validated_one() -> None:
    lead = _loaded()
    lead.estimatedamount = "12.50"  # type: ignore[assignment]
    assert lead.estimatedamount == Decimal("12.50")
    assert lead.changes() == {"estimatedamount": 12.5}
