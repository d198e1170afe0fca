"""The ``asyncoperation`` (system job) table definition: the columns a client polls.

States and status reasons as the asyncoperation table reference lists them: Ready (0:
Waiting For Resources 0), Suspended (1: Waiting 10), Locked (2: In Progress 20, Pausing 21,
Canceling 22), Completed (3: Succeeded 30, Failed 31, Canceled 32). ``operationtype`` 13 is
Bulk Delete (https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/asyncoperation).
"""

from __future__ import annotations

from types import MappingProxyType

from .schema import Column, StateOption, StatusOption, Table

__all__ = [
    "ASYNC_OPERATION",
    "BULK_DELETE_OPERATION_TYPE",
    "CANCELED",
    "FAILED",
    "SUCCEEDED",
    "WAITING",
    "WAITING_FOR_RESOURCES",
]

BULK_DELETE_OPERATION_TYPE = 13
WAITING_FOR_RESOURCES, WAITING, SUCCEEDED, FAILED, CANCELED = 0, 10, 30, 31, 32

_STATES = (
    StateOption(0, "Ready", 0, "Ready"),
    StateOption(1, "Suspended", 10, "Suspended"),
    StateOption(2, "Locked", 20, "Locked"),
    StateOption(3, "Completed", 30, "Completed"),
)
_STATUSES = (
    StatusOption(0, "Waiting For Resources", 0),
    StatusOption(10, "Waiting", 1),
    StatusOption(20, "In Progress", 2),
    StatusOption(21, "Pausing", 2),
    StatusOption(22, "Canceling", 2),
    StatusOption(30, "Succeeded", 3),
    StatusOption(31, "Failed", 3),
    StatusOption(32, "Canceled", 3),
)


def _user(name: str, label: str) -> Column:
    return Column(
        name,
        "lookup",
        label,
        readonly=True,
        targets=("systemuser",),
        navigation=MappingProxyType({"systemuser": name}),
    )


ASYNC_OPERATION = Table(
    "asyncoperation",
    "asyncoperations",
    "asyncoperationid",
    "name",
    (
        Column("asyncoperationid", "guid", "System Job"),
        Column("name", "string", "System Job Name", max_length=256, readonly=True),
        Column(
            "operationtype",
            "picklist",
            "System Job Type",
            readonly=True,
            options={BULK_DELETE_OPERATION_TYPE: "Bulk Delete"},
        ),
        Column(
            "statecode",
            "state",
            "Status",
            readonly=True,
            options={s.value: s.label for s in _STATES},
        ),
        Column(
            "statuscode",
            "status",
            "Status Reason",
            readonly=True,
            options={s.value: s.label for s in _STATUSES},
        ),
        Column("message", "memo", "Message", readonly=True),
        Column("friendlymessage", "memo", "Friendly message", readonly=True),
        Column("errorcode", "int", "Error Code", readonly=True),
        Column("recurrencepattern", "string", "Recurrence Pattern", max_length=256, readonly=True),
        Column("recurrencestarttime", "datetime", "Recurrence Start", readonly=True),
        Column("postponeuntil", "datetime", "Postpone Until", readonly=True),
        Column("startedon", "datetime", "Started On", readonly=True),
        Column("completedon", "datetime", "Completed On", readonly=True),
        Column("executiontimespan", "decimal", "Execution Time Span", readonly=True),
        Column("primaryentitytype", "string", "Entity Type", max_length=64, readonly=True),
        Column("data", "memo", "Data", readonly=True),
        Column("createdon", "datetime", "Created On", readonly=True),
        Column("modifiedon", "datetime", "Modified On", readonly=True),
        _user("createdby", "Created By"),
        _user("modifiedby", "Modified By"),
        Column(
            "ownerid",
            "owner",
            "Owner",
            readonly=True,
            targets=("systemuser",),
            navigation=MappingProxyType({"systemuser": "ownerid"}),
        ),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    ),
    states=_STATES,
    statuses=_STATUSES,
    ownership="none",
    state_enum="AsyncOperationState",
)
"""System jobs: the fake creates one per ``BulkDelete`` (:mod:`.bulk_delete`)."""
