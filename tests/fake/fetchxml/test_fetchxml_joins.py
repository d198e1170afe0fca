"""link-entity: inner and outer joins, aliases, nested links, link filters and orders."""

from __future__ import annotations

import pytest
from memory_org import MemoryOrg, guid

from d365leads.fake.fetchxml import FetchXmlError, evaluate

ACC_A, ACC_B, ACC_C = guid(1, "acc00000"), guid(2, "acc00000"), guid(3, "acc00000")
CON_1, CON_2 = guid(1, "c0c00000"), guid(2, "c0c00000")


def _account(key: str, name: str, city: str, contact: str | None) -> dict[str, object]:
    return {"accountid": key, "name": name, "address1_city": city, "primarycontactid": contact}


@pytest.fixture
def org() -> MemoryOrg:
    org = MemoryOrg()
    org.add(
        "contact",
        [
            {"contactid": CON_1, "fullname": "Pat Primary", "jobtitle": "CEO"},
            {"contactid": CON_2, "fullname": "Sam Second", "jobtitle": None},
        ],
    )
    org.add(
        "account",
        [
            {
                "accountid": ACC_A,
                "name": "Alpha",
                "address1_city": "Oslo",
                "primarycontactid": CON_1,
            },
            {
                "accountid": ACC_B,
                "name": "Beta",
                "address1_city": "Rome",
                "primarycontactid": CON_2,
            },
            {"accountid": ACC_C, "name": "Gamma", "address1_city": "Oslo"},
        ],
    )
    org.add(
        "lead",
        [
            {"leadid": guid(1), "fullname": "L1", "parentaccountid": ACC_A},
            {"leadid": guid(2), "fullname": "L2", "parentaccountid": ACC_B},
            {"leadid": guid(3), "fullname": "L3"},
            {"leadid": guid(4), "fullname": "L4", "parentaccountid": ACC_C},
        ],
    )
    return org


def run(org: MemoryOrg, links: str, extra: str = "") -> list[dict[str, object]]:
    xml = (
        "<fetch><entity name='lead'><attribute name='fullname'/>"
        f"<order attribute='fullname'/>{links}{extra}</entity></fetch>"
    )
    return evaluate(xml, org).rows


def test_inner_join_with_alias_keys(org: MemoryOrg) -> None:
    rows = run(
        org,
        "<link-entity name='account' from='accountid' to='parentaccountid' alias='acc'>"
        "<attribute name='name'/><attribute name='address1_city' alias='city'/></link-entity>",
    )
    assert rows == [
        {"fullname": "L1", "leadid": guid(1), "acc.name": "Alpha", "city": "Oslo"},
        {"fullname": "L2", "leadid": guid(2), "acc.name": "Beta", "city": "Rome"},
        {"fullname": "L4", "leadid": guid(4), "acc.name": "Gamma", "city": "Oslo"},
    ]


def test_outer_join_keeps_rows_without_a_match(org: MemoryOrg) -> None:
    rows = run(
        org,
        "<link-entity name='account' from='accountid' to='parentaccountid' link-type='outer'"
        " alias='acc'><attribute name='name'/>"
        "<filter><condition attribute='address1_city' operator='eq' value='Oslo'/></filter>"
        "</link-entity>",
    )
    assert [(row["fullname"], row.get("acc.name")) for row in rows] == [
        ("L1", "Alpha"),
        ("L2", None),
        ("L3", None),
        ("L4", "Gamma"),
    ]


def test_inner_join_link_filter_drops_parents(org: MemoryOrg) -> None:
    rows = run(
        org,
        "<link-entity name='account' from='accountid' to='parentaccountid' alias='acc'>"
        "<filter><condition attribute='address1_city' operator='eq' value='Oslo'/></filter>"
        "</link-entity>",
    )
    assert [row["fullname"] for row in rows] == ["L1", "L4"]


def test_outer_join_with_entityname_null_finds_rows_without_a_link(org: MemoryOrg) -> None:
    rows = run(
        org,
        "<link-entity name='account' from='accountid' to='parentaccountid' link-type='outer'"
        " alias='acc'/>",
        "<filter><condition entityname='acc' attribute='accountid' operator='null'/></filter>",
    )
    assert [row["fullname"] for row in rows] == ["L3"]


def test_nested_link_one_level(org: MemoryOrg) -> None:
    rows = run(
        org,
        "<link-entity name='account' from='accountid' to='parentaccountid' alias='acc'>"
        "<attribute name='name'/>"
        "<link-entity name='contact' from='contactid' to='primarycontactid' alias='pc'"
        " link-type='outer'><attribute name='fullname'/><attribute name='jobtitle'/>"
        "</link-entity></link-entity>",
    )
    assert [(r["fullname"], r.get("pc.fullname"), r.get("pc.jobtitle")) for r in rows] == [
        ("L1", "Pat Primary", "CEO"),
        ("L2", "Sam Second", None),
        ("L4", None, None),
    ]


def test_one_to_many_link_repeats_the_parent(org: MemoryOrg) -> None:
    xml = (
        "<fetch><entity name='account'><attribute name='name'/><order attribute='name'/>"
        "<link-entity name='lead' from='parentaccountid' to='accountid' alias='l'>"
        "<attribute name='fullname'/><order attribute='fullname' descending='true'/>"
        "</link-entity></entity></fetch>"
    )
    org.add("lead", [{"leadid": guid(5), "fullname": "L5", "parentaccountid": ACC_A}])
    rows = evaluate(xml, org).rows
    assert [(r["name"], r["l.fullname"]) for r in rows] == [
        ("Alpha", "L5"),
        ("Alpha", "L1"),
        ("Beta", "L2"),
        ("Gamma", "L4"),
    ]


def test_link_without_alias_is_named_after_its_table(org: MemoryOrg) -> None:
    rows = run(
        org,
        "<link-entity name='account' from='accountid' to='parentaccountid'>"
        "<attribute name='name'/></link-entity>",
    )
    assert rows[0]["account1.name"] == "Alpha"


def test_distinct_removes_duplicate_rows(org: MemoryOrg) -> None:
    xml = (
        "<fetch distinct='true'><entity name='account'><attribute name='address1_city'/>"
        "<order attribute='address1_city'/></entity></fetch>"
    )
    assert evaluate(xml, org).rows == [{"address1_city": "Oslo"}, {"address1_city": "Rome"}]


@pytest.mark.parametrize(
    ("links", "code", "words"),
    [
        (
            "<link-entity name='account' from='nope' to='parentaccountid' alias='a'/>",
            "0x80041103",
            "'account' entity doesn't contain attribute with Name = 'nope'.",
        ),
        (
            "<link-entity name='account' from='accountid' to='parentaccountid' alias='a'>"
            "<attribute name='missing'/></link-entity>",
            "0x80041103",
            "'account' entity doesn't contain attribute with Name = 'missing'.",
        ),
        (
            "<link-entity name='widget' from='widgetid' to='parentaccountid' alias='a'/>",
            "0x80041102",
            "'widget'",
        ),
        (
            "<link-entity name='account' from='accountid' to='parentaccountid' alias='a'/>"
            "<link-entity name='contact' from='contactid' to='parentaccountid' alias='a'/>",
            "0x8004110A",
            "'a'",
        ),
    ],
)
def test_refused_links(org: MemoryOrg, links: str, code: str, words: str) -> None:
    with pytest.raises(FetchXmlError) as caught:
        run(org, links)
    assert (caught.value.code, caught.value.status) == (code, 400)
    assert words in caught.value.message
