"""Account, contact and lead columns that Microsoft's documented Web API examples use.

The lead lifecycle does not need them, but a documented request body (``creditonhold``,
``address1_latitude``, ``accountcategorycode``, ``customertypecode``, ``fax``, …) must not get
400 for an unknown column.  Option values and labels are those of a default Dataverse org.
Double columns (latitude/longitude) are typed ``decimal``: the fake compares and serialises
them as numbers, which is all a Web API client sees of the difference.
"""

from __future__ import annotations

from types import MappingProxyType

from .schema import Column

__all__ = ["ACCOUNT_EXAMPLE_COLUMNS", "CONTACT_EXAMPLE_COLUMNS", "LEAD_EXAMPLE_COLUMNS"]

_YES_NO = MappingProxyType({0: "No", 1: "Yes"})
_CATEGORY = MappingProxyType({1: "Preferred Customer", 2: "Standard"})
_CUSTOMER_TYPE = MappingProxyType(
    {1: "Competitor", 2: "Consultant", 3: "Customer", 4: "Investor", 5: "Partner",
     6: "Influencer", 7: "Press", 8: "Prospect", 9: "Reseller", 10: "Supplier", 11: "Vendor",
     12: "Other"}
)  # fmt: skip
_WEEKDAY = MappingProxyType(
    {0: "Sunday", 1: "Monday", 2: "Tuesday", 3: "Wednesday", 4: "Thursday", 5: "Friday",
     6: "Saturday"}
)  # fmt: skip
_INDUSTRY = MappingProxyType(
    {1: "Accounting", 2: "Agriculture and Non-petrol Natural Resource Extraction",
     3: "Broadcasting Printing and Publishing", 4: "Brokers", 5: "Building Supply Retail",
     6: "Business Services", 7: "Consulting", 8: "Consumer Services",
     9: "Design, Direction and Creative Management",
     10: "Distributors, Dispatchers and Processors", 11: "Doctor's Offices and Clinics",
     12: "Durable Manufacturing", 13: "Eating and Drinking Places", 14: "Entertainment Retail",
     15: "Equipment Rental and Leasing", 16: "Financial", 17: "Food and Tobacco Processing",
     18: "Inbound Capital Intensive Processing", 19: "Inbound Repair and Services",
     20: "Insurance", 21: "Legal Services", 22: "Non-Durable Merchandise Retail",
     23: "Outbound Consumer Service", 24: "Petrochemical Extraction and Distribution",
     25: "Service Retail", 26: "SIG Affiliations", 27: "Social Services",
     28: "Special Outbound Trade Contractors", 29: "Specialty Realty", 30: "Transportation",
     31: "Utility Creation and Distribution", 32: "Vehicle Retail", 33: "Wholesale"}
)  # fmt: skip
_CONTACT_METHOD = MappingProxyType({1: "Any", 2: "Email", 3: "Phone", 4: "Fax", 5: "Mail"})


def _common() -> tuple[Column, ...]:
    return (
        Column("fax", "string", "Fax", max_length=50),
        Column("telephone2", "string", "Other Phone", max_length=50),
        Column("address1_latitude", "decimal", "Address 1: Latitude", precision=5),
        Column("address1_longitude", "decimal", "Address 1: Longitude", precision=5),
        Column("creditonhold", "bool", "Credit Hold", options=_YES_NO),
        Column(
            "preferredcontactmethodcode",
            "picklist",
            "Preferred Method of Contact",
            options=_CONTACT_METHOD,
        ),
    )


ACCOUNT_EXAMPLE_COLUMNS: tuple[Column, ...] = (
    *_common(),
    Column("accountcategorycode", "picklist", "Category", options=_CATEGORY),
    Column("customertypecode", "picklist", "Relationship Type", options=_CUSTOMER_TYPE),
    Column("industrycode", "picklist", "Industry", options=_INDUSTRY),
    Column("preferredappointmentdaycode", "picklist", "Preferred Day", options=_WEEKDAY),
    Column("creditlimit", "money", "Credit Limit"),
    Column("tickersymbol", "string", "Ticker Symbol", max_length=10),
)
"""Documented account columns beyond the lifecycle's."""

CONTACT_EXAMPLE_COLUMNS: tuple[Column, ...] = (
    *_common(),
    Column("birthdate", "date", "Birthday"),
    Column("annualincome", "money", "Annual Income"),
    Column("creditlimit", "money", "Credit Limit"),
    Column("gendercode", "picklist", "Gender", options=MappingProxyType({1: "Male", 2: "Female"})),
    Column(
        "familystatuscode",
        "picklist",
        "Marital Status",
        options=MappingProxyType({1: "Single", 2: "Married", 3: "Divorced", 4: "Widowed"}),
    ),
    Column(
        "accountrolecode",
        "picklist",
        "Role",
        options=MappingProxyType({1: "Decision Maker", 2: "Employee", 3: "Influencer"}),
    ),
    Column("preferredappointmentdaycode", "picklist", "Preferred Day", options=_WEEKDAY),
)
"""Documented contact columns beyond the lifecycle's."""

LEAD_EXAMPLE_COLUMNS: tuple[Column, ...] = (
    *_common(),
    Column(
        "leadqualitycode",
        "picklist",
        "Rating",
        options=MappingProxyType({1: "Hot", 2: "Warm", 3: "Cold"}),
    ),
    Column("industrycode", "picklist", "Industry", options=_INDUSTRY),
    Column("budgetamount", "money", "Budget Amount"),
    Column(
        "purchasetimeframe",
        "picklist",
        "Purchase Timeframe",
        options=MappingProxyType(
            {0: "Immediate", 1: "This Quarter", 2: "Next Quarter", 3: "This Year", 4: "Unknown"}
        ),
    ),
    Column(
        "purchaseprocess",
        "picklist",
        "Purchase Process",
        options=MappingProxyType({0: "Individual", 1: "Committee", 2: "Unknown"}),
    ),
)
"""Documented lead columns beyond the lifecycle's."""
