"""The ``sdkmessage`` and ``sdkmessagefilter`` table definitions (rows: :mod:`.sdk_messages`)."""

from __future__ import annotations

from types import MappingProxyType

from .schema import Column, Table

__all__ = ["SDK_MESSAGE", "SDK_MESSAGE_FILTER"]

SDK_MESSAGE = Table(
    "sdkmessage",
    "sdkmessages",
    "sdkmessageid",
    "name",
    (
        Column("sdkmessageid", "guid", "SDK Message"),
        Column("name", "string", "Name", max_length=256, readonly=True),
        Column("categoryname", "string", "Category Name", max_length=25, readonly=True),
        Column("isprivate", "bool", "Is Private", readonly=True),
        Column("createdon", "datetime", "Created On", readonly=True),
        Column("modifiedon", "datetime", "Modified On", readonly=True),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    ),
    ownership="organization",
)

SDK_MESSAGE_FILTER = Table(
    "sdkmessagefilter",
    "sdkmessagefilters",
    "sdkmessagefilterid",
    "name",
    (
        Column("sdkmessagefilterid", "guid", "SDK Message Filter"),
        Column("name", "string", "Name", max_length=256, readonly=True),
        Column(
            "sdkmessageid",
            "lookup",
            "SDK Message",
            readonly=True,
            targets=("sdkmessage",),
            navigation=MappingProxyType({"sdkmessage": "sdkmessageid"}),
        ),
        Column("primaryobjecttypecode", "string", "Primary Object Type Code", max_length=64),
        Column("secondaryobjecttypecode", "string", "Secondary Object Type Code", max_length=64),
        Column("iscustomprocessingstepallowed", "bool", "Custom Processing Step Allowed"),
        Column("isvisible", "bool", "Is Visible"),
        Column("createdon", "datetime", "Created On", readonly=True),
        Column("modifiedon", "datetime", "Modified On", readonly=True),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    ),
    ownership="organization",
)
