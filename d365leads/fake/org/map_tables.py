"""The ``entitymap`` and ``attributemap`` table definitions (rows: :mod:`.entity_maps`)."""

from __future__ import annotations

from types import MappingProxyType

from .schema import Column, Table

__all__ = ["ATTRIBUTE_MAP", "ENTITY_MAP"]

ENTITY_MAP = Table(
    "entitymap",
    "entitymaps",
    "entitymapid",
    "sourceentityname",
    (
        Column("entitymapid", "guid", "Entity Map"),
        Column("sourceentityname", "string", "Source Entity", max_length=128, readonly=True),
        Column("targetentityname", "string", "Target Entity", max_length=128, readonly=True),
        Column("createdon", "datetime", "Created On", readonly=True),
        Column("modifiedon", "datetime", "Modified On", readonly=True),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    ),
    ownership="organization",
)

ATTRIBUTE_MAP = Table(
    "attributemap",
    "attributemaps",
    "attributemapid",
    "sourceattributename",
    (
        Column("attributemapid", "guid", "Attribute Map"),
        Column(
            "entitymapid",
            "lookup",
            "Entity Map",
            readonly=True,
            targets=("entitymap",),
            navigation=MappingProxyType({"entitymap": "entitymapid"}),
        ),
        Column("sourceattributename", "string", "Source Attribute", max_length=128, readonly=True),
        Column("targetattributename", "string", "Target Attribute", max_length=128, readonly=True),
        Column("issystem", "bool", "Is System", readonly=True),
        Column("createdon", "datetime", "Created On", readonly=True),
        Column("modifiedon", "datetime", "Modified On", readonly=True),
        Column("versionnumber", "bigint", "Version Number", readonly=True),
    ),
    ownership="organization",
)
