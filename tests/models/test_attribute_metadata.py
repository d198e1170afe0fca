"""Parsing of the ``EntityDefinitions(...)/Attributes`` answer (column definitions)."""

from __future__ import annotations

import pytest

from d365leads.errors import InvalidInputError
from d365leads.metadata import (
    AttributeInfo,
    attributes_metadata_path,
    parse_attribute_metadata,
)

# The documented shape of GET EntityDefinitions(LogicalName='lead')/Attributes?$select=
# LogicalName,AttributeType,IsValidForCreate,IsValidForUpdate: a collection of derived
# AttributeMetadata types, each with @odata.type and MetadataId besides the selected properties.
BODY = {
    "@odata.context": "https://org.crm.dynamics.com/api/data/v9.2/$metadata#EntityDefinitions"
    "('lead')/Attributes(LogicalName,AttributeType,IsValidForCreate,IsValidForUpdate)",
    "value": [
        {
            "@odata.type": "#Microsoft.Dynamics.CRM.StringAttributeMetadata",
            "LogicalName": "subject",
            "AttributeType": "String",
            "IsValidForCreate": True,
            "IsValidForUpdate": True,
            "MetadataId": "9a4b1f4e-0000-0000-0000-000000000001",
        },
        {
            "@odata.type": "#Microsoft.Dynamics.CRM.IntegerAttributeMetadata",
            "LogicalName": "new_Score",
            "AttributeType": "Integer",
            "IsValidForCreate": True,
            "IsValidForUpdate": True,
            "MetadataId": "9a4b1f4e-0000-0000-0000-000000000002",
        },
        {
            "@odata.type": "#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
            "LogicalName": "createdon",
            "AttributeType": "DateTime",
            "IsValidForCreate": False,
            "IsValidForUpdate": False,
            "MetadataId": "9a4b1f4e-0000-0000-0000-000000000003",
        },
        {
            "@odata.type": "#Microsoft.Dynamics.CRM.MoneyAttributeMetadata",
            "LogicalName": "new_budget",
            "AttributeType": "Money",
            "IsValidForCreate": True,
            "IsValidForUpdate": False,
            "MetadataId": "9a4b1f4e-0000-0000-0000-000000000004",
        },
        {"@odata.type": "#Microsoft.Dynamics.CRM.AttributeMetadata", "LogicalName": "new_v"},
        {"@odata.type": "#Microsoft.Dynamics.CRM.AttributeMetadata", "AttributeType": "String"},
    ],
}


def test_parses_names_types_and_write_flags() -> None:
    parsed = parse_attribute_metadata("lead", BODY)
    assert parsed.table == "lead"
    assert parsed.names == ["subject", "new_score", "createdon", "new_budget", "new_v"]
    assert parsed.get("NEW_SCORE") == AttributeInfo("new_score", "Integer", True, True)
    created = parsed.get("createdon")
    assert created is not None and not created.writable
    budget = parsed.get("new_budget")
    assert budget is not None and budget.type == "Money"
    assert (budget.valid_for_create, budget.valid_for_update, budget.writable) == (
        True,
        False,
        True,
    )
    # missing type and flags: nothing is assumed writable
    assert parsed.get("new_v") == AttributeInfo("new_v", "Virtual", False, False)
    assert parsed.get("nope") is None


@pytest.mark.parametrize("body", [{}, {"value": []}, {"value": "x"}])
def test_an_answer_without_columns_is_an_error(body: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError, match="no column definitions for lead"):
        parse_attribute_metadata("lead", body)


def test_path() -> None:
    assert attributes_metadata_path("lead") == "EntityDefinitions(LogicalName='lead')/Attributes"
