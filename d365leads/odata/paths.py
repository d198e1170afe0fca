"""Record paths in Web API URLs: ``leads(<guid>)``, alternate keys, ``@odata.bind`` values.

These are pure string builders (no request is sent); :mod:`d365leads.records` re-exports them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from d365leads.errors import DataverseError, InvalidInputError
from d365leads.odata.literals import literal, normalize_guid

__all__ = [
    "RecordKey",
    "check_entity_set",
    "entity_path",
    "id_from_entity_url",
    "is_key_form_entity_url",
    "odata_bind",
]

RecordKey = str | uuid.UUID | Mapping[str, Any]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_FORM = re.compile(r"/[A-Za-z_][A-Za-z0-9_]*\(([^()]*)\)\s*$")
_ENTITY_ID = re.compile(
    r"\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)\s*$"
)


def check_entity_set(entity_set: str) -> str:
    """Return ``entity_set`` if it is a valid entity set name, else raise InvalidInputError."""
    if not isinstance(entity_set, str) or not _IDENT.match(entity_set):
        raise InvalidInputError(
            f"entity set {entity_set!r} is not a valid name (for example 'leads', 'accounts')"
        )
    return entity_set


def entity_path(entity_set: str, key: RecordKey) -> str:
    """The path of one record: ``leads(<guid>)`` or ``accounts(accountnumber='ABC')``."""
    check_entity_set(entity_set)
    if isinstance(key, Mapping):
        if not key:
            raise InvalidInputError("an alternate key needs at least one column")
        parts = []
        for name, value in key.items():
            if not isinstance(name, str) or not _IDENT.match(name):
                raise InvalidInputError(f"alternate key column {name!r} is not a valid name")
            if value is None:
                raise InvalidInputError(f"alternate key column {name!r} has no value")
            parts.append(f"{name}={literal(value)}")
        return f"{entity_set}({','.join(parts)})"
    return f"{entity_set}({normalize_guid(key)})"


def odata_bind(entity_set: str, record_id: str | uuid.UUID) -> str:
    """The ``@odata.bind`` value for a lookup: ``/accounts(<guid>)``.

    Use it as ``{"parentaccountid@odata.bind": odata_bind("accounts", account_id)}``.
    """
    return "/" + entity_path(entity_set, record_id)


def is_key_form_entity_url(url: str) -> bool:
    """Whether an ``OData-EntityId`` names the record by alternate key (``accounts(k1=2,k2=2)``).

    Dataverse answers an upsert through an alternate key in that form, without the GUID:
    https://learn.microsoft.com/power-apps/developer/data-platform/use-upsert-insert-update-record
    """
    if _ENTITY_ID.search(url):
        return False
    match = _KEY_FORM.search(url)
    return match is not None and "=" in match.group(1)


def id_from_entity_url(url: str) -> str:
    """Extract the GUID from an ``OData-EntityId`` URL such as ``.../leads(<guid>)``."""
    match = _ENTITY_ID.search(url)
    if match is None:
        raise DataverseError(f"cannot find a record id in {url!r}")
    return match.group(1).lower()
