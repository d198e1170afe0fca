"""Nested ``$expand`` with collection-valued navigations: paging per parent and the limits.

https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables
("Nested $expand on collection-valued navigation properties").
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _core_api import Api, error_of, make_api

from d365leads.fake import FakeOptions

ONLY_SELECT_FILTER = (
    "Only $select and $filter clause can be provided while doing $expand on many-to-one "
    "relationship or nested one-to-many relationship."
)


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


@pytest.fixture(params=["inprocess"])
def more_rows_api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request, FakeOptions(nested_expand_next_page="more_rows"))


def _accounts_with_contacts(api: Api, contacts: int) -> tuple[str, list[str]]:
    account = api.fake.seed("account", {"name": "Parent"})[0]
    api.fake.seed("account", {"name": "Other"})
    ids = api.fake.seed(
        "contact",
        [
            {"lastname": f"C{i}", "parentcustomerid": account, "parentcustomeridtype": "account"}
            for i in range(contacts)
        ],
    )
    for contact in ids:
        api.fake.seed("task", {"subject": f"Task of {contact}", "regardingobjectid": contact})
    return account, ids


def test_nested_collection_is_paged_per_parent_and_the_link_continues(api: Api) -> None:
    account, contacts = _accounts_with_contacts(api, 5)
    query = (
        "accounts?$select=name&$filter=name eq 'Parent'"
        "&$expand=contact_customer_accounts($select=lastname;$expand=Contact_Tasks($select=subject))"
    )

    body = api.get(query, headers={"Prefer": "odata.maxpagesize=2"}).json()

    (row,) = body["value"]
    first_page = row["contact_customer_accounts"]
    assert len(first_page) == 2
    # Paged expansions carry no ETag and no back-reference (the page's nested example).
    assert set(first_page[0]) == {
        "lastname",
        "contactid",
        "Contact_Tasks",
        "Contact_Tasks@odata.nextLink",
    }
    # A collection inside a collection: each contact's tasks, paged the same way.
    assert [t["subject"] for t in first_page[0]["Contact_Tasks"]] == [
        f"Task of {first_page[0]['contactid']}"
    ]
    assert "$skiptoken" not in first_page[0]["Contact_Tasks@odata.nextLink"]
    link = row["contact_customer_accounts@odata.nextLink"]
    assert link.startswith(f"{api.base}accounts({account})/contact_customer_accounts?")
    assert "$select=lastname&$expand=Contact_Tasks($select=subject)&$skiptoken=" in link

    seen = [c["contactid"] for c in first_page]
    while link:
        page = api.get(link, headers={"Prefer": "odata.maxpagesize=2"}).json()
        seen += [c["contactid"] for c in page["value"]]
        link = page.get("@odata.nextLink")
    assert sorted(seen) == sorted(contacts)
    assert len(seen) == len(set(seen))


def test_single_level_collection_expand_is_not_paged(api: Api) -> None:
    account, _contacts = _accounts_with_contacts(api, 5)

    body = api.get(
        "accounts?$select=name&$filter=name eq 'Parent'"
        "&$expand=contact_customer_accounts($select=lastname)",
        headers={"Prefer": "odata.maxpagesize=2"},
    ).json()

    (row,) = body["value"]
    assert len(row["contact_customer_accounts"]) == 5
    assert row["contact_customer_accounts"][0]["_parentcustomerid_value"] == account
    assert row["contact_customer_accounts@odata.nextLink"] == (
        f"{api.base}accounts({account})/contact_customer_accounts?$select=lastname"
    )


def _nested_link(api: Api) -> str:
    _accounts_with_contacts(api, 2)
    body = api.get(
        "accounts?$select=name&$filter=name eq 'Parent'"
        "&$expand=contact_customer_accounts($select=lastname;$expand=createdby($select=fullname))",
        headers={"Prefer": "odata.maxpagesize=2"},
    ).json()
    link: str = body["value"][0]["contact_customer_accounts@odata.nextLink"]
    return link


def test_a_full_page_gives_a_paged_link_even_when_nothing_follows(api: Api) -> None:
    # The page's example: one contact, page size 1, a link with a $skiptoken.
    assert "$skiptoken=" in _nested_link(api)


def test_more_rows_switch_pages_only_when_rows_follow(more_rows_api: Api) -> None:
    assert "$skiptoken=" not in _nested_link(more_rows_api)


def test_orderby_and_top_are_refused_once_a_collection_is_nested(api: Api) -> None:
    _accounts_with_contacts(api, 1)
    nested = "contact_customer_accounts($select=lastname;$expand=createdby($select=fullname))"
    for path in (
        f"accounts?$expand=Account_Tasks($top=1),{nested}",
        f"accounts?$expand={nested.replace('lastname;', 'lastname;$orderby=lastname;')}",
        "accounts?$expand=contact_customer_accounts($expand=Contact_Tasks($top=2))",
    ):
        response = api.get(path)
        assert response.status_code == 400, path
        assert error_of(response) == {"code": "0x80060888", "message": ONLY_SELECT_FILTER}
    # Without nesting, $top and $orderby stay allowed in a collection expand.
    assert api.get("accounts?$expand=Account_Tasks($top=1;$orderby=subject)").status_code == 200


def test_nested_items_count_toward_the_15_expand_limit(api: Api) -> None:
    items = [
        "parentaccountid($expand=createdby,modifiedby,ownerid,primarycontactid,parentaccountid,"
        "originatingleadid)",
        "primarycontactid($expand=createdby,modifiedby,ownerid,parentcustomerid_account)",
        "originatingleadid($expand=createdby,modifiedby,ownerid)",
    ]
    assert api.get(f"accounts?$expand={','.join(items[:2])}").status_code == 200  # 12 joins
    response = api.get(f"accounts?$expand={','.join(items)}")  # 16 joins
    assert response.status_code == 400
    assert "at most 15" in error_of(response)["message"]


def test_a_nested_filter_reads_the_query_aliases_and_lookup_paths(api: Api) -> None:
    account, contacts = _accounts_with_contacts(api, 3)
    base = "accounts?$select=name&$filter=name eq 'Parent'&$expand=contact_customer_accounts"

    aliased = api.get(f"{base}($select=lastname;$filter=lastname eq @p1)&@p1='C1'").json()
    through_lookup = api.get(
        f"{base}($select=lastname;$filter=parentcustomerid_account/name eq 'Parent')"
    ).json()

    assert [c["lastname"] for c in aliased["value"][0]["contact_customer_accounts"]] == ["C1"]
    assert len(through_lookup["value"][0]["contact_customer_accounts"]) == 3
    retrieved = api.get(
        f"accounts({account})?$expand=contact_customer_accounts("
        "$filter=parentcustomerid_account/name eq 'Parent' and lastname eq @p1)&@p1='C2'"
    ).json()
    assert [c["lastname"] for c in retrieved["contact_customer_accounts"]] == ["C2"]
    assert account and contacts
