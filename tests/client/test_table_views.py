"""``view()`` and ``fetch()`` on the typed tables past the lead (accounts, contacts,
opportunities) through the public client, against both adapters of the fake."""

from __future__ import annotations

from typing import Any

import pytest

from d365leads import InvalidInputError
from d365leads.models import Account, Contact, Opportunity


@pytest.fixture(params=["inprocess", "server"])
def fake(request: pytest.FixtureRequest) -> Any:
    name = "fake_dataverse" if request.param == "inprocess" else "fake_dataverse_server"
    return request.getfixturevalue(name)


def test_views_and_fetchxml_return_typed_models(fake: Any) -> None:
    acme, gone = fake.seed(
        "account", [{"name": "Acme"}, {"name": "Gone", "statecode": 1, "statuscode": 2}]
    )
    [ana] = fake.seed("contact", [{"lastname": "Ana", "parentcustomerid": acme}])
    [won] = fake.seed("opportunity", [{"name": "Won", "statecode": 1, "statuscode": 3}])
    client = fake.client()
    inactive = list(client.accounts.view("Inactive Accounts"))
    assert [(type(a), str(a.id), a.name) for a in inactive] == [(Account, gone, "Gone")]
    contacts = list(client.contacts.view("My Active Contacts"))
    assert [(type(c), str(c.id)) for c in contacts] == [(Contact, ana)]
    closed = list(client.opportunities.view("Closed Opportunities"))
    assert [(type(o), str(o.id), int(o.statuscode)) for o in closed] == [(Opportunity, won, 3)]
    by_id = client.views.find("account", "Active Accounts").id
    assert [str(a.id) for a in client.accounts.view(by_id)] == [acme]
    xml = (
        "<fetch><entity name='account'><attribute name='name'/>"
        "<filter><condition attribute='name' operator='begins-with' value='Ac'/></filter>"
        "</entity></fetch>"
    )
    assert [a.name for a in client.accounts.fetch(xml)] == ["Acme"]


def test_unknown_views_and_other_tables_are_refused_before_any_row_is_read(fake: Any) -> None:
    client = fake.client()
    with pytest.raises(InvalidInputError, match="did you mean: 'Active Contacts'"):
        list(client.contacts.view("Active Contact"))
    with pytest.raises(InvalidInputError, match="has no view named 'Open Leads'"):
        list(client.opportunities.view("Open Leads"))
    lead_xml = "<fetch><entity name='lead'><attribute name='leadid'/></entity></fetch>"
    with pytest.raises(InvalidInputError, match="queries the 'lead' table"):
        list(client.accounts.fetch(lead_xml))
