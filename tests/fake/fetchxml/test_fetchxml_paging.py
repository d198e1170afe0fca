"""Paging: 12,000 rows read by paging cookie return each row once; top; simple paging."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections import Counter
from urllib.parse import unquote

import pytest
from memory_org import MemoryOrg, guid

from d365leads.fake.fetchxml import FetchXmlError, evaluate

TOTAL = 12_000


@pytest.fixture(scope="module")
def org() -> MemoryOrg:
    rng = random.Random(13)
    org = MemoryOrg()
    org.add(
        "lead",
        [
            {
                "leadid": guid(n),
                # few distinct values, so the primary key has to break ties
                "companyname": rng.choice(["Contoso", "Fabrikam", None, "Adatum"]),
                "statecode": rng.choice([0, 1, 2]),
                "fullname": f"Lead {n:05d}",
            }
            for n in rng.sample(range(1, TOTAL + 1), TOTAL)
        ],
    )
    return org


def fetch_xml(count: int, page: int, cookie: str | None, orders: str) -> str:
    root = ET.Element("fetch", {"count": str(count), "page": str(page)})
    if cookie is not None:
        root.set("paging-cookie", cookie)
    entity = ET.SubElement(root, "entity", {"name": "lead"})
    ET.SubElement(entity, "attribute", {"name": "companyname"})
    for spec in orders.split(","):
        name, _, direction = spec.partition(" ")
        ET.SubElement(
            entity, "order", {"attribute": name, "descending": str(direction == "desc").lower()}
        )
    return ET.tostring(root, encoding="unicode")


def next_cookie(annotation: str) -> str:
    # What a client does: read pagingcookie off the annotation and URL-decode it twice.
    return unquote(unquote(ET.fromstring(annotation).attrib["pagingcookie"]))


def read_all(org: MemoryOrg, count: int, orders: str) -> tuple[list[str], int]:
    page, cookie, seen, requests = 1, None, [], 0
    while True:
        result = evaluate(fetch_xml(count, page, cookie, orders), org)
        requests += 1
        assert requests <= len(org.tables["lead"]) // count + 1, "the cookie does not advance"
        seen.extend(row["leadid"] for row in result.rows)
        assert len(result.rows) <= count
        if not result.more_records:
            assert result.paging_cookie is None
            return seen, requests
        assert result.paging_cookie is not None
        cookie = next_cookie(result.paging_cookie)
        page += 1


@pytest.mark.parametrize("orders", ["companyname desc,statecode", "statecode,fullname desc"])
def test_every_row_once_by_cookie(org: MemoryOrg, orders: str) -> None:
    seen, requests = read_all(org, 5000, orders)
    assert requests == 3
    assert Counter(seen) == Counter(row["leadid"] for row in org.tables["lead"])


def test_small_pages_follow_the_sort_order(org: MemoryOrg) -> None:
    seen, requests = read_all(org, 1500, "companyname")
    assert requests == TOTAL // 1500
    by_id = {row["leadid"]: row for row in org.tables["lead"]}
    expected = sorted(
        by_id, key=lambda i: (by_id[i]["companyname"] is not None, by_id[i]["companyname"] or "", i)
    )
    assert seen == expected


def test_cookie_shape(org: MemoryOrg) -> None:
    result = evaluate(fetch_xml(10, 1, None, "companyname"), org)
    outer = ET.fromstring(str(result.paging_cookie))
    assert outer.tag == "cookie"
    assert outer.attrib["pagenumber"] == "2"
    assert outer.attrib["istracking"] == "False"
    assert "%25" in outer.attrib["pagingcookie"]  # encoded twice
    inner = ET.fromstring(next_cookie(str(result.paging_cookie)))
    assert inner.attrib["page"] == "1"
    assert [child.tag for child in inner] == ["companyname", "leadid"]
    last = result.rows[-1]["leadid"]
    assert inner[1].attrib["last"] == "{" + last.upper() + "}"
    assert inner[1].attrib["first"] == "{" + result.rows[0]["leadid"].upper() + "}"


def test_rows_deleted_between_pages_do_not_shift_the_next_page() -> None:
    org = MemoryOrg()
    org.add("lead", [{"leadid": guid(n), "fullname": f"L{n:02d}"} for n in range(1, 21)])
    first = evaluate(fetch_xml(5, 1, None, "fullname"), org)
    del org.tables["lead"][0:3]  # three rows of the first page go away
    second = evaluate(fetch_xml(5, 2, next_cookie(str(first.paging_cookie)), "fullname"), org)
    assert [row["leadid"] for row in second.rows] == [guid(n) for n in range(6, 11)]


def test_cookie_for_another_page_falls_back_to_simple_paging() -> None:
    org = MemoryOrg()
    org.add("lead", [{"leadid": guid(n), "fullname": f"L{n:02d}"} for n in range(1, 21)])
    first = evaluate(fetch_xml(5, 1, None, "fullname"), org)
    third = evaluate(fetch_xml(5, 3, next_cookie(str(first.paging_cookie)), "fullname"), org)
    assert [row["leadid"] for row in third.rows] == [guid(n) for n in range(11, 16)]
    assert third.page == 3


def test_top_and_the_default_page_size(org: MemoryOrg) -> None:
    top = evaluate("<fetch top='7'><entity name='lead'/></fetch>", org)
    assert len(top.rows) == 7 and not top.more_records and top.paging_cookie is None
    default = evaluate("<fetch><entity name='lead'/></fetch>", org)
    assert len(default.rows) == 5000 and default.more_records
    assert default.paging_cookie is not None


def test_sorting_on_a_linked_column_gives_no_cookie() -> None:
    org = MemoryOrg()
    org.add("account", [{"accountid": guid(1, "acc00000"), "name": "A"}])
    org.add(
        "lead",
        [{"leadid": guid(n), "parentaccountid": guid(1, "acc00000")} for n in range(1, 5)],
    )
    xml = (
        "<fetch count='2'><entity name='lead'>"
        "<link-entity name='account' from='accountid' to='parentaccountid' alias='a'>"
        "<order attribute='name'/></link-entity></entity></fetch>"
    )
    result = evaluate(xml, org)
    assert result.more_records and result.paging_cookie is None


def test_top_with_paging_is_refused(org: MemoryOrg) -> None:
    with pytest.raises(FetchXmlError) as caught:
        evaluate("<fetch top='5' count='5'><entity name='lead'/></fetch>", org)
    assert caught.value.code == "0x80040203"


@pytest.mark.parametrize(
    "orders",
    ["donotemail desc,revenue", "revenue desc,createdon", "createdon,donotemail", "ownerid desc"],
)
def test_cookie_values_of_every_type_round_trip(orders: str) -> None:
    rng = random.Random(5)
    org = MemoryOrg()
    org.add(
        "lead",
        [
            {
                "leadid": guid(n),
                "donotemail": rng.choice([True, False, None]),
                "revenue": rng.choice([None, 1.5, 20, 300.25]),
                "createdon": rng.choice([None, "2026-01-02T03:04:05Z", "2025-12-31T23:59:59Z"]),
                "ownerid": rng.choice([guid(1, "aaaaaaaa"), guid(2, "aaaaaaaa"), None]),
            }
            for n in range(1, 301)
        ],
    )
    seen, requests = read_all(org, 7, orders)
    assert requests == -(-300 // 7)
    assert sorted(seen) == sorted(guid(n) for n in range(1, 301))
