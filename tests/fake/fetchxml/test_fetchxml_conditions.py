"""Every condition operator of the FetchXML engine, against rows whose answer is known."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from memory_org import BUSINESS_UNIT_ID, NOW, OTHER_USER_ID, USER_ID, MemoryOrg, guid

from d365leads.fake.fetchxml import FetchXmlError, evaluate

OTHER_UNIT = "bbbbbbbb-0000-0000-0000-000000000002"


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


LEADS = [
    {
        "leadid": guid(1),
        "fullname": "Ann Archer",
        "companyname": "Contoso",
        "statecode": 0,
        "statuscode": 1,
        "ownerid": USER_ID,
        "owningbusinessunit": BUSINESS_UNIT_ID,
        "createdon": _iso(NOW - timedelta(days=2)),
        "estimatedclosedate": "2026-03-20",
        "revenue": 1000,
        "numberofemployees": 10,
        "donotemail": True,
    },
    {
        "leadid": guid(2),
        "fullname": "Bob Baker",
        "companyname": "Fabrikam",
        "statecode": 1,
        "statuscode": 3,
        "ownerid": OTHER_USER_ID,
        "owningbusinessunit": OTHER_UNIT,
        "createdon": _iso(NOW - timedelta(days=40)),
        "revenue": 2500.5,
        "numberofemployees": 250,
        "donotemail": False,
    },
    {
        "leadid": guid(3),
        "fullname": "carl contoso",
        "companyname": None,
        "statecode": 2,
        "statuscode": 4,
        "ownerid": USER_ID,
        "owningbusinessunit": BUSINESS_UNIT_ID,
        "createdon": _iso(NOW - timedelta(days=400)),
        "estimatedclosedate": "2026-04-02",
        "numberofemployees": 50,
    },
    {
        "leadid": guid(4),
        "fullname": "Dora 100% Done",
        "companyname": "A_B Ltd",
        "statecode": 0,
        "statuscode": 2,
        "ownerid": OTHER_USER_ID,
        "owningbusinessunit": OTHER_UNIT,
        "createdon": _iso(NOW + timedelta(days=3)),
        "revenue": 0,
    },
]


@pytest.fixture
def org() -> MemoryOrg:
    org = MemoryOrg()
    org.add("lead", LEADS)
    return org


def ids(org: MemoryOrg, condition: str) -> set[int]:
    xml = (
        "<fetch><entity name='lead'><attribute name='fullname'/>"
        f"<filter>{condition}</filter></entity></fetch>"
    )
    return {int(row["leadid"][-12:], 16) for row in evaluate(xml, org).rows}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("<condition attribute='statecode' operator='eq' value='0'/>", {1, 4}),
        ("<condition attribute='fullname' operator='eq' value='ANN ARCHER'/>", {1}),
        # ne / neq skip nulls, as SQL's <> does
        ("<condition attribute='companyname' operator='ne' value='Contoso'/>", {2, 4}),
        ("<condition attribute='companyname' operator='neq' value='contoso'/>", {2, 4}),
        ("<condition attribute='numberofemployees' operator='gt' value='50'/>", {2}),
        ("<condition attribute='numberofemployees' operator='ge' value='50'/>", {2, 3}),
        ("<condition attribute='numberofemployees' operator='lt' value='50'/>", {1}),
        ("<condition attribute='numberofemployees' operator='le' value='50'/>", {1, 3}),
        ("<condition attribute='revenue' operator='gt' value='2500.25'/>", {2}),
        ("<condition attribute='donotemail' operator='eq' value='1'/>", {1}),
        ("<condition attribute='donotemail' operator='eq' value='false'/>", {2}),
        ("<condition attribute='fullname' operator='like' value='%contoso%'/>", {3}),
        ("<condition attribute='fullname' operator='like' value='_ob%'/>", {2}),
        ("<condition attribute='fullname' operator='like' value='%100[%]%'/>", set()),
        ("<condition attribute='companyname' operator='like' value='A_B%'/>", {4}),
        ("<condition attribute='companyname' operator='not-like' value='%o%'/>", {2, 4}),
        ("<condition attribute='fullname' operator='begins-with' value='b'/>", {2}),
        ("<condition attribute='fullname' operator='ends-with' value='DONE'/>", {4}),
        (
            "<condition attribute='statuscode' operator='in'><value>1</value><value>4</value>"
            "</condition>",
            {1, 3},
        ),
        (
            "<condition attribute='statuscode' operator='not-in'><value>1</value>"
            "<value>4</value></condition>",
            {2, 4},
        ),
        ("<condition attribute='companyname' operator='null'/>", {3}),
        ("<condition attribute='revenue' operator='not-null'/>", {1, 2, 4}),
        ("<condition attribute='ownerid' operator='eq-userid'/>", {1, 3}),
        ("<condition attribute='ownerid' operator='ne-userid'/>", {2, 4}),
        ("<condition attribute='owningbusinessunit' operator='eq-businessid'/>", {1, 3}),
        (f"<condition attribute='leadid' operator='eq' value='{{{guid(2).upper()}}}'/>", {2}),
        ("<condition attribute='createdon' operator='on' value='2026-03-13'/>", {1}),
        ("<condition attribute='createdon' operator='on-or-after' value='2026-03-13'/>", {1, 4}),
        (
            "<condition attribute='createdon' operator='on-or-before' value='2026-03-13'/>",
            {1, 2, 3},
        ),
        ("<condition attribute='estimatedclosedate' operator='on' value='2026-04-02'/>", {3}),
        ("<condition attribute='createdon' operator='last-x-days' value='7'/>", {1}),
        ("<condition attribute='createdon' operator='last-x-days' value='40'/>", {1, 2}),
        ("<condition attribute='createdon' operator='next-x-days' value='3'/>", {4}),
        ("<condition attribute='createdon' operator='next-x-days' value='2'/>", set()),
        ("<condition attribute='createdon' operator='last-x-months' value='2'/>", {1, 2}),
        ("<condition attribute='createdon' operator='this-year'/>", {1, 2, 4}),
        ("<condition attribute='createdon' operator='older-than-x-months' value='1'/>", {2, 3}),
        ("<condition attribute='createdon' operator='older-than-x-months' value='12'/>", {3}),
    ],
)
def test_condition(org: MemoryOrg, condition: str, expected: set[int]) -> None:
    assert ids(org, condition) == expected


def test_nested_and_or(org: MemoryOrg) -> None:
    condition = (
        "<condition attribute='statecode' operator='eq' value='0'/>"
        "<filter type='or'>"
        "<condition attribute='ownerid' operator='eq-userid'/>"
        "<filter type='and'>"
        "<condition attribute='revenue' operator='eq' value='0'/>"
        "<condition attribute='companyname' operator='begins-with' value='a'/>"
        "</filter></filter>"
    )
    assert ids(org, condition) == {1, 4}
    assert ids(org, "<filter type='or'></filter>") == {1, 2, 3, 4}


def test_the_clock_and_caller_are_the_orgs(org: MemoryOrg) -> None:
    org.me = OTHER_USER_ID
    assert ids(org, "<condition attribute='ownerid' operator='eq-userid'/>") == {2, 4}
    org.clock = NOW + timedelta(days=6)
    assert ids(org, "<condition attribute='createdon' operator='last-x-days' value='7'/>") == {4}
    org.clock = datetime(2027, 1, 2, tzinfo=timezone.utc)
    assert ids(org, "<condition attribute='createdon' operator='this-year'/>") == set()


@pytest.mark.parametrize(
    ("condition", "code", "words"),
    [
        (
            "<condition attribute='nope' operator='eq' value='1'/>",
            "0x80041103",
            "'lead' entity doesn't contain attribute with Name = 'nope'.",
        ),
        (
            "<condition attribute='fullname' operator='sounds-like' value='x'/>",
            "0x80041120",
            "sounds-like",
        ),
        ("<condition attribute='revenue' operator='like' value='1%'/>", "0x80041120", "text"),
        (
            "<condition attribute='fullname' operator='on' value='2026-01-01'/>",
            "0x80041120",
            "date",
        ),
        (
            "<condition attribute='numberofemployees' operator='eq' value='ten'/>",
            "0x80041108",
            "ten",
        ),
        ("<condition attribute='ownerid' operator='eq' value='not-a-guid'/>", "0x80041108", "GUID"),
        ("<condition attribute='statecode' operator='eq'/>", "0x80041120", "exactly one"),
        ("<condition attribute='statecode' operator='in'/>", "0x80041120", "at least one"),
        ("<condition attribute='fullname' operator='null' value='x'/>", "0x80041120", "no value"),
    ],
)
def test_refused_conditions(org: MemoryOrg, condition: str, code: str, words: str) -> None:
    with pytest.raises(FetchXmlError) as caught:
        ids(org, condition)
    assert caught.value.status == 400
    assert caught.value.code == code
    assert words in caught.value.message
