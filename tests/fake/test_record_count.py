"""RetrieveTotalRecordCount: rows per table, inline or through a parameter alias.

https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/retrievetotalrecordcount
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _core_api import Api, error_of, make_api


@pytest.fixture(params=["inprocess", "server"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(request)


def test_counts_per_table(api: Api) -> None:
    api.fake.seed("account", [{"name": f"A{i}"} for i in range(3)])
    api.fake.seed("contact", [{"lastname": "C"}])

    inline = api.get("RetrieveTotalRecordCount(EntityNames=['account','contact','lead'])")
    aliased = api.get('RetrieveTotalRecordCount(EntityNames=@p1)?@p1=["contact"]')

    assert inline.status_code == 200
    assert inline.json() == {
        "@odata.context": (
            f"{api.base}$metadata#Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse"
        ),
        "EntityRecordCountCollection": {
            "Count": 3,
            "IsReadOnly": False,
            "Keys": ["account", "contact", "lead"],
            "Values": [3, 1, 0],
        },
    }
    assert aliased.json()["EntityRecordCountCollection"]["Values"] == [1]


def test_bad_names_are_refused(api: Api) -> None:
    for path, words in (
        ("RetrieveTotalRecordCount(EntityNames=['nothing'])", "'nothing'"),
        ("RetrieveTotalRecordCount(EntityNames='account')", "collection"),
        ("RetrieveTotalRecordCount", "needs EntityNames"),
        ("RetrieveTotalRecordCount(EntityNames=@p9)", "'@p9'"),
    ):
        response = api.get(path)
        assert response.status_code == 400, path
        assert words in error_of(response)["message"]
    assert api.post("RetrieveTotalRecordCount(EntityNames=['lead'])").status_code == 405
