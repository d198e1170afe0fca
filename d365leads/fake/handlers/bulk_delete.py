"""``POST BulkDelete``: submit a bulk delete job, answer its ``JobId``.

The body is the documented action's (``QuerySet`` of QueryExpression, ``JobName``,
``SendEmailNotification``, ``ToRecipients``, ``CCRecipients``, ``RecurrencePattern``,
``StartDateTime``, ``SourceImportId``, ``RunNow``); the answer is
``{"@odata.context": "…$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse", "JobId": …}``
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/bulkdeleteresponse).
The job itself is :mod:`~d365leads.fake.org.bulk_delete`.
"""

from __future__ import annotations

from ..core.fault import bad_request
from ..org.bulk_delete import parse_job, submit
from ..org.state import OrgState
from ..org.values import CODE_PAYLOAD
from ..wire.messages import FakeRequest, FakeResponse, service_root

__all__ = ["bulk_delete"]


def bulk_delete(org: OrgState, request: FakeRequest, record_id: str | None) -> FakeResponse:
    """Check the request, queue the job (it may run at once) and answer its id."""
    del record_id  # unbound
    try:
        payload = request.json()
    except ValueError:
        raise bad_request("The BulkDelete body must be a JSON object.", CODE_PAYLOAD) from None
    if not isinstance(payload, dict):
        raise bad_request("The BulkDelete body must be a JSON object.", CODE_PAYLOAD)
    caller = org.caller_id
    job = parse_job(org, payload, caller)
    job_id = submit(org, job, caller)
    return FakeResponse.json_body(
        200,
        {
            "@odata.context": (
                f"{service_root(request)}$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse"
            ),
            "JobId": job_id,
        },
    )
