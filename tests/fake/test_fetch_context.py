"""The ``@odata.context`` of a FetchXML answer under ``fetchxml_context`` (UNCONFIRMED switch):
every attribute of the fetch by default, or only the primary id and name among them."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

from d365leads.fake import FakeDataverse, FakeOptions

FETCH = (
    "<fetch><entity name='account'><attribute name='accountnumber'/>"
    "<attribute name='accountid'/><attribute name='name'/></entity></fetch>"
)


@pytest.mark.parametrize(
    ("mode", "columns"),
    [
        ("fetch_attributes", "accountnumber,accountid,name"),
        ("primary_attributes", "accountid,name"),
    ],
)
def test_context_lists_the_columns_the_switch_names(mode: str, columns: str) -> None:
    fake = FakeDataverse(options=FakeOptions(fetchxml_context=mode))  # type: ignore[arg-type]
    fake.seed("account", [{"name": "Acme", "accountnumber": "A1"}])
    with fake.mock():
        got = requests.get(
            f"{fake.base_url}accounts?fetchXml={quote(FETCH, safe='')}",
            headers={"Authorization": "Bearer t"},
            timeout=5,
        )
    body = got.json()
    assert body["@odata.context"] == f"{fake.base_url}$metadata#accounts({columns})"
    assert body["value"][0]["accountnumber"] == "A1"  # the rows themselves do not change
