"""Who the org is and who is acting: the default caller, business unit, organization, base
currency, and the impersonated caller of the request being handled on this thread.

Every id is derived from the org URL (``uuid5``), so the same org has the same ids on every run.
The caller is a seeded ``systemuser`` (:attr:`Identity.default_caller_id`): WhoAmI returns it
and it owns (``ownerid``) and creates (``createdby``) every row written through the API.
:meth:`Identity.acting` switches the caller for the current thread (``acting_as`` in-process,
``CallerObjectId`` or ``MSCRMCallerID`` over the wire).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from .store import Store

__all__ = ["Identity", "org_guid"]

_NAMESPACE = uuid.UUID("1b7c45a2-3f0e-4d8a-9c61-7e2d5f4a9b30")


def org_guid(org_url: str, what: str) -> str:
    """A GUID that names ``what`` in the org at ``org_url``, the same on every run."""
    return str(uuid.uuid5(_NAMESPACE, f"{org_url.lower()}|{what}"))


class _Acting(threading.local):
    user_id: str | None = None  # a class default: reading it never raises AttributeError


class Identity:
    """The org's own ids and the caller of the current thread (see the module docstring)."""

    def __init__(self, org_url: str) -> None:
        self.default_caller_id = org_guid(org_url, "systemuser")
        self.business_unit_id = org_guid(org_url, "businessunit")
        self.organization_id = org_guid(org_url, "organization")
        self.base_currency_id = org_guid(org_url, "transactioncurrency:USD")
        self._acting = _Acting()

    def __repr__(self) -> str:
        return f"Identity(caller={self.caller_id})"

    @property
    def caller_id(self) -> str:
        """The systemuser the current thread acts as (WhoAmI, ``ownerid``, ``createdby``)."""
        return self._acting.user_id or self.default_caller_id

    @property
    def impersonated(self) -> str | None:
        """The systemuser the current thread impersonates (``None``: the default caller)."""
        return self._acting.user_id

    @contextmanager
    def acting(self, user_id: str) -> Iterator[None]:
        """Act as ``user_id`` (an existing systemuser's normalized id) on this thread."""
        previous = self._acting.user_id
        self._acting.user_id = user_id
        try:
            yield
        finally:
            self._acting.user_id = previous

    def seed(self, store: Store) -> None:
        """Insert the default caller and the base currency (USD) into ``store``."""
        store.insert(
            "systemuser",
            {
                "systemuserid": self.default_caller_id,
                "firstname": "Fake",
                "lastname": "User",
                "fullname": "Fake User",
                "domainname": "fake.user@example.com",
                "internalemailaddress": "fake.user@example.com",
                "businessunitid": self.business_unit_id,
                "isdisabled": False,
            },
        )
        store.insert(
            "transactioncurrency",
            {
                "transactioncurrencyid": self.base_currency_id,
                "currencyname": "US Dollar",
                "isocurrencycode": "USD",
                "currencysymbol": "$",
                "exchangerate": 1.0,
                "currencyprecision": 2,
                "statecode": 0,
                "statuscode": 1,
            },
        )
