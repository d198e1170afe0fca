"""Documented Dataverse response shapes used by the wire tests (dataverse-web-api.md)."""

from __future__ import annotations

from typing import Any

ORG = "https://contoso.crm.dynamics.com"
BASE = ORG + "/api/data/v9.2/"
FV = "@OData.Community.Display.V1.FormattedValue"
LN = "@Microsoft.Dynamics.CRM.lookuplogicalname"

LEAD_OPTIONS = [
    (1, 0, "New"),
    (2, 0, "Contacted"),
    (3, 1, "Qualified"),
    (4, 2, "Lost"),
    (5, 2, "Cannot Contact"),
    (6, 2, "No Longer Interested"),
    (7, 2, "Canceled"),
]

METADATA_PATH = (
    "EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='statuscode')"
    "/Microsoft.Dynamics.CRM.StatusAttributeMetadata"
)


def status_metadata(options: list[tuple[int, int, str]]) -> dict[str, Any]:
    """A StatusAttributeMetadata body with its OptionSet expanded."""
    return {
        "@odata.context": BASE + "$metadata#EntityDefinitions('lead')/Attributes("
        "Microsoft.Dynamics.CRM.StatusAttributeMetadata(LogicalName,OptionSet))/$entity",
        "LogicalName": "statuscode",
        "MetadataId": "8c8b2c7f-0000-0000-0000-000000000001",
        "OptionSet": {
            "MetadataId": "8c8b2c7f-0000-0000-0000-000000000002",
            "OptionSetType": "Status",
            "Options": [
                {
                    "Value": value,
                    "State": state,
                    "TransitionData": None,
                    "Label": {
                        "LocalizedLabels": [{"Label": label, "LanguageCode": 1033}],
                        "UserLocalizedLabel": {"Label": label, "LanguageCode": 1033},
                    },
                }
                for value, state, label in options
            ],
        },
    }


def lead_row(lead_id: str, **columns: Any) -> dict[str, Any]:
    """A lead row as a GET with include-annotations returns it."""
    state = columns.pop("statecode", 0)
    status = columns.pop("statuscode", 1)
    labels = {value: label for value, _, label in LEAD_OPTIONS}
    return {
        "@odata.context": BASE + "$metadata#leads/$entity",
        "@odata.etag": columns.pop("etag", 'W/"1001"'),
        "leadid": lead_id,
        "statecode": state,
        f"statecode{FV}": ["Open", "Qualified", "Disqualified"][state],
        "statuscode": status,
        f"statuscode{FV}": labels.get(status, str(status)),
        **columns,
    }


def error_body(code: str, message: str) -> dict[str, Any]:
    """The OData v4 error body Dataverse sends."""
    return {"error": {"code": code, "message": message}}
