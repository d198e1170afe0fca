"""Aggregates, checked against values computed independently in the test."""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import Decimal

import pytest
from memory_org import MemoryOrg, guid

from d365leads.fake.fetchxml import FetchXmlError, evaluate

# The documented example: ten accounts, one without a number of employees.
DOC_ACCOUNTS = [
    (None, "Example Account", None),
    (1500, "Contoso Pharmaceuticals (sample)", "Redmond"),
    (2700, "Fabrikam, Inc. (sample)", "Lynnwood"),
    (2900, "Blue Yonder Airlines (sample)", "Los Angeles"),
    (2900, "City Power & Light (sample)", "Redmond"),
    (3900, "Coho Winery (sample)", "Phoenix"),
    (4300, "Adventure Works (sample)", "Santa Cruz"),
    (4800, "Alpine Ski House (sample)", "Missoula"),
    (6000, "Litware, Inc. (sample)", "Dallas"),
    (6200, "A. Datum Corporation (sample)", "Redmond"),
]


@pytest.fixture
def doc_org() -> MemoryOrg:
    org = MemoryOrg()
    org.add(
        "account",
        [
            {"accountid": guid(n), "numberofemployees": e, "name": name, "address1_city": city}
            for n, (e, name, city) in enumerate(DOC_ACCOUNTS, 1)
        ],
    )
    return org


def test_the_documented_example(doc_org: MemoryOrg) -> None:
    xml = """<fetch aggregate='true'><entity name='account'>
      <attribute name='numberofemployees' alias='Average' aggregate='avg'/>
      <attribute name='numberofemployees' alias='Count' aggregate='count'/>
      <attribute name='numberofemployees' alias='ColumnCount' aggregate='countcolumn'/>
      <attribute name='numberofemployees' alias='Distinct' aggregate='countcolumn' distinct='true'/>
      <attribute name='numberofemployees' alias='Maximum' aggregate='max'/>
      <attribute name='numberofemployees' alias='Minimum' aggregate='min'/>
      <attribute name='numberofemployees' alias='Sum' aggregate='sum'/>
    </entity></fetch>"""
    assert evaluate(xml, doc_org).rows == [
        {
            "Average": 3911,
            "Count": 10,
            "ColumnCount": 9,
            "Distinct": 8,
            "Maximum": 6200,
            "Minimum": 1500,
            "Sum": 35200,
        }
    ]


def test_the_documented_grouping(doc_org: MemoryOrg) -> None:
    xml = """<fetch aggregate='true'><entity name='account'>
      <attribute name='numberofemployees' alias='Total' aggregate='sum'/>
      <attribute name='address1_city' alias='Count' aggregate='count'/>
      <attribute name='address1_city' alias='City' groupby='true'/>
      <order alias='City'/>
    </entity></fetch>"""
    rows = evaluate(xml, doc_org).rows
    assert rows[0] == {"Total": 0, "Count": 1}  # the null city sorts first
    assert rows[1:] == [
        {"Total": 6000, "Count": 1, "City": "Dallas"},
        {"Total": 2900, "Count": 1, "City": "Los Angeles"},
        {"Total": 2700, "Count": 1, "City": "Lynnwood"},
        {"Total": 4800, "Count": 1, "City": "Missoula"},
        {"Total": 3900, "Count": 1, "City": "Phoenix"},
        {"Total": 10600, "Count": 3, "City": "Redmond"},
        {"Total": 4300, "Count": 1, "City": "Santa Cruz"},
    ]


def test_random_groups_against_independent_counts() -> None:
    rng = random.Random(7)
    org = MemoryOrg()
    accounts = [guid(n, "acc00000") for n in range(1, 6)]
    org.add("account", [{"accountid": a, "name": f"A{i}"} for i, a in enumerate(accounts)])
    leads = [
        {
            "leadid": guid(n),
            "statecode": rng.choice([0, 1, 2]),
            "revenue": rng.choice([None, Decimal(rng.randint(0, 10_000)) / 100]),
            "numberofemployees": rng.choice([None, rng.randint(1, 500)]),
            "parentaccountid": rng.choice([*accounts, None]),
        }
        for n in range(1, 3001)
    ]
    org.add("lead", leads)
    xml = """<fetch aggregate='true'><entity name='lead'>
      <attribute name='statecode' alias='state' groupby='true'/>
      <attribute name='leadid' alias='n' aggregate='count'/>
      <attribute name='revenue' alias='revenue_n' aggregate='countcolumn'/>
      <attribute name='revenue' alias='revenue_sum' aggregate='sum'/>
      <attribute name='revenue' alias='revenue_avg' aggregate='avg'/>
      <attribute name='numberofemployees' alias='staff_max' aggregate='max'/>
      <attribute name='numberofemployees' alias='staff_min' aggregate='min'/>
      <filter><condition attribute='numberofemployees' operator='ge' value='20'/></filter>
      <link-entity name='account' from='accountid' to='parentaccountid' alias='acc'>
        <attribute name='name' alias='account' groupby='true'/>
      </link-entity>
      <order alias='state' descending='true'/><order alias='account'/>
    </entity></fetch>"""
    rows = evaluate(xml, org).rows

    names = {a: f"A{i}" for i, a in enumerate(accounts)}
    groups: dict[tuple[int, str], list[dict[str, object]]] = defaultdict(list)
    for lead in leads:
        staff = lead["numberofemployees"]
        if lead["parentaccountid"] is None or staff is None or int(str(staff)) < 20:
            continue
        groups[(int(str(lead["statecode"])), names[str(lead["parentaccountid"])])].append(lead)
    expected = []
    for state, account in sorted(groups, key=lambda k: (-k[0], k[1])):
        members = groups[(state, account)]
        revenue = [Decimal(str(m["revenue"])) for m in members if m["revenue"] is not None]
        staff = [int(str(m["numberofemployees"])) for m in members]
        row: dict[str, object] = {
            "state": state,
            "n": len(members),
            "revenue_n": len(revenue),
            "revenue_sum": sum(revenue, Decimal(0)),
            "staff_max": max(staff),
            "staff_min": min(staff),
            "account": account,
        }
        if revenue:
            row["revenue_avg"] = sum(revenue, Decimal(0)) / len(revenue)
        expected.append(row)
    assert rows == expected
    assert sum(int(str(r["n"])) for r in rows) > 1000


def test_the_aggregate_limit() -> None:
    org = MemoryOrg()
    org.add("lead", [{"leadid": guid(n), "statecode": n % 3} for n in range(1, 50_002)])
    counting = (
        "<fetch aggregate='true'{limit}><entity name='lead'>"
        "<attribute name='leadid' alias='n' aggregate='count'/>{filter}</entity></fetch>"
    )
    with pytest.raises(FetchXmlError) as caught:
        evaluate(counting.format(limit="", filter=""), org)
    assert caught.value.code == "0x8004E023"
    assert caught.value.message == (
        "AggregateQueryRecordLimit exceeded. Cannot perform this operation."
    )
    in_limit = "<filter><condition attribute='statecode' operator='eq' value='0'/></filter>"
    assert evaluate(counting.format(limit="", filter=in_limit), org).rows == [{"n": 50_001 // 3}]
    with pytest.raises(FetchXmlError):
        evaluate(counting.format(limit=" aggregatelimit='10'", filter=in_limit), org)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("<attribute name='name'/>", "0x80041107"),
        ("<all-attributes/>", "0x80041107"),
        ("<attribute name='name' aggregate='count'/>", "0x8004110B"),
        ("<attribute name='nope' alias='x' aggregate='count'/>", "0x80041103"),
        ("<attribute name='name' alias='x' aggregate='sum'/>", "0x80040203"),
        (
            "<attribute name='name' alias='x' aggregate='count'/><order attribute='name'/>",
            "0x8004110A",
        ),
    ],
)
def test_refused_aggregates(doc_org: MemoryOrg, body: str, code: str) -> None:
    with pytest.raises(FetchXmlError) as caught:
        evaluate(f"<fetch aggregate='true'><entity name='account'>{body}</entity></fetch>", doc_org)
    assert caught.value.code == code
