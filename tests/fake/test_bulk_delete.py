"""BulkDelete: a system job (``asyncoperation``) the client polls, deleting what its queries match.

https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/bulkdelete
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from d365leads.fake import FakeDataverse, FakeOptions, ManualClock

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Org:
    def __init__(self, fake: FakeDataverse, clock: ManualClock) -> None:
        self.fake = fake
        self.clock = clock
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer t"

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(self.fake.base_url + path, json=body, timeout=5)

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.fake.base_url + path, timeout=5)

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.get(
            f"asyncoperations({job_id})?$select=name,operationtype,statecode,statuscode,"
            "postponeuntil,recurrencepattern,friendlymessage,message,completedon"
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def _org(**options: Any) -> Iterator[Org]:
    clock = ManualClock(START)
    fake = FakeDataverse(options=FakeOptions(**options), clock=clock)
    with fake.mock():
        yield Org(fake, clock)


@pytest.fixture
def org() -> Iterator[Org]:
    yield from _org()


@pytest.fixture
def delayed() -> Iterator[Org]:
    yield from _org(bulk_delete_delay_seconds=60)


def _query(entity: str, criteria: dict[str, Any]) -> dict[str, Any]:
    return {
        "@odata.type": "Microsoft.Dynamics.CRM.QueryExpression",
        "EntityName": entity,
        "ColumnSet": {"AllColumns": False, "Columns": []},
        "Criteria": criteria,
    }


def _body(*queries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "JobName": "Clean up",
        "SendEmailNotification": False,
        "ToRecipients": [],
        "CCRecipients": [],
        "RecurrencePattern": "",
        "StartDateTime": START.isoformat().replace("+00:00", "Z"),
        "QuerySet": list(queries),
        **extra,
    }


def _seed(org: Org) -> list[str]:
    return org.fake.seed(
        "lead",
        [
            {"lastname": "Old", "companyname": "A", "leadsourcecode": 1},
            {"lastname": "Old", "companyname": "B", "leadsourcecode": 2},
            {"lastname": "Keep", "companyname": "A", "leadsourcecode": 1},
            {"lastname": "Other", "companyname": "C", "leadsourcecode": 3},
        ],
    )


def test_the_matching_rows_go_and_the_job_reports_success(org: Org) -> None:
    old_a, old_b, keep, other = _seed(org)
    (account,) = org.fake.seed("account", [{"name": "Gone"}])
    criteria = {
        "FilterOperator": "And",
        "Conditions": [{"AttributeName": "lastname", "Operator": "Equal", "Values": ["Old"]}],
        "Filters": [
            {
                "FilterOperator": "Or",
                "Conditions": [
                    {"AttributeName": "companyname", "Operator": "Equal", "Values": ["A"]},
                    {
                        "AttributeName": "leadsourcecode",
                        "Operator": "In",
                        "Values": [{"Value": 2, "Type": "System.Int32"}],
                    },
                ],
            }
        ],
    }
    by_id = {
        "Conditions": [
            {
                "AttributeName": "accountid",
                "Operator": "In",
                "Values": [{"Value": account, "Type": "System.Guid"}],
            }
        ]
    }

    response = org.post("BulkDelete", _body(_query("lead", criteria), _query("account", by_id)))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"] == (
        f"{org.fake.base_url}$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse"
    )
    assert [org.fake.get("lead", i) is None for i in (old_a, old_b, keep, other)] == [
        True,
        True,
        False,
        False,
    ]
    assert org.fake.get("account", account) is None
    job = org.job(body["JobId"])
    assert (job["name"], job["operationtype"], job["statecode"], job["statuscode"]) == (
        "Clean up",
        13,
        3,
        30,
    )
    assert job["friendlymessage"] == "3 records deleted."
    assert job["completedon"] == "2026-03-02T09:00:00Z"


def test_a_delayed_job_waits_until_it_is_due(delayed: Org) -> None:
    ids = _seed(delayed)
    criteria = {"Conditions": [{"AttributeName": "lastname", "Operator": 0, "Values": ["Old"]}]}

    job_id = delayed.post("BulkDelete", _body(_query("lead", criteria))).json()["JobId"]

    waiting = delayed.job(job_id)
    assert (waiting["statecode"], waiting["statuscode"]) == (0, 0)
    assert waiting["postponeuntil"] == "2026-03-02T09:01:00Z"
    assert all(delayed.fake.get("lead", i) is not None for i in ids)
    delayed.clock.advance(61)
    done = delayed.job(job_id)  # the poll itself lets the job run first
    assert (done["statecode"], done["statuscode"]) == (3, 30)
    assert [delayed.fake.get("lead", i) is None for i in ids] == [True, True, False, False]


def test_a_daily_job_runs_again_the_next_day(org: Org) -> None:
    _seed(org)
    criteria = {
        "Conditions": [{"AttributeName": "lastname", "Operator": "Equal", "Values": ["Old"]}]
    }
    body = _body(_query("lead", criteria), RecurrencePattern="FREQ=DAILY;INTERVAL=1;")

    job_id = org.post("BulkDelete", body).json()["JobId"]

    job = org.job(job_id)
    assert (job["statecode"], job["statuscode"]) == (1, 10)
    assert job["recurrencepattern"] == "FREQ=DAILY;INTERVAL=1;"
    assert job["postponeuntil"] == "2026-03-03T09:00:00Z"
    (late,) = org.fake.seed("lead", [{"lastname": "Old"}])
    org.clock.advance(3600)
    assert org.get("WhoAmI").status_code == 200
    assert org.fake.get("lead", late) is not None
    org.clock.advance(86400)
    assert org.get("WhoAmI").status_code == 200
    assert org.fake.get("lead", late) is None


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"JobName": ""}, 400, "needs a JobName"),
        ({"QuerySet": []}, 400, "QuerySet"),
        ({"Surprise": 1}, 400, "no parameter Surprise"),
        ({"RecurrencePattern": "FREQ=WEEKLY;"}, 400, "RecurrencePattern"),
        ({"StartDateTime": "soon"}, 400, "StartDateTime"),
        ({"SendEmailNotification": True}, 501, "SendEmailNotification"),
        ({"SourceImportId": "00000000-0000-0000-0000-000000000001"}, 501, "SourceImportId"),
    ],
)
def test_bad_requests_create_no_job(
    org: Org, change: dict[str, Any], status: int, words: str
) -> None:
    ids = _seed(org)
    criteria = {
        "Conditions": [{"AttributeName": "lastname", "Operator": "Equal", "Values": ["Old"]}]
    }

    response = org.post("BulkDelete", {**_body(_query("lead", criteria)), **change})

    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]
    assert org.fake.rows("asyncoperation") == []
    assert all(org.fake.get("lead", i) is not None for i in ids)


def _one(attribute: str, operator: str, *values: str) -> dict[str, Any]:
    condition = {"AttributeName": attribute, "Operator": operator, "Values": list(values)}
    return _query("lead", {"Conditions": [condition]})


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        (_query("nothing", {}), 400, "'nothing'"),
        (_one("nope", "Equal", "x"), 400, "nope"),
        (_one("lastname", "Between", "a", "b"), 501, "Between"),
        ({**_query("lead", {}), "LinkEntities": [{"LinkToEntityName": "a"}]}, 501, "LinkEntities"),
    ],
)
def test_bad_queries_create_no_job(
    org: Org, query: dict[str, Any], status: int, words: str
) -> None:
    _seed(org)

    response = org.post("BulkDelete", _body(query))

    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]
    assert org.fake.rows("asyncoperation") == []
    assert len(org.fake.rows("lead")) == 4


def test_a_job_due_later_runs_when_its_time_comes_after_the_next_due_mark(
    delayed: Org,
) -> None:
    old_a, old_b, keep, other = _seed(delayed)
    by_name = {
        name: {"Conditions": [{"AttributeName": "lastname", "Operator": 0, "Values": [name]}]}
        for name in ("Old", "Keep")
    }
    tomorrow = "2026-03-03T09:00:00Z"
    late = delayed.post(
        "BulkDelete", _body(_query("lead", by_name["Keep"]), StartDateTime=tomorrow)
    ).json()["JobId"]
    assert delayed.get("WhoAmI").status_code == 200  # the next due job is now the late one
    # Writes to other tables leave the mark as it is; a job submitted after it, due sooner,
    # moves it.
    assert delayed.post("leads", {"lastname": "New"}).status_code == 204
    soon = delayed.post("BulkDelete", _body(_query("lead", by_name["Old"]))).json()["JobId"]
    delayed.clock.advance(61)
    assert delayed.get("WhoAmI").status_code == 200
    assert [delayed.fake.get("lead", i) is None for i in (old_a, old_b, keep, other)] == [
        True,
        True,
        False,
        False,
    ]
    assert delayed.job(late)["statuscode"] == 0
    delayed.clock.advance(86400)
    assert delayed.get("WhoAmI").status_code == 200
    assert delayed.fake.get("lead", keep) is None
    assert (delayed.job(soon)["statuscode"], delayed.job(late)["statuscode"]) == (30, 30)


def test_requests_with_nothing_due_do_not_look_at_the_job_table(
    delayed: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = delayed.fake.org.store
    looked: list[str] = []
    find = store.find

    def counting(logical_name: str, predicate: Any) -> list[dict[str, Any]]:
        looked.append(logical_name)
        return find(logical_name, predicate)

    monkeypatch.setattr(store, "find", counting)
    _seed(delayed)
    criteria = {"Conditions": [{"AttributeName": "lastname", "Operator": 0, "Values": ["Old"]}]}
    job_id = delayed.post("BulkDelete", _body(_query("lead", criteria))).json()["JobId"]
    assert delayed.get("WhoAmI").status_code == 200  # the job table changed: one look
    before = looked.count("asyncoperation")
    for _ in range(5):
        assert delayed.get("leads?$select=lastname").status_code == 200
        assert delayed.post("leads", {"lastname": "New"}).status_code == 204
    assert looked.count("asyncoperation") == before
    delayed.clock.advance(61)
    assert delayed.job(job_id)["statuscode"] == 30  # due: the next request ran it
    assert looked.count("asyncoperation") > before
