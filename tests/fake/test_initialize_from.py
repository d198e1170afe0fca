"""InitializeFrom and the table mappings behind it (``entitymaps``/``attributemaps``).

https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api
("Create a new table row from another table").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _core_api import Api, error_of, make_api

CREATE = "Microsoft.Dynamics.CRM.TargetFieldType'ValidForCreate'"


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


def _initialize(api: Api, moniker: str, target: str, field_type: str = CREATE) -> Any:
    return api.get(
        "InitializeFrom(EntityMoniker=@p1,TargetEntityName=@p2,TargetFieldType=@p3)"
        f"?@p1={moniker}&@p2='{target}'&@p3={field_type}"
    )


LEAD = {
    "subject": "Fleet renewal",
    "firstname": "Ada",
    "lastname": "Byron",
    "companyname": "Analytical Engines",
    "telephone1": "+1-555-0100",
    "address1_city": "London",
    "description": "Wants 40 vans",
}


def test_lead_to_account_contact_and_opportunity(api: Api) -> None:
    (lead,) = api.fake.seed("lead", [LEAD])
    moniker = f"{{'@odata.id':'leads({lead})'}}"

    account = _initialize(api, moniker, "account")
    contact = _initialize(api, moniker, "contact").json()
    opportunity = _initialize(api, moniker, "opportunity").json()

    assert account.status_code == 200
    assert account.json() == {
        "@odata.context": f"{api.base}$metadata#accounts/$entity",
        "@odata.type": "#Microsoft.Dynamics.CRM.account",
        "originatingleadid@odata.bind": f"leads({lead})",
        "name": "Analytical Engines",
        "address1_telephone1": "+1-555-0100",
        "address1_city": "London",
    }
    assert contact["firstname"] == "Ada" and contact["managerphone"] == "+1-555-0100"
    assert contact["originatingleadid@odata.bind"] == f"leads({lead})"
    assert opportunity["name"] == "Fleet renewal"
    assert "description" not in opportunity  # not mapped by default


def test_the_answer_creates_the_row_as_documented(api: Api) -> None:
    (account,) = api.fake.seed("account", [{"name": "Parent", "address1_city": "Oslo"}])
    body = _initialize(api, f'{{"@odata.id":"accounts({account})"}}', "opportunity")
    initial = body.json()
    assert initial["customerid_account@odata.bind"] == f"accounts({account})"
    assert initial["transactioncurrencyid@odata.bind"].startswith("transactioncurrencies(")

    created = api.create("opportunities", {**initial, "name": "From the account"})

    row = api.fake.get("opportunity", created)
    assert row is not None and row["customerid"] == account and row["customeridtype"] == "account"

    contact = _initialize(api, f"{{'@odata.id':'/accounts({account})'}}", "contact").json()
    assert contact["parentcustomerid_account@odata.bind"] == f"accounts({account})"
    assert contact["address1_city"] == "Oslo"


def test_a_tenant_mapping_drives_initialize_from_and_qualify_lead(api: Api) -> None:
    (lead,) = api.fake.seed("lead", [LEAD])
    (entity_map,) = api.get(
        "entitymaps?$select=entitymapid"
        "&$filter=sourceentityname eq 'lead' and targetentityname eq 'opportunity'"
    ).json()["value"]
    api.fake.seed(
        "attributemap",
        {
            "entitymapid": entity_map["entitymapid"],
            "sourceattributename": "description",
            "targetattributename": "description",
        },
    )

    initial = _initialize(api, f"{{'@odata.id':'leads({lead})'}}", "opportunity").json()
    assert initial["description"] == "Wants 40 vans"

    qualified = api.post(
        f"leads({lead})/Microsoft.Dynamics.CRM.QualifyLead",
        json={
            "CreateAccount": True,
            "CreateContact": False,
            "CreateOpportunity": True,
            "Status": 3,
        },
    )
    assert qualified.status_code == 200, qualified.text
    opportunity_id = qualified.json()["value"][1]["opportunityid"]
    opportunity = api.fake.get("opportunity", opportunity_id)
    assert opportunity is not None and opportunity["description"] == "Wants 40 vans"


def test_target_field_type_drops_columns_not_valid_for_create(api: Api) -> None:
    (lead,) = api.fake.seed("lead", [LEAD])
    (entity_map,) = api.get(
        "entitymaps?$filter=sourceentityname eq 'lead' and targetentityname eq 'contact'"
    ).json()["value"]
    api.fake.seed(
        "attributemap",
        {
            "entitymapid": entity_map["entitymapid"],
            "sourceattributename": "fullname",
            "targetattributename": "fullname",  # computed on contact: not valid for create
        },
    )
    moniker = f"{{'@odata.id':'leads({lead})'}}"

    for_create = _initialize(api, moniker, "contact").json()
    everything = _initialize(api, moniker, "contact", "Microsoft.Dynamics.CRM.TargetFieldType'All'")
    by_number = _initialize(api, moniker, "contact", "0").json()

    assert "fullname" not in for_create
    assert everything.json()["fullname"] == "Ada Byron" == by_number["fullname"]


def test_the_mappings_are_listed_as_the_page_suggests(api: Api) -> None:
    body = api.get(
        "entitymaps?$select=sourceentityname,targetentityname&$orderby=sourceentityname"
    ).json()
    pairs = {(m["sourceentityname"], m["targetentityname"]) for m in body["value"]}
    assert {
        ("lead", "account"),
        ("lead", "contact"),
        ("lead", "opportunity"),
        ("account", "account"),
        ("account", "contact"),
        ("account", "opportunity"),
    } <= pairs
    assert [m["sourceentityname"] for m in body["value"]] == sorted(
        m["sourceentityname"] for m in body["value"]
    )


def test_errors_are_specific(api: Api) -> None:
    (lead,) = api.fake.seed("lead", [LEAD])
    missing = "00000000-0000-0000-0000-000000000001"

    no_map = _initialize(api, f"{{'@odata.id':'opportunities({missing})'}}", "lead")
    gone = _initialize(api, f"{{'@odata.id':'leads({missing})'}}", "account")
    bad_type = _initialize(api, f"{{'@odata.id':'leads({lead})'}}", "account", "'Sometimes'")
    bad_table = _initialize(api, f"{{'@odata.id':'leads({lead})'}}", "nothing")
    bad_moniker = _initialize(api, "{'@odata.id':'nowhere(1)'}", "account")
    unbound_alias = api.get("InitializeFrom(EntityMoniker=@p1,TargetEntityName=@p2)?@p2='x'")
    posted = api.post("InitializeFrom(EntityMoniker=@p1,TargetEntityName=@p2)")

    assert gone.status_code == 404
    assert posted.status_code == 405
    for response, words in (
        (no_map, "No mapping exists from 'opportunity' to 'lead'"),
        (bad_type, "TargetFieldType"),
        (bad_table, "'nothing' is not a known table"),
        (bad_moniker, "does not name a row"),
        (unbound_alias, "'@p1'"),
    ):
        assert response.status_code == 400, response.text
        assert words in error_of(response)["message"]
    assert api.fake.rows("opportunity") == [] and api.fake.rows("account") == []
