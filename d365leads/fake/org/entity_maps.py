"""Table and column mappings: the ``entitymap`` and ``attributemap`` tables and their rows.

A mapping says which columns a new row of the target table takes from a row of the source
table (https://learn.microsoft.com/power-apps/developer/data-platform/customize-entity-attribute-mappings).
``InitializeFrom`` answers from them, and QualifyLead copies lead columns to the account,
contact and opportunity it creates through the same rows, so a tenant mapping seeded into
``attributemap`` changes both.  Clients list the mappings with
``GET entitymaps?$select=sourceentityname,targetentityname`` (create-entity page).

The map from the source's primary key to a lookup of the target (``accountid`` ->
``parentaccountid``) is the relationship mapping: ``InitializeFrom`` answers it as
``<nav>@odata.bind`` ("the GUID of the parent record", create-entity page).

The rows the fake seeds (ids derived from the org URL) are the product's mappings between
lead, account, contact and opportunity as far as the fake has the columns: the account ->
account columns of the documented example (``address1_*``, ``transactioncurrencyid``,
``parentaccountid``); the lead -> account/contact columns QualifyLead is documented to copy
(``lead-lifecycle.md``; lead ``telephone1`` goes to ``address1_telephone1`` / ``managerphone``
under ``qualify_documented_phone_mappings``). The exact column lists of a real org differ per
version and tenant (UNCONFIRMED beyond the documented example).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..core.values import Row
from .identity import org_guid
from .map_tables import ATTRIBUTE_MAP, ENTITY_MAP
from .store import Store

__all__ = ["ATTRIBUTE_MAP", "DEFAULT_MAPS", "ENTITY_MAP", "attribute_pairs", "seed_entity_maps"]

_ADDRESS = tuple(
    f"address1_{part}"
    for part in ("line1", "line2", "line3", "city", "stateorprovince", "postalcode", "country")
)
_SAME = {c: c for c in _ADDRESS}

DEFAULT_MAPS: dict[tuple[str, str], dict[str, str]] = {
    ("account", "account"): {
        "accountid": "parentaccountid",
        "transactioncurrencyid": "transactioncurrencyid",
        **_SAME,
    },
    ("account", "contact"): {
        "accountid": "parentcustomerid",
        "transactioncurrencyid": "transactioncurrencyid",
        "telephone1": "telephone1",
        **_SAME,
    },
    ("account", "opportunity"): {
        "accountid": "customerid",
        "transactioncurrencyid": "transactioncurrencyid",
    },
    ("contact", "opportunity"): {
        "contactid": "customerid",
        "transactioncurrencyid": "transactioncurrencyid",
    },
    ("lead", "account"): {
        "leadid": "originatingleadid",
        "companyname": "name",
        "websiteurl": "websiteurl",
        "telephone1": "address1_telephone1",
        **_SAME,
    },
    ("lead", "contact"): {
        "leadid": "originatingleadid",
        **{c: c for c in ("firstname", "lastname", "jobtitle", "mobilephone", "emailaddress1")},
        "telephone1": "managerphone",
        **_SAME,
    },
    ("lead", "opportunity"): {
        "leadid": "originatingleadid",
        "subject": "name",
        "parentaccountid": "parentaccountid",
        "parentcontactid": "parentcontactid",
    },
}
"""The mappings seeded into every org: ``(source, target) -> {source column: target column}``."""

_UNDOCUMENTED_PHONES = {("lead", "account"): "telephone1", ("lead", "contact"): "telephone1"}


def seed_entity_maps(store: Store, org_url: str, *, documented_phone_mappings: bool) -> None:
    """Insert the :data:`DEFAULT_MAPS` rows (``documented_phone_mappings`` off: lead
    ``telephone1`` maps to ``telephone1`` on account and contact)."""
    for (source, target), pairs in DEFAULT_MAPS.items():
        map_id = org_guid(org_url, f"entitymap:{source}:{target}")
        store.insert(
            "entitymap",
            {"entitymapid": map_id, "sourceentityname": source, "targetentityname": target},
        )
        for source_column, target_column in pairs.items():
            if not documented_phone_mappings and source_column == "telephone1":
                target_column = _UNDOCUMENTED_PHONES.get((source, target), target_column)
            store.insert(
                "attributemap",
                {
                    "attributemapid": org_guid(
                        org_url, f"attributemap:{source}:{target}:{source_column}"
                    ),
                    "entitymapid": map_id,
                    "sourceattributename": source_column,
                    "targetattributename": target_column,
                    "issystem": True,
                },
            )


def attribute_pairs(store: Store, source: str, target: str) -> list[tuple[str, str]] | None:
    """The ``(source column, target column)`` pairs of the mapping ``source`` -> ``target`` in
    the order they were added, or ``None`` when the org has no such mapping."""
    maps = store.find(
        "entitymap",
        lambda r: r.get("sourceentityname") == source and r.get("targetentityname") == target,
    )
    if not maps:
        return None
    ids = {str(m["entitymapid"]) for m in maps}
    rows: Iterable[Row] = store.find("attributemap", lambda r: str(r.get("entitymapid")) in ids)
    ordered = sorted(rows, key=lambda r: int(r.get("versionnumber") or 0))
    return [
        (str(r["sourceattributename"]), str(r["targetattributename"]))
        for r in ordered
        if r.get("sourceattributename") and r.get("targetattributename")
    ]
