"""The ``email`` activity table and the ``activityparty`` rows that name its sender and
recipients.

An email keeps its parties as ``activityparty`` rows whose ``activityid`` points back to it
(collection navigation ``email_activity_parties``); a party's ``partyid`` is polymorphic over
contact, account, lead and systemuser (navigations ``partyid_contact`` …) and its
``participationtypemask`` says the role (1 Sender, 2 To, 3 Cc, 4 Bcc …)
(https://learn.microsoft.com/power-apps/developer/data-platform/activityparty-entity).
ActivityParty has ownership type None and no state model
(https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/activityparty).

The email's state model is the platform's: Open (Draft, Failed), Completed (Completed, Sent,
Received, Pending Send, Sending), Canceled (Canceled), with the defaults Draft, Sent and
Canceled.
"""

from __future__ import annotations

from types import MappingProxyType

from ..core.fault import bad_request
from ..core.options import FakeOptions
from ..core.values import Row
from .schema import Column, Relationship, StateOption, StatusOption, Table

__all__ = [
    "ACTIVITY_PARTY",
    "EMAIL_RELATIONSHIPS",
    "PARTY_TARGETS",
    "PARTY_TYPES",
    "check_party_role",
    "email_table",
]

_REGARDING = ("account", "contact", "lead", "opportunity")

PARTY_TARGETS = ("contact", "account", "lead", "systemuser")
"""The tables a party of the fake's emails may be (``partyid_<table>``)."""

PARTY_TYPES = MappingProxyType(
    {
        1: "Sender",
        2: "To Recipient",
        3: "CC Recipient",
        4: "BCC Recipient",
        5: "Required attendee",
        6: "Optional attendee",
        7: "Organizer",
        8: "Regarding",
        9: "Owner",
        10: "Resource",
        11: "Customer",
        12: "Chat Participant",
        13: "Related",
    }
)
"""The documented ``participationtypemask`` values."""

_EMAIL_STATES = (
    StateOption(0, "Open", 1, "Open"),
    StateOption(1, "Completed", 3, "Completed"),
    StateOption(2, "Canceled", 5, "Canceled"),
)
_EMAIL_STATUSES = (
    StatusOption(1, "Draft", 0),
    StatusOption(8, "Failed", 0),
    StatusOption(2, "Completed", 1),
    StatusOption(3, "Sent", 1),
    StatusOption(4, "Received", 1),
    StatusOption(6, "Pending Send", 1),
    StatusOption(7, "Sending", 1),
    StatusOption(5, "Canceled", 2),
)


def email_table(system: tuple[Column, ...]) -> Table:
    """The email table, with the business-table ``system`` columns of the catalogue."""
    return Table(
        "email",
        "emails",
        "activityid",
        "subject",
        (
            Column("activityid", "guid", "Email Message"),
            Column("subject", "string", "Subject", max_length=800),
            Column("description", "memo", "Description", max_length=1048576),
            Column(
                "directioncode",
                "bool",
                "Direction",
                options=MappingProxyType({0: "Incoming", 1: "Outgoing"}),
            ),
            Column(
                "regardingobjectid",
                "lookup",
                "Regarding",
                targets=_REGARDING,
                navigation=MappingProxyType(
                    {t: f"regardingobjectid_{t}_email" for t in _REGARDING}
                ),
            ),
            Column(
                "statecode",
                "state",
                "Activity Status",
                options={s.value: s.label for s in _EMAIL_STATES},
            ),
            Column(
                "statuscode",
                "status",
                "Status Reason",
                options={s.value: s.label for s in _EMAIL_STATUSES},
            ),
            *system,
        ),
        _EMAIL_STATES,
        _EMAIL_STATUSES,
        state_enum="EmailState",
    )


ACTIVITY_PARTY = Table(
    "activityparty",
    "activityparties",
    "activitypartyid",
    "addressused",
    (
        Column("activitypartyid", "guid", "Activity Party"),
        Column(
            "activityid",
            "lookup",
            "Activity",
            targets=("email",),
            navigation=MappingProxyType({"email": "activityid_email"}),
        ),
        Column(
            "partyid",
            "lookup",
            "Party",
            targets=PARTY_TARGETS,
            navigation=MappingProxyType({t: f"partyid_{t}" for t in PARTY_TARGETS}),
        ),
        Column("participationtypemask", "picklist", "Participation Type", options=PARTY_TYPES),
        Column("addressused", "string", "Address", max_length=320),
        Column(
            "ispartydeleted", "bool", "Is Party Deleted", readonly=True, options={0: "No", 1: "Yes"}
        ),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    ),
    ownership="none",
)
"""Activity parties (entity set ``activityparties``) of the fake's emails."""


EMAIL_RELATIONSHIPS: tuple[Relationship, ...] = (
    Relationship("email_activity_parties", "email", "activityparty", "activityid"),
    *(
        Relationship(f"{t.capitalize()}_Emails", t, "email", "regardingobjectid")
        for t in _REGARDING
    ),
)
"""``email_activity_parties`` and ``Account_Emails`` … (emails regarding a record)."""


def check_party_role(meta: Table, row: Row, options: FakeOptions) -> None:
    """Refuse a new activity party without its role (``require_participation_type``)."""
    if (
        meta.logical_name == ACTIVITY_PARTY.logical_name
        and options.require_participation_type
        and row.get("participationtypemask") is None
    ):
        # "0x80048d19" is the payload-error code; the docs give none for this case.
        raise bad_request(
            "An activity party needs 'participationtypemask', its role (1 Sender, "
            "2 To Recipient, 3 CC Recipient, 4 BCC Recipient, ...).",
            "0x80048d19",
        )
