"""BulkDelete as a system job: validate, queue an ``asyncoperation``, delete when it runs.

``POST BulkDelete`` (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/bulkdelete)
submits a job and answers its ``JobId`` at once; the job deletes the rows its ``QuerySet``
matches "asynchronously in the background". The fake keeps the job as an ``asyncoperation``
row (:mod:`.async_table`) that a client polls: Ready / Waiting For Resources until it is due,
then Completed / Succeeded (or Failed with a ``message``). ``bulk_delete_delay_seconds`` says
when a job is due: 0 (the default) runs it before the answer, so a test sees the rows gone;
more leaves it waiting until the fake's clock passes its ``StartDateTime`` plus the delay, and
the first request after that runs it (:class:`DueJobs`, which looks at the table only when it
changed or its next waiting job fell due, so requests with nothing due pay nothing). A daily
``RecurrencePattern`` (``FREQ=DAILY;INTERVAL=n;``, the one recurrence the docs name for bulk
delete) puts the job back to Suspended / Waiting with ``postponeuntil`` at the next run.

Each query is a QueryExpression (``EntityName``, ``Criteria`` with ``FilterOperator``,
``Conditions`` and nested ``Filters``), run through the fake's FetchXML engine after a
one-to-one translation, so conditions mean what they mean in FetchXML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.etree import ElementTree

from ..core.fault import CODE_INVALID_ARGUMENT, FakeFault, bad_request, not_implemented
from ..core.values import format_datetime, normalize_id
from ..fetchxml import FetchXmlError, FetchXmlUnsupported, evaluate
from .async_table import (
    BULK_DELETE_OPERATION_TYPE,
    FAILED,
    SUCCEEDED,
    WAITING,
    WAITING_FOR_RESOURCES,
)
from .fetch_source import OrgFetchSource
from .state import OrgState
from .store import Store

__all__ = ["BulkDeleteJob", "DueJobs", "parse_job", "run_due_jobs", "submit"]

_TABLE = "asyncoperation"
_DUE_AT_ONCE = datetime.min.replace(tzinfo=timezone.utc)  # a waiting job with no postponeuntil

# QueryExpression ConditionOperator names (and numbers) -> FetchXML operators.
_OPERATORS = {
    "Equal": "eq",
    "NotEqual": "ne",
    "GreaterThan": "gt",
    "LessThan": "lt",
    "GreaterEqual": "ge",
    "LessEqual": "le",
    "Like": "like",
    "NotLike": "not-like",
    "In": "in",
    "NotIn": "not-in",
    "Null": "null",
    "NotNull": "not-null",
    "BeginsWith": "begins-with",
    "EndsWith": "ends-with",
    "On": "on",
    "OnOrAfter": "on-or-after",
    "OnOrBefore": "on-or-before",
    "LastXDays": "last-x-days",
    "NextXDays": "next-x-days",
    "LastXMonths": "last-x-months",
    "OlderThanXMonths": "older-than-x-months",
    "ThisYear": "this-year",
    "EqualUserId": "eq-userid",
    "NotEqualUserId": "ne-userid",
    "EqualBusinessId": "eq-businessid",
}
_NUMBERED: tuple[str, ...] = (
    *("Equal", "NotEqual", "GreaterThan", "LessThan", "GreaterEqual", "LessEqual", "Like"),
    *("NotLike", "In", "NotIn", "Between", "NotBetween", "Null", "NotNull"),
)
_DAILY_RE = re.compile(r"^FREQ=DAILY(?:;INTERVAL=(?P<days>\d+))?;?$", re.IGNORECASE)
_PARAMETERS = {
    "QuerySet",
    "JobName",
    "SendEmailNotification",
    "ToRecipients",
    "CCRecipients",
    "RecurrencePattern",
    "StartDateTime",
    "SourceImportId",
    "RunNow",
}


class BulkDeleteJob:
    """A checked BulkDelete request: its name, FetchXML queries, start and recurrence."""

    def __init__(
        self, name: str, queries: list[tuple[str, str]], start: datetime, every_days: int
    ) -> None:
        self.name = name
        self.queries = queries
        """``(table, FetchXML)`` per QueryExpression."""
        self.start = start
        self.every_days = every_days

    def __repr__(self) -> str:
        return f"BulkDeleteJob({self.name!r}, {len(self.queries)} queries)"


def _when(text: str) -> datetime:
    """An ISO date-time as aware UTC (``ValueError`` when it is not one)."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _fail(message: str) -> FakeFault:
    return bad_request(message, CODE_INVALID_ARGUMENT)


def _operator(raw: Any) -> str:
    name = _NUMBERED[raw] if isinstance(raw, int) and 0 <= raw < len(_NUMBERED) else raw
    if not isinstance(name, str):
        raise _fail(f"The condition operator {raw!r} is not a ConditionOperator name.")
    fetch = _OPERATORS.get(name)
    if fetch is None:
        raise not_implemented(f"the condition operator '{name}' in a BulkDelete QueryExpression")
    return fetch


def _value_text(item: Any) -> str:
    value = item.get("Value") if isinstance(item, Mapping) else item
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, (dict, list)):
        raise _fail(f"A condition value must be a single value, not {value!r}.")
    return str(value)


def _filter(parent: ElementTree.Element, criteria: Any) -> None:
    if criteria is None:
        return
    if not isinstance(criteria, Mapping):
        raise _fail("Criteria must be a FilterExpression object.")
    kind = str(criteria.get("FilterOperator", "And")).lower()
    if kind not in ("and", "or", "0", "1"):
        raise _fail(f"FilterOperator {criteria.get('FilterOperator')!r} is not And or Or.")
    node = ElementTree.SubElement(parent, "filter", type="or" if kind in ("or", "1") else "and")
    for condition in criteria.get("Conditions") or []:
        if not isinstance(condition, Mapping) or not condition.get("AttributeName"):
            raise _fail("Each condition needs AttributeName, Operator and Values.")
        element = ElementTree.SubElement(
            node,
            "condition",
            attribute=str(condition["AttributeName"]),
            operator=_operator(condition.get("Operator")),
        )
        for item in condition.get("Values") or []:
            ElementTree.SubElement(element, "value").text = _value_text(item)
    for child in criteria.get("Filters") or []:
        _filter(node, child)


def _fetchxml(org: OrgState, query: Any) -> tuple[str, str]:
    if not isinstance(query, Mapping) or not query.get("EntityName"):
        raise _fail("Each QuerySet item must be a QueryExpression with an EntityName.")
    entity = str(query["EntityName"])
    if entity not in org.schema.tables:
        raise _fail(f"The QueryExpression names the entity '{entity}', which does not exist.")
    if query.get("LinkEntities"):
        raise not_implemented("LinkEntities in a BulkDelete QueryExpression")
    root = ElementTree.Element("fetch")
    node = ElementTree.SubElement(root, "entity", name=entity)
    ElementTree.SubElement(node, "attribute", name=org.schema.table(entity).primary_key)
    _filter(node, query.get("Criteria"))
    return entity, ElementTree.tostring(root, encoding="unicode")


def _matching(org: OrgState, xml: str, caller_id: str) -> tuple[str, list[str]]:
    try:
        result = evaluate(xml, OrgFetchSource(org, caller_id))
    except FetchXmlUnsupported as exc:
        raise not_implemented(f"{exc.feature} in a BulkDelete QueryExpression") from None
    except FetchXmlError as exc:
        raise FakeFault(exc.status, exc.code, exc.message) from None
    key = org.schema.table(result.entity).primary_key
    return result.entity, [str(row[key]) for row in result.rows]


def parse_job(org: OrgState, payload: Mapping[str, Any], caller_id: str) -> BulkDeleteJob:
    """Check a BulkDelete body (every query is run once, deleting nothing) or raise 400/501."""
    unknown = sorted(set(payload) - _PARAMETERS)
    if unknown:
        raise _fail(f"BulkDelete has no parameter {', '.join(unknown)}.")
    name = payload.get("JobName")
    if not isinstance(name, str) or not name.strip():
        raise _fail("BulkDelete needs a JobName.")
    query_set = payload.get("QuerySet")
    if not isinstance(query_set, list) or not query_set:
        raise _fail("BulkDelete needs a QuerySet with at least one QueryExpression.")
    if payload.get("SendEmailNotification"):
        raise not_implemented("email notification of bulk delete jobs (SendEmailNotification)")
    if payload.get("SourceImportId") is not None:
        raise not_implemented("bulk delete of an import (SourceImportId)")
    for name_of_list in ("ToRecipients", "CCRecipients"):
        if not isinstance(payload.get(name_of_list, []), list):
            raise _fail(f"{name_of_list} must be an array of activity parties.")
    pattern = str(payload.get("RecurrencePattern") or "").strip()
    every_days = 0
    if pattern:
        daily = _DAILY_RE.match(pattern)
        if daily is None:
            raise _fail(
                f"RecurrencePattern {pattern!r} is not supported: a bulk delete job runs once "
                "(empty) or daily (FREQ=DAILY;INTERVAL=<days>;)."
            )
        every_days = max(1, int(daily.group("days") or 1))
    now = org.clock()
    start_text = payload.get("StartDateTime")
    start = now
    if start_text is not None:
        try:
            start = _when(str(start_text))
        except ValueError:
            raise _fail(f"StartDateTime {start_text!r} is not a date and time.") from None
    queries = [_fetchxml(org, query) for query in query_set]
    for _, xml in queries:
        _matching(org, xml, caller_id)
    return BulkDeleteJob(name.strip(), queries, max(start, now), every_days)


def submit(org: OrgState, job: BulkDeleteJob, caller_id: str) -> str:
    """Queue ``job`` as an ``asyncoperation`` row (running it now when it is due) and return
    its id, the ``JobId``."""
    due = job.start + timedelta(seconds=org.options.bulk_delete_delay_seconds)
    row = org.store.insert(
        "asyncoperation",
        {
            "name": job.name,
            "operationtype": BULK_DELETE_OPERATION_TYPE,
            "statecode": 0,
            "statuscode": WAITING_FOR_RESOURCES,
            "recurrencepattern": f"FREQ=DAILY;INTERVAL={job.every_days};"
            if job.every_days
            else None,
            "recurrencestarttime": format_datetime(job.start),
            "postponeuntil": format_datetime(due),
            "primaryentitytype": job.queries[0][0],
            "data": json.dumps(
                {"queries": [xml for _, xml in job.queries], "every_days": job.every_days}
            ),
            "ownerid": caller_id,
        },
        actor=caller_id,
    )
    job_id = str(row["asyncoperationid"])
    if org.options.bulk_delete_delay_seconds <= 0:
        _run(org, row)
    return job_id


def run_due_jobs(org: OrgState) -> datetime | None:
    """Run every waiting bulk delete job whose time has come; answer when the next job still
    waiting is due (``None`` when none waits)."""
    with org.store.lock:  # two requests at once must not run the same job twice
        now = org.clock()
        for row in _waiting(org):
            if _due(row) <= now:
                _run(org, row)
        return min((_due(row) for row in _waiting(org)), default=None)


class DueJobs:
    """The check before each request: runs the bulk delete jobs that are due, but scans
    ``asyncoperation`` only when that table changed or its next waiting job fell due."""

    def __init__(self) -> None:
        # (store, its asyncoperation write key, the next waiting job's due time) at the last scan
        self._seen: tuple[Store, tuple[int, int], datetime | None] | None = None

    def __repr__(self) -> str:
        seen = self._seen
        return f"DueJobs(next_due={seen[2] if seen else 'unknown'})"

    def run(self, org: OrgState) -> None:
        """Run the due jobs of ``org`` (nothing to do, nothing paid: no lock and no scan)."""
        store = org.store
        seen = self._seen
        if seen is not None:
            scanned, key, due = seen
            if (
                scanned is store
                and key == store.writes(_TABLE)
                and (due is None or org.clock() < due)
            ):
                return
        with store.lock:
            due = run_due_jobs(org)
            self._seen = (store, store.writes(_TABLE), due)


def _waiting(org: OrgState) -> list[dict[str, Any]]:
    return org.store.find(
        _TABLE,
        lambda r: (
            r.get("operationtype") == BULK_DELETE_OPERATION_TYPE and r.get("statecode") in (0, 1)
        ),
    )


def _due(row: Mapping[str, Any]) -> datetime:
    postpone = row.get("postponeuntil")
    return _DUE_AT_ONCE if postpone is None else _when(str(postpone))


def _run(org: OrgState, row: Mapping[str, Any]) -> None:
    job_id = normalize_id(str(row["asyncoperationid"]))
    data = json.loads(str(row.get("data") or "{}"))
    owner = str(row.get("ownerid") or org.default_caller_id)
    started = org.clock()
    changes: dict[str, Any] = {"startedon": format_datetime(started)}
    try:
        deleted = 0
        with org.store.lock:
            for xml in data.get("queries", []):
                while True:
                    entity, ids = _matching(org, xml, owner)
                    for record_id in ids:
                        org.store.delete(entity, record_id)
                    deleted += len(ids)
                    if not ids:
                        break
        changes.update(statecode=3, statuscode=SUCCEEDED, message=None)
        changes["friendlymessage"] = f"{deleted} records deleted."
    except FakeFault as fault:
        changes.update(statecode=3, statuscode=FAILED, message=fault.message)
    finished = org.clock()
    changes["completedon"] = format_datetime(finished)
    every_days = int(data.get("every_days") or 0)
    if every_days and changes["statuscode"] == SUCCEEDED:
        next_run = started.astimezone(timezone.utc) + timedelta(days=every_days)
        changes.update(statecode=1, statuscode=WAITING, postponeuntil=format_datetime(next_run))
    org.store.update("asyncoperation", job_id, changes)
