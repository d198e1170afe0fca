"""Malformed and unsupported FetchXML; projection; the seeded lead views."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from memory_org import NOW, OTHER_USER_ID, USER_ID, MemoryOrg, guid

from d365leads.fake.fetchxml import (
    FetchXmlError,
    FetchXmlUnsupported,
    evaluate,
    load_lead_views,
    parse,
)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<fetch><entity name='lead'>",
        "<fetch><entity name='lead'></fetch>",
        "not xml at all",
        "<query><entity name='lead'/></query>",
        "<fetch/>",
        "<fetch><entity name='lead'/><entity name='account'/></fetch>",
        "<fetch><entity/></fetch>",
        "<fetch><entity name='lead'><condition/></entity></fetch>",
    ],
)
def test_malformed_xml_is_invalid_xml(text: str) -> None:
    with pytest.raises(FetchXmlError) as caught:
        parse(text)
    error = caught.value
    if isinstance(error, FetchXmlUnsupported):
        assert "<condition>" in error.message
        return
    assert (error.status, error.code, error.message) == (400, "0x80040201", "Invalid XML.")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("<fetch><entity name='lead'><link-entity name='account' from='accountid' "
         "to='parentaccountid' link-type='any'/></entity></fetch>", "link-type 'any'"),
        ("<fetch><entity name='lead'><attribute name='createdon' groupby='true' alias='d' "
         "dategrouping='month'/></entity></fetch>", "dategrouping"),
        ("<fetch><entity name='lead'><filter><condition attribute='createdon' "
         "operator='last-week'/></filter></entity></fetch>", "last-week"),
        ("<fetch><entity name='lead'><filter><condition attribute='fullname' operator='eq' "
         "valueof='subject'/></filter></entity></fetch>", "valueof"),
        ("<fetch latematerialize='true'><entity name='lead'/></fetch>", "latematerialize"),
        ("<fetch><entity name='lead'><attribute name='fullname' build='1'/></entity></fetch>",
         "build"),
        ("<fetch><entity name='lead'/><order attribute='x'/></fetch>", "<order>"),
    ],
)  # fmt: skip
def test_unsupported_features_are_named(text: str, named: str) -> None:
    with pytest.raises(FetchXmlUnsupported) as caught:
        parse(text)
    assert caught.value.status == 501
    assert named in caught.value.message


def test_unknown_entity_and_bad_numbers() -> None:
    org = MemoryOrg()
    with pytest.raises(FetchXmlError) as caught:
        evaluate("<fetch><entity name='widget'/></fetch>", org)
    assert caught.value.code == "0x80041102"
    for attribute in ("count='0'", "page='x'", "top='-1'", "distinct='maybe'"):
        with pytest.raises(FetchXmlError) as bad:
            parse(f"<fetch {attribute}><entity name='lead'/></fetch>")
        assert bad.value.code == "0x80040203"


def test_projection_all_attributes_and_nulls_left_out() -> None:
    org = MemoryOrg()
    org.add("lead", [{"leadid": guid(1), "fullname": "Ann", "companyname": None}])
    chosen = evaluate(
        "<fetch><entity name='lead'><attribute name='fullname'/>"
        "<attribute name='companyname'/></entity></fetch>",
        org,
    )
    assert chosen.rows == [{"fullname": "Ann", "leadid": guid(1)}]
    assert list(chosen.columns) == ["fullname", "companyname", "leadid"]
    assert chosen.columns["companyname"].kind == "string"
    everything = evaluate("<fetch><entity name='lead'><all-attributes/></entity></fetch>", org)
    assert everything.rows == [{"leadid": guid(1), "fullname": "Ann"}]
    assert "revenue" in everything.columns
    with pytest.raises(FetchXmlError) as caught:
        evaluate("<fetch><entity name='lead'><attribute name='nope'/></entity></fetch>", org)
    assert caught.value.message == "'lead' entity doesn't contain attribute with Name = 'nope'."


def test_saved_view_attributes_are_accepted() -> None:
    org = MemoryOrg()
    org.add("lead", [{"leadid": guid(1), "ownerid": USER_ID}])
    xml = (
        '<fetch version="1.0" output-format="xml-platform" mapping="logical" distinct="false" '
        'no-lock="true"><entity name="lead"><attribute name="ownerid"/>'
        '<filter type="and" isquickfindfields="1"><condition attribute="ownerid" operator="eq" '
        f'value="{USER_ID}" uiname="Me" uitype="systemuser"/></filter></entity></fetch>'
    )
    assert [row["leadid"] for row in evaluate(xml, org).rows] == [guid(1)]


def test_lead_views_are_the_product_views_and_run() -> None:
    views = load_lead_views()
    assert sorted(view["name"] for view in views) == [
        "All Leads",
        "Closed Leads",
        "Leads Opened Last Week",
        "My Open Leads",
        "Open Leads",
    ]
    assert [view["name"] for view in views if view["isdefault"]] == ["My Open Leads"]
    for view in views:
        assert view["returnedtypecode"] == "lead" and view["querytype"] == 0
        assert str(uuid.UUID(view["savedqueryid"])) == view["savedqueryid"]
    assert load_lead_views() == views  # deterministic ids

    org = MemoryOrg()
    created = (NOW - timedelta(days=1)).isoformat()
    old = (NOW - timedelta(days=30)).isoformat()
    org.add(
        "lead",
        [
            {"leadid": guid(1), "statecode": 0, "ownerid": USER_ID, "createdon": created},
            {"leadid": guid(2), "statecode": 0, "ownerid": OTHER_USER_ID, "createdon": old},
            {"leadid": guid(3), "statecode": 1, "ownerid": USER_ID, "createdon": old},
            {"leadid": guid(4), "statecode": 2, "ownerid": OTHER_USER_ID, "createdon": created},
        ],
    )
    by_name = {view["name"]: view for view in views}

    def run(name: str) -> set[int]:
        rows = evaluate(by_name[name]["fetchxml"], org).rows
        return {int(row["leadid"][-12:], 16) for row in rows}

    assert run("All Leads") == {1, 2, 3, 4}
    assert run("Open Leads") == {1, 2}
    assert run("My Open Leads") == {1}
    assert run("Closed Leads") == {3, 4}
    assert run("Leads Opened Last Week") == {1, 4}
