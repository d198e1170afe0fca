"""``dynamics-client`` 0.8.4, unmodified, against the fake.

It logs in itself (authlib's client-credentials grant, ``client_secret_basic``) with the client
id and secret it is given, against the fake's login host, and speaks ``httpx`` (routed like the
other peers, see ``routing.py``).  Its token cache is switched off (``cache_token=False``, a
documented argument) so that each test logs in afresh instead of reusing a token from a shared
SQLite cache.  Each test checks the fake's store.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from d365leads.fake import FakeDataverse

from .matrix import case
from .seed import OPEN, seed_leads

# authlib (a dependency of dynamics-client) warns on import that its httpx integration is
# deprecated, after installing an "always" filter for its own warnings; not ours to fix.
with warnings.catch_warnings():
    authlib_deprecate = pytest.importorskip("authlib.deprecate", reason="needs the peers extra")
    warnings.simplefilter("ignore", authlib_deprecate.AuthlibDeprecationWarning)
    pytest.importorskip("dynamics", reason="needs the peers extra: pip install -e '.[peers]'")
    from dynamics import DynamicsClient, ftr

DYC = "dynamics-client"
TOKEN_URL = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"


@pytest.fixture
def client(fake: FakeDataverse) -> Iterator[Any]:
    client = DynamicsClient(
        api_url=fake.base_url,
        token_url=TOKEN_URL,
        client_id="peer-client-id",
        client_secret="peer-client-secret",
        scope=[f"{fake.org_url}/.default"],
        cache_token=False,
    )
    yield client
    # The client has no close(); its httpx connection pool would otherwise outlive the test.
    client._oauth_client.close()


def open_names(fake: FakeDataverse, **equals: Any) -> list[str]:
    return sorted(row["lastname"] for row in fake.rows("lead", statecode=OPEN, **equals))


@case(DYC, "get select/filter/orderby/top")
def test_get(fake: FakeDataverse, client: Any) -> None:
    seed_leads(fake, 12)
    client.table = "leads"
    client.select = ["lastname", "companyname"]
    client.filter = [ftr.eq("statecode", 0), ftr.eq("companyname", "C1")]
    client.orderby = {"lastname": "desc"}
    client.top = 2

    rows = client.get().data

    # dynamics-client sends $top with Prefer: odata.maxpagesize; the page-results doc says $top
    # is then ignored, and the fake follows the doc (top_with_maxpagesize="ignore_top").
    assert [r["lastname"] for r in rows] == open_names(fake, companyname="C1")[::-1]
    assert "$top=2" in fake.requests("GET", "leads")[-1].url.replace("%24", "$")


@case(DYC, "get across pages")
def test_get_pages(fake: FakeDataverse, client: Any) -> None:
    seed_leads(fake, 9)
    client.table = "leads"
    client.select = ["lastname"]
    client.filter = [ftr.eq("statecode", 0)]
    client.orderby = {"lastname": "asc"}
    client.pagesize = 3

    rows = client.get(pagination_rules={"pages": -1}).data

    assert [r["lastname"] for r in rows] == open_names(fake)
    assert len(fake.requests("GET", "leads")) == 3


@case(DYC, "get one row")
def test_get_one(fake: FakeDataverse, client: Any) -> None:
    ids = seed_leads(fake, 2)
    client.table = "leads"
    client.row_id = ids[1]
    client.select = ["lastname"]

    (row,) = client.get().data

    assert row["lastname"] == fake.get("lead", ids[1])["lastname"]  # type: ignore[index]


@case(DYC, "post (create)")
def test_post(fake: FakeDataverse, client: Any) -> None:
    client.table = "leads"
    client.select = ["lastname", "companyname"]

    created = client.post(data={"lastname": "Posted", "companyname": "Post Co"}).data

    row = fake.get("lead", created["leadid"])
    assert row is not None
    assert (row["lastname"], row["companyname"]) == ("Posted", "Post Co")
    assert created["companyname"] == "Post Co"


@case(DYC, "patch (update)")
def test_patch(fake: FakeDataverse, client: Any) -> None:
    ids = seed_leads(fake, 2)
    client.table = "leads"
    client.row_id = ids[0]

    updated = client.patch(data={"companyname": "Patched"}).data

    assert fake.get("lead", ids[0])["companyname"] == "Patched"  # type: ignore[index]
    assert updated["companyname"] == "Patched"
    assert fake.get("lead", ids[1])["companyname"] == "C1"  # type: ignore[index]


@case(DYC, "delete")
def test_delete(fake: FakeDataverse, client: Any) -> None:
    ids = seed_leads(fake, 2)
    client.table = "leads"
    client.row_id = ids[0]

    client.delete()

    assert fake.get("lead", ids[0]) is None
    assert fake.get("lead", ids[1]) is not None


@case(DYC, "fetch_xml")
def test_fetch_xml(fake: FakeDataverse, client: Any) -> None:
    seed_leads(fake, 6)
    client.table = "leads"
    client.fetch_xml = (
        '<fetch><entity name="lead"><attribute name="lastname"/>'
        '<filter><condition attribute="companyname" operator="eq" value="C1"/></filter>'
        '<order attribute="lastname"/></entity></fetch>'
    )

    rows = client.get().data

    expected = sorted(r["lastname"] for r in fake.rows("lead", companyname="C1"))
    assert [r["lastname"] for r in rows] == expected
    assert all(set(r) <= {"lastname", "leadid", "@odata.etag"} for r in rows)
