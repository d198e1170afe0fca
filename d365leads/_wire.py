"""Wire constants of the Dataverse Web API that more than one layer needs.

Sources: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
"""

from __future__ import annotations

API_PATH = "/api/data/v9.2/"

ODATA_HEADERS: dict[str, str] = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
}

PREFER_RETURN_REPRESENTATION = "return=representation"
PREFER_INCLUDE_ALL_ANNOTATIONS = 'odata.include-annotations="*"'
PREFER_TRACK_CHANGES = "odata.track-changes"
PREFER_CONTINUE_ON_ERROR = "odata.continue-on-error"


def prefer_max_page_size(size: int) -> str:
    """Return the ``Prefer`` value asking for pages of at most ``size`` rows."""
    return f"odata.maxpagesize={size}"


MAX_PAGE_SIZE = 5000
MAX_BATCH_OPERATIONS = 1000

ANNOTATION_FORMATTED = "@OData.Community.Display.V1.FormattedValue"
ANNOTATION_LOOKUP_LOGICAL_NAME = "@Microsoft.Dynamics.CRM.lookuplogicalname"
ANNOTATION_NAVIGATION_PROPERTY = "@Microsoft.Dynamics.CRM.associatednavigationproperty"
ODATA_ETAG = "@odata.etag"
ODATA_NEXT_LINK = "@odata.nextLink"
ODATA_DELTA_LINK = "@odata.deltaLink"
ODATA_COUNT = "@odata.count"

HEADER_DOP_HINT = "x-ms-dop-hint"
HEADER_RETRY_AFTER = "Retry-After"
HEADER_ENTITY_ID = "OData-EntityId"
HEADER_REQUEST_ID = "x-ms-service-request-id"
AFFINITY_COOKIE = "ARRAffinity"

# Dataverse error codes (hex strings as they appear in the error body).
CODE_NOT_FOUND = "0x80040217"
CODE_CONCURRENCY_MISMATCH = "0x80060882"
CODE_DUPLICATE_KEY = "0x80040237"
CODE_DUPLICATE_DETECTED = "0x80040333"
CODE_INVALID_STATE_STATUS = "0x80048408"
CODE_THROTTLE_REQUESTS = "0x80072322"
CODE_THROTTLE_EXECUTION_TIME = "0x80072321"
CODE_THROTTLE_CONCURRENCY = "0x80072326"
THROTTLE_CODES = frozenset(
    {CODE_THROTTLE_REQUESTS, CODE_THROTTLE_EXECUTION_TIME, CODE_THROTTLE_CONCURRENCY}
)
