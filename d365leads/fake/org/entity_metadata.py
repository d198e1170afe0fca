"""Table-level definitions derived from the fake's schema: what ``EntityDefinitions`` serves.

Dataverse describes each table as an ``EntityMetadata`` entity, each alternate key as
``EntityKeyMetadata`` and each lookup as a ``OneToManyRelationshipMetadata`` seen from both
ends (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api).
This module derives those from a :class:`~d365leads.fake.org.schema.Table` (tenant columns and
keys included, since callers pass the org's ``TenantSchema`` tables); the handlers only select,
filter and serialise.

Metadata ids are deterministic: the ids the docs print for system metadata (which are the same
in every org) where known, else a UUID5 of the item's path, so two fakes agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from .schema import Column, Table

__all__ = [
    "LANGUAGE_CODE",
    "entity_definition",
    "key_definitions",
    "localized_label",
    "many_to_one",
    "metadata_id",
    "one_to_many",
    "option_set_description",
    "schema_name",
]

LANGUAGE_CODE = 1033
_NS = uuid.UUID("3b0f8f7e-2d54-4c8e-9e51-7a6c1d2f4b90")

# Ids Microsoft's "Query table definitions" page prints for system metadata.
_DOCUMENTED_IDS: Mapping[tuple[str, ...], str] = MappingProxyType(
    {
        ("account",): "70816501-edb9-4740-a16c-6a5efbc05d84",
        ("account", "preferredappointmentdaycode"): "5967e7cc-afbb-4c10-bf7e-e7ef430c52be",
        ("account", "preferredappointmentdaycode", "optionset"): (
            "53f9933c-18a0-40a6-b4a5-b9610a101735"
        ),
    }
)
_OPTION_SET_DESCRIPTIONS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("account", "preferredappointmentdaycode"): (
            "Day of the week that the account prefers for scheduling service activities."
        ),
    }
)

# Per table: SchemaName, DisplayName, DisplayCollectionName, ObjectTypeCode, IsActivity
# (the platform's values for these system tables).
_TABLES: Mapping[str, tuple[str, str, str, int, bool]] = MappingProxyType(
    {
        "account": ("Account", "Account", "Accounts", 1, False),
        "contact": ("Contact", "Contact", "Contacts", 2, False),
        "opportunity": ("Opportunity", "Opportunity", "Opportunities", 3, False),
        "lead": ("Lead", "Lead", "Leads", 4, False),
        "systemuser": ("SystemUser", "User", "Users", 8, False),
        "campaign": ("Campaign", "Campaign", "Campaigns", 4400, False),
        "opportunityclose": (
            "OpportunityClose",
            "Opportunity Close",
            "Opportunity Close Activities",
            4208,
            True,
        ),
        "transactioncurrency": ("TransactionCurrency", "Currency", "Currencies", 9105, False),
    }
)
_OWNERSHIP = {"user": "UserOwned", "organization": "OrganizationOwned", "none": "None"}


def metadata_id(*path: str) -> str:
    """The ``MetadataId`` of the metadata item at ``path`` (table, then column, then …)."""
    return _DOCUMENTED_IDS.get(path) or str(uuid.uuid5(_NS, "/".join(path)))


def localized_label(text: str, *path: str, managed: bool = True) -> dict[str, Any]:
    """A ``Label`` complex value in English (1033), as Dataverse serialises it."""
    if not text:
        return {"LocalizedLabels": [], "UserLocalizedLabel": None}
    item = {
        "Label": text,
        "LanguageCode": LANGUAGE_CODE,
        "IsManaged": managed,
        "MetadataId": metadata_id(*path, "label"),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [item], "UserLocalizedLabel": dict(item)}


def option_set_description(table: str, column: str) -> str:
    """The description of a choice column's option set ("" when the fake has none)."""
    return _OPTION_SET_DESCRIPTIONS.get((table, column), "")


def schema_name(meta: Table) -> str:
    """The table's ``SchemaName`` (``Lead``, ``TransactionCurrency``)."""
    known = _TABLES.get(meta.logical_name)
    return known[0] if known else meta.logical_name[:1].upper() + meta.logical_name[1:]


def _flag(value: bool, name: str) -> dict[str, Any]:
    return {"Value": value, "CanBeChanged": False, "ManagedPropertyLogicalName": name}


def entity_definition(meta: Table, *, change_tracking: bool) -> dict[str, Any]:
    """The ``EntityMetadata`` properties of ``meta`` the fake fills (no navigation collections)."""
    schema, display, collection, type_code, activity = _TABLES.get(
        meta.logical_name,
        (schema_name(meta), meta.logical_name, meta.entity_set, 10000, False),
    )
    name = meta.logical_name
    return {
        "MetadataId": metadata_id(name),
        "HasChanged": None,
        "LogicalName": name,
        "SchemaName": schema,
        "EntitySetName": meta.entity_set,
        "LogicalCollectionName": meta.entity_set,
        "CollectionSchemaName": f"{schema[:-1]}ies" if schema.endswith("y") else f"{schema}s",
        "PrimaryIdAttribute": meta.primary_key,
        "PrimaryNameAttribute": meta.primary_name,
        "PrimaryImageAttribute": None,
        "ObjectTypeCode": type_code,
        "OwnershipType": _OWNERSHIP[meta.ownership],
        "IsActivity": activity,
        "IsActivityParty": False,
        "IsPrivate": False,
        "IsIntersect": False,
        "IsCustomEntity": False,
        "IsManaged": True,
        "IsLogicalEntity": False,
        "IsKnowledgeManagementEnabled": False,
        "IsValidForAdvancedFind": True,
        "IsAvailableOffline": True,
        "ChangeTrackingEnabled": change_tracking,
        "IsStateModelAware": meta.has_state,
        "HasActivities": not activity,
        "HasNotes": not activity,
        "IntroducedVersion": "5.0.0.0",
        "TableType": "Standard",
        "Description": localized_label("", name, "description"),
        "DisplayName": localized_label(display, name, "displayname"),
        "DisplayCollectionName": localized_label(collection, name, "displaycollectionname"),
        "IsCustomizable": _flag(True, "iscustomizable"),
        "IsAuditEnabled": _flag(False, "canmodifyauditsettings"),
        "IsRenameable": _flag(True, "isrenameable"),
        "CanCreateAttributes": _flag(True, "cancreateattributes"),
    }


def key_definitions(meta: Table) -> list[dict[str, Any]]:
    """``EntityKeyMetadata`` of each alternate key of ``meta`` (tenant keys included)."""
    keys = []
    for columns in meta.alternate_keys:
        name = f"{meta.logical_name}_{'_'.join(columns)}_key"
        keys.append(
            {
                "MetadataId": metadata_id(meta.logical_name, "key", *columns),
                "HasChanged": None,
                "LogicalName": name,
                "SchemaName": name,
                "EntityLogicalName": meta.logical_name,
                "KeyAttributes": list(columns),
                "EntityKeyIndexStatus": "Active",
                "IsManaged": False,
                "IsCustomizable": _flag(True, "iscustomizable"),
                "DisplayName": localized_label(", ".join(columns), meta.logical_name, name),
            }
        )
    return keys


def _relationship(
    referencing: Table,
    column: Column,
    target: str,
    navigation: str,
    collection: str | None,
) -> dict[str, Any]:
    name = collection or f"{referencing.logical_name}_{column.name}_{target}"
    return {
        "MetadataId": metadata_id("relationship", name),
        "HasChanged": None,
        "SchemaName": name,
        "RelationshipType": "OneToManyRelationship",
        "IsCustomRelationship": False,
        "IsManaged": True,
        "IsValidForAdvancedFind": True,
        "SecurityTypes": "None",
        "ReferencedEntity": target,
        "ReferencedAttribute": f"{target}id",
        "ReferencingEntity": referencing.logical_name,
        "ReferencingAttribute": column.name,
        "ReferencedEntityNavigationPropertyName": collection or name,
        "ReferencingEntityNavigationPropertyName": navigation,
        "IsHierarchical": target == referencing.logical_name,
        "EntityKey": None,
    }


def _relationships(
    tables: Iterable[Table], collection: Mapping[tuple[str, str, str], str]
) -> list[tuple[Table, dict[str, Any]]]:
    found = []
    for meta in tables:
        for column in meta.columns:
            for target, navigation in column.navigation.items():
                name = collection.get((target, meta.logical_name, column.name))
                found.append((meta, _relationship(meta, column, target, navigation, name)))
    return found


def many_to_one(
    meta: Table, tables: Iterable[Table], collection: Mapping[tuple[str, str, str], str]
) -> list[dict[str, Any]]:
    """The lookups of ``meta`` as relationships (``collection`` names the collection-valued
    navigation of ``(referenced, referencing, column)``, where the fake has one)."""
    return [
        body
        for table, body in _relationships(tables, collection)
        if table.logical_name == meta.logical_name
    ]


def one_to_many(
    meta: Table, tables: Iterable[Table], collection: Mapping[tuple[str, str, str], str]
) -> list[dict[str, Any]]:
    """The lookups of every table that point at ``meta``, as relationships."""
    return [
        body
        for _table, body in _relationships(tables, collection)
        if body["ReferencedEntity"] == meta.logical_name
    ]
