"""The ``task`` activity table: documented Web API examples attach tasks to accounts, contacts,
leads and opportunities through the polymorphic ``regardingobjectid`` lookup.

Navigation names follow Dataverse: ``regardingobjectid_account_task`` (single-valued, on the
task) and ``Account_Tasks`` (collection-valued, on the account); the state model is the
platform's (Open: Not Started, In Progress, Waiting on someone else, Deferred; Completed;
Canceled).
"""

from __future__ import annotations

from types import MappingProxyType

from .schema import Column, Relationship, StateOption, StatusOption, Table

__all__ = ["TASK_RELATIONSHIPS", "task_table"]

_REGARDING = ("account", "contact", "lead", "opportunity")

_TASK_STATES = (
    StateOption(0, "Open", 2, "Open"),
    StateOption(1, "Completed", 5, "Completed"),
    StateOption(2, "Canceled", 6, "Canceled"),
)
_TASK_STATUSES = (
    StatusOption(2, "Not Started", 0),
    StatusOption(3, "In Progress", 0),
    StatusOption(4, "Waiting on someone else", 0),
    StatusOption(7, "Deferred", 0),
    StatusOption(5, "Completed", 1),
    StatusOption(6, "Canceled", 2),
)


def task_table(system: tuple[Column, ...]) -> Table:
    """The task table, with the business-table ``system`` columns of the catalogue."""
    return Table(
        "task",
        "tasks",
        "activityid",
        "subject",
        (
            Column("activityid", "guid", "Task"),
            Column("subject", "string", "Subject", max_length=200),
            Column("description", "memo", "Description", max_length=2000),
            Column("scheduledstart", "datetime", "Start Date"),
            Column("scheduledend", "datetime", "Due Date"),
            Column("actualdurationminutes", "int", "Actual Duration"),
            Column("percentcomplete", "int", "Percent Complete"),
            Column(
                "prioritycode",
                "picklist",
                "Priority",
                options=MappingProxyType({0: "Low", 1: "Normal", 2: "High"}),
            ),
            Column(
                "regardingobjectid",
                "lookup",
                "Regarding",
                targets=_REGARDING,
                navigation=MappingProxyType({t: f"regardingobjectid_{t}_task" for t in _REGARDING}),
            ),
            Column(
                "statecode",
                "state",
                "Activity Status",
                options={s.value: s.label for s in _TASK_STATES},
            ),
            Column(
                "statuscode",
                "status",
                "Status Reason",
                options={s.value: s.label for s in _TASK_STATUSES},
            ),
            *system,
        ),
        _TASK_STATES,
        _TASK_STATUSES,
        state_enum="TaskState",
    )


TASK_RELATIONSHIPS: tuple[Relationship, ...] = tuple(
    Relationship(f"{t.capitalize()}_Tasks", t, "task", "regardingobjectid") for t in _REGARDING
)
"""``Account_Tasks``, ``Contact_Tasks``, ``Lead_Tasks``, ``Opportunity_Tasks``."""
