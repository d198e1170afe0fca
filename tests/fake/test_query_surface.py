"""The documented query surface of the fake: query functions, lookup paths, lookup ordering,
totalrecordcount without $count, $top with a page size, money currencies, contexts, and the
documented example columns and task table (both adapters)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from _core_api import Api, error_of

from d365leads.fake import FakeDataverse, FakeOptions
from d365leads.fake.core.clock import ManualClock

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=timezone.utc)  # a Wednesday


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    fake = FakeDataverse(options=FakeOptions(), clock=ManualClock(NOW), sleep=lambda s: None)
    if request.param == "inprocess":
        with fake.mock():
            yield Api(fake, fake.base_url, "inprocess")
    else:
        with fake.serve() as server:
            yield Api(fake, server.base_url, "server")
    assert fake.errors == [], fake.errors


def _names(api: Api, query: str, column: str = "name") -> list[str]:
    response = api.get(query)
    assert response.status_code == 200, response.text
    return [row[column] for row in response.json()["value"]]


def _accounts(api: Api) -> list[str]:
    return api.fake.seed(
        "account",
        [
            {"name": "Tiny", "numberofemployees": 3, "createdon": "2026-03-18T08:00:00Z"},
            {"name": "Small", "numberofemployees": 5, "createdon": "2026-03-17T23:00:00Z"},
            {"name": "Medium", "numberofemployees": 2000, "createdon": "2026-03-05T10:00:00Z"},
            {"name": "Large", "numberofemployees": 5000, "createdon": "2025-06-01T10:00:00Z"},
        ],
    )


def test_in_not_in_between_and_not_between(api: Api) -> None:
    _accounts(api)
    fn = "Microsoft.Dynamics.CRM"
    between = f'{fn}.Between(PropertyName=\'numberofemployees\',PropertyValues=["5","2000"])'
    assert _names(api, f"accounts?$filter={between}&$orderby=name") == ["Medium", "Small"]
    outside = f"{fn}.NotBetween(PropertyName='numberofemployees',PropertyValues=['5','2000'])"
    assert _names(api, f"accounts?$filter={outside}&$orderby=name") == ["Large", "Tiny"]
    within = f"{fn}.In(PropertyName='name',PropertyValues=['tiny','LARGE','none'])"
    assert _names(api, f"accounts?$filter={within}&$orderby=name") == ["Large", "Tiny"]
    others = f"{fn}.NotIn(PropertyName=@p1,PropertyValues=@p2)&@p1='name'&@p2=[\"Tiny\"]"
    assert _names(api, f"accounts?$filter={others}&$orderby=name") == [
        "Large",
        "Medium",
        "Small",
    ]
    combined = (
        f"{fn}.In(PropertyName='name',PropertyValues=['Tiny','Small']) and numberofemployees gt 4"
    )
    assert _names(api, f"accounts?$filter={combined}") == ["Small"]


def test_query_function_parameters_are_checked(api: Api) -> None:
    _accounts(api)
    fn = "Microsoft.Dynamics.CRM"
    cases = {
        f"{fn}.Between(PropertyName='numberofemployees',PropertyValues=['5'])": "exactly two",
        f"{fn}.In(PropertyName='numberofemployees',PropertyValues=['many'])": "not valid",
        f"{fn}.In(PropertyName='nosuch',PropertyValues=['1'])": "nosuch",
        f"{fn}.Today(PropertyName='name')": "not a date",
        f"{fn}.LastXDays(PropertyName='createdon')": "PropertyValue",
        f"{fn}.ContainValues(PropertyName='name',PropertyValues=['1'])": "multi-select",
        f"{fn}.NoSuchThing(PropertyName='name')": "not a Dataverse query function",
    }
    for text, needle in cases.items():
        response = api.get(f"accounts?$filter={text}")
        assert response.status_code == 400, (text, response.text)
        error = error_of(response)
        assert error["code"] == "0x80060888" and needle in error["message"], (text, error)
    fiscal = api.get(f"accounts?$filter={fn}.ThisFiscalYear(PropertyName='createdon')")
    assert fiscal.status_code == 501 and "ThisFiscalYear" in error_of(fiscal)["message"]


def test_date_functions_read_the_fakes_clock(api: Api) -> None:
    _accounts(api)
    fn = "Microsoft.Dynamics.CRM"

    def named(call: str) -> list[str]:
        return sorted(_names(api, f"accounts?$filter={fn}.{call}"))

    assert named("Today(PropertyName='createdon')") == ["Tiny"]
    assert named("Yesterday(PropertyName='createdon')") == ["Small"]
    assert named("LastXDays(PropertyName='createdon',PropertyValue=1)") == ["Small", "Tiny"]
    assert named("LastXHours(PropertyName='createdon',PropertyValue=10)") == ["Tiny"]
    assert named("Last7Days(PropertyName='createdon')") == ["Small", "Tiny"]
    assert named("ThisMonth(PropertyName='createdon')") == ["Medium", "Small", "Tiny"]
    assert named("ThisWeek(PropertyName='createdon')") == ["Small", "Tiny"]  # from Sunday 15th
    assert named("LastWeek(PropertyName='createdon')") == []
    assert named("ThisYear(PropertyName='createdon')") == ["Medium", "Small", "Tiny"]
    assert named("LastYear(PropertyName='createdon')") == ["Large"]
    assert named("OlderThanXMonths(PropertyName='createdon',PropertyValue=6)") == ["Large"]
    assert named("OlderThanXDays(PropertyName='createdon',PropertyValue=1)") == [
        "Large",
        "Medium",
    ]
    assert named("On(PropertyName='createdon',PropertyValue='2026-03-05')") == ["Medium"]
    assert named("OnOrAfter(PropertyName='createdon',PropertyValue='2026-03-17')") == [
        "Small",
        "Tiny",
    ]
    api.fake.clock.advance(86400 * 30)  # type: ignore[attr-defined]
    assert named("Today(PropertyName='createdon')") == []
    assert named("LastMonth(PropertyName='createdon')") == ["Medium", "Small", "Tiny"]


def test_user_and_business_unit_functions(api: Api) -> None:
    (mine,) = api.fake.seed("lead", [{"lastname": "Mine"}])
    other = api.fake.seed("systemuser", [{"firstname": "O", "lastname": "Ther"}])[0]
    api.fake.seed("lead", [{"lastname": "Theirs", "ownerid": other}])
    fn = "Microsoft.Dynamics.CRM"
    assert _names(api, f"leads?$filter={fn}.EqualUserId(PropertyName='ownerid')", "lastname") == [
        "Mine"
    ]
    assert _names(
        api, f"leads?$filter={fn}.NotEqualUserId(PropertyName='ownerid')", "lastname"
    ) == ["Theirs"]
    whoami = api.get("WhoAmI").json()
    users = api.get(f"systemusers?$filter={fn}.EqualBusinessId(PropertyName='businessunitid')")
    assert whoami["UserId"] in [u["systemuserid"] for u in users.json()["value"]]
    assert mine


def test_hierarchy_functions(api: Api) -> None:
    (top,) = api.fake.seed("account", [{"name": "Top"}])
    (mid,) = api.fake.seed("account", [{"name": "Mid", "parentaccountid": top}])
    api.fake.seed("account", [{"name": "Leaf", "parentaccountid": mid}, {"name": "Alone"}])
    fn = "Microsoft.Dynamics.CRM"

    def named(call: str, anchor: str) -> list[str]:
        return sorted(
            _names(
                api,
                f"accounts?$filter={fn}.{call}(PropertyName='accountid',PropertyValue='{anchor}')",
            )
        )

    assert named("Under", top) == ["Leaf", "Mid"]
    assert named("UnderOrEqual", mid) == ["Leaf", "Mid"]
    assert named("NotUnder", top) == ["Alone", "Top"]
    assert named("Above", mid) == ["Top"]
    assert named("AboveOrEqual", mid) == ["Mid", "Top"]
    wrong = api.get(f"accounts?$filter={fn}.Under(PropertyName='name',PropertyValue='{top}')")
    assert wrong.status_code == 400 and "accountid" in error_of(wrong)["message"]


def test_filter_through_lookup_paths(api: Api) -> None:
    (admin,) = api.fake.seed("systemuser", [{"firstname": "System", "lastname": "Administrator"}])
    susanna, nancy = api.fake.seed(
        "contact",
        [
            {"firstname": "Susanna", "lastname": "Stubberod", "createdby": admin},
            {"firstname": "Nancy", "lastname": "Anderson"},
        ],
    )
    api.fake.seed(
        "account",
        [
            {"name": "Litware", "primarycontactid": susanna},
            {"name": "Adventure Works", "primarycontactid": nancy},
            {"name": "Nobody"},
        ],
    )
    assert _names(api, "accounts?$filter=primarycontactid/fullname eq 'Susanna Stubberod'") == [
        "Litware"
    ]
    assert _names(
        api, "accounts?$filter=startswith(primarycontactid/lastname,'And')&$select=name"
    ) == ["Adventure Works"]
    assert _names(
        api, "accounts?$filter=primarycontactid/createdby/fullname eq 'System Administrator'"
    ) == ["Litware"]
    assert sorted(_names(api, "accounts?$filter=primarycontactid/fullname ne null")) == [
        "Adventure Works",
        "Litware",
    ]
    fn = (
        "Microsoft.Dynamics.CRM.In(PropertyName='primarycontactid/firstname',"
        "PropertyValues=['nancy'])"
    )
    assert _names(api, f"accounts?$filter={fn}") == ["Adventure Works"]
    unknown = api.get("accounts?$filter=primarycontactid/nosuch eq 'x'")
    assert unknown.status_code == 400 and "nosuch" in error_of(unknown)["message"]
    not_nav = api.get("accounts?$filter=name/fullname eq 'x'")
    assert not_nav.status_code == 400 and "navigation" in error_of(not_nav)["message"]


def test_order_by_lookup_sorts_by_the_related_name(api: Api) -> None:
    zed, amy = api.fake.seed("contact", [{"lastname": "Zed"}, {"lastname": "Amy"}])
    # GUID order is the opposite of name order for at least one pair in either direction.
    api.fake.seed(
        "account",
        [
            {"name": "A", "primarycontactid": zed},
            {"name": "B", "primarycontactid": amy},
            {"name": "C"},
        ],
    )
    query = "accounts?$select=name,_primarycontactid_value&$orderby=_primarycontactid_value"
    assert _names(api, query) == ["C", "B", "A"]
    assert _names(api, query + " desc") == ["A", "B", "C"]
    paged = api.get(query, headers={"Prefer": "odata.maxpagesize=1"}).json()
    seen = [r["name"] for r in paged["value"]]
    while "@odata.nextLink" in paged:
        paged = api.get(paged["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=1"})
        paged = paged.json()
        seen += [r["name"] for r in paged["value"]]
    assert seen == ["C", "B", "A"]
    context = api.get(query).json()["@odata.context"]
    assert context.endswith("$metadata#accounts(name,_primarycontactid_value)")


def test_total_record_count_without_count_and_count_next_link(api: Api) -> None:
    api.fake.seed("account", [{"name": f"A{i}"} for i in range(5)])
    prefer = 'odata.include-annotations="Microsoft.Dynamics.CRM.*"'
    plain = api.get("accounts?$select=name", headers={"Prefer": prefer}).json()
    assert plain["@Microsoft.Dynamics.CRM.totalrecordcount"] == -1
    assert plain["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    assert "@odata.count" not in plain
    bare = api.get("accounts?$select=name").json()
    assert "@Microsoft.Dynamics.CRM.totalrecordcount" not in bare
    counted = api.get(
        "accounts?$select=name&$count=true",
        headers={"Prefer": f"odata.maxpagesize=2,{prefer}"},
    ).json()
    assert counted["@odata.count"] == 5
    assert counted["@Microsoft.Dynamics.CRM.totalrecordcount"] == 5
    query = parse_qs(urlsplit(counted["@odata.nextLink"]).query)
    assert set(query) == {"$select", "$skiptoken"}


def test_top_is_ignored_with_a_page_size(api: Api) -> None:
    api.fake.seed("account", [{"name": f"A{i}"} for i in range(5)])
    page = api.get("accounts?$top=1&$orderby=name", headers={"Prefer": "odata.maxpagesize=2"})
    body = page.json()
    assert [r["name"] for r in body["value"]] == ["A0", "A1"]
    assert "$top" not in parse_qs(urlsplit(body["@odata.nextLink"]).query)
    assert _names(api, "accounts?$top=2&$orderby=name") == ["A0", "A1"]


def test_money_columns_bring_their_currency(api: Api) -> None:
    (account,) = api.fake.seed("account", [{"name": "Rich", "revenue": 20000}])
    base = api.get(f"accounts({account})?$select=_transactioncurrencyid_value").json()
    currency = base["_transactioncurrencyid_value"]
    assert currency
    selected = api.get(
        "accounts?$select=name,revenue",
        headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'},
    ).json()
    row = selected["value"][0]
    assert row["_transactioncurrencyid_value"] == currency
    assert row["_transactioncurrencyid_value@OData.Community.Display.V1.FormattedValue"]
    assert selected["@odata.context"].endswith("#accounts(name,revenue)")
    assert "_transactioncurrencyid_value" not in api.get("accounts?$select=name").json()["value"][0]
    retrieved = api.get(f"accounts({account})?$select=revenue").json()
    assert retrieved["_transactioncurrencyid_value"] == currency
    created = api.post(
        "accounts?$select=name,revenue",
        json={"name": "New", "revenue": 5},
        headers={"Prefer": "return=representation"},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["_transactioncurrencyid_value"] == currency
    assert body["@odata.context"].endswith("$metadata#accounts/$entity")
    (poor,) = api.fake.seed("account", [{"name": "Poor"}])
    updated = api.patch(
        f"accounts({poor})?$select=revenue",
        json={"revenue": 7},
        headers={"Prefer": "return=representation"},
    ).json()
    assert updated["_transactioncurrencyid_value"] == currency


def test_representation_context_switch(api: Api) -> None:
    api.fake.options = api.fake.options.replace(representation_context="selected")
    created = api.post(
        "accounts?$select=name", json={"name": "New"}, headers={"Prefer": "return=representation"}
    ).json()
    assert created["@odata.context"].endswith("$metadata#accounts(name)/$entity")


def test_documented_example_columns(api: Api) -> None:
    body = {
        "name": "Sample Account",
        "creditonhold": False,
        "address1_latitude": 47.639583,
        "description": "This is the description of the sample account",
        "revenue": 5000000,
        "accountcategorycode": 1,
        "customertypecode": 3,
        "fax": "555-0100",
        "preferredappointmentdaycode": 2,
    }
    created = api.post(
        "accounts?$select=address1_latitude,customertypecode,creditonhold",
        json=body,
        headers={
            "Prefer": 'return=representation,odata.include-annotations="*"',
        },
    )
    assert created.status_code == 201, created.text
    row = created.json()
    assert row["address1_latitude"] == 47.63958  # a precision of 5, as the docs show
    assert row["customertypecode@OData.Community.Display.V1.FormattedValue"] == "Customer"
    assert row["creditonhold@OData.Community.Display.V1.FormattedValue"] == "No"
    bad = api.post("accounts", json={"name": "x", "customertypecode": 99})
    assert bad.status_code == 400
    contact = api.create("contacts", {"lastname": "L", "gendercode": 2, "birthdate": "1990-05-01"})
    lead = api.create("leads", {"lastname": "L", "leadqualitycode": 1, "budgetamount": 10})
    assert contact and lead


def test_tasks_regarding_accounts(api: Api) -> None:
    (account,) = api.fake.seed("account", [{"name": "Sample Account"}])
    for subject in ("Task 1", "Task 2"):
        created = api.post(
            "tasks",
            json={
                "subject": subject,
                "regardingobjectid_account_task@odata.bind": f"accounts({account})",
            },
        )
        assert created.status_code == 204, created.text
    tasks = api.get(
        f"accounts({account})/Account_Tasks?$select=subject,_regardingobjectid_value&$orderby=subject"
    ).json()
    assert [t["subject"] for t in tasks["value"]] == ["Task 1", "Task 2"]
    assert {t["_regardingobjectid_value"] for t in tasks["value"]} == {account}
    expanded = api.get(f"accounts({account})?$select=name&$expand=Account_Tasks($select=subject)")
    assert len(expanded.json()["Account_Tasks"]) == 2
    filtered = api.get(
        "tasks?$select=subject&$filter=regardingobjectid_account_task/name eq 'Sample Account'"
    )
    assert len(filtered.json()["value"]) == 2
    (first,) = [t["activityid"] for t in tasks["value"][:1]]
    done = api.patch(f"tasks({first})", json={"statecode": 1, "statuscode": 5})
    assert done.status_code == 204, done.text


def test_conditional_error_shapes(api: Api) -> None:
    (account,) = api.fake.seed("account", [{"name": "Sample"}])
    stale = {"If-Match": 'W/"1"'}
    missing = "accounts(00000000-0000-0000-0000-000000000001)"
    assert error_of(api.delete(f"accounts({account})", headers=stale))["code"] == "0x80060882"
    api.fake.options = api.fake.options.replace(conditional_errors="conditional_page")
    deleted = api.delete(f"accounts({account})", headers=stale)
    assert deleted.status_code == 412
    assert error_of(deleted) == {
        "code": "",
        "message": "The version of the existing record doesn't match the RowVersion property "
        "provided.",
    }
    upsert = api.patch(missing, json={"name": "x"}, headers={"If-Match": "*"})
    assert upsert.status_code == 404
    assert error_of(upsert) == {
        "code": "",
        "message": "account With Id = 00000000-0000-0000-0000-000000000001 Does Not Exist",
    }
    create_only = api.patch(
        f"accounts({account})", json={"name": "x"}, headers={"If-None-Match": "*"}
    )
    assert create_only.status_code == 412 and error_of(create_only)["code"] == ""
    assert api.fake.get("account", account)["name"] == "Sample"


def test_any_and_all_over_collection_navigations(api: Api) -> None:
    busy, idle, done = api.fake.seed(
        "account", [{"name": "Busy"}, {"name": "Idle"}, {"name": "Done"}]
    )
    api.fake.seed(
        "task",
        [
            {"subject": "Call", "regardingobjectid": busy, "regardingobjectidtype": "account"},
            {"subject": "Mail", "regardingobjectid": busy, "regardingobjectidtype": "account"},
            {
                "subject": "Call",
                "regardingobjectid": done,
                "regardingobjectidtype": "account",
                "statecode": 1,
            },
        ],
    )
    assert sorted(_names(api, "accounts?$filter=Account_Tasks/any()")) == ["Busy", "Done"]
    assert sorted(_names(api, "accounts?$filter=Account_Tasks/any(t:t/subject eq 'call')")) == [
        "Busy",
        "Done",
    ]
    assert _names(
        api, "accounts?$filter=Account_Tasks/any(t:t/subject eq 'Call' and t/statecode eq 0)"
    ) == ["Busy"]
    # all() is true for an account without tasks, as in OData.
    assert sorted(_names(api, "accounts?$filter=Account_Tasks/all(t:t/statecode eq 1)")) == [
        "Done",
        "Idle",
    ]
    assert _names(
        api, "accounts?$filter=not Account_Tasks/any(t:contains(t/subject,'ai'))&$orderby=name"
    ) == ["Done", "Idle"]
    single = api.get("accounts?$filter=primarycontactid/any(c:c/fullname eq 'x')")
    assert single.status_code == 400 and "single-valued" in error_of(single)["message"]
    unknown = api.get("accounts?$filter=nosuch/any(c:c/fullname eq 'x')")
    assert unknown.status_code == 400 and "nosuch" in error_of(unknown)["message"]
    assert idle
