"""The whole lifecycle over a real local HTTP server (real sockets, real transport)."""

from __future__ import annotations

from d365leads import DataverseClient, DisqualifyReason, LeadState, LeadStatus
from d365leads.testing import FakeServerFixture


def test_qualify_disqualify_reactivate_over_http(fake_dataverse_server: FakeServerFixture) -> None:
    fake = fake_dataverse_server.fake
    client: DataverseClient = fake_dataverse_server.client()
    to_qualify, to_disqualify = fake.seed(
        "lead",
        [
            {"subject": "Espresso machines", "companyname": "Fabrikam", "lastname": "Lee"},
            {"subject": "Solar panels", "firstname": "Bo", "lastname": "Chen"},
        ],
    )
    result = client.leads.qualify(to_qualify)
    assert result.lead.statecode is LeadState.QUALIFIED
    assert result.account is not None and result.account.name == "Fabrikam"
    assert result.opportunity is not None and result.opportunity.name == "Espresso machines"

    client.leads.disqualify(to_disqualify, DisqualifyReason.CANNOT_CONTACT)
    assert {str(lead.id) for lead in client.leads.closed()} == {to_qualify, to_disqualify}
    reopened = client.leads.reactivate(to_disqualify)
    assert reopened.statuscode is LeadStatus.NEW
    assert [str(lead.id) for lead in client.leads.my_open()] == [to_disqualify]
