"""The state of one fake org: options, clock, tables, rows and identity, with no behaviour.

Every rule, write path and seeding function of ``fake.org`` is a function over an
:class:`OrgState`; :class:`~d365leads.fake.org.org.Org` adds the test API on top.
"""

from __future__ import annotations

from ..core.clock import Clock, utc_now
from ..core.options import FakeOptions
from .entity_maps import seed_entity_maps
from .identity import Identity
from .saved_views import seed_system_views
from .schema import Table
from .sdk_messages import seed_sdk_messages
from .store import Store
from .tables import TABLES
from .tenant import TenantSchema

__all__ = ["OrgState"]


class OrgState:
    """Options, clock, tenant schema, store and identity of the org at ``org_url``."""

    def __init__(
        self, org_url: str, options: FakeOptions | None = None, clock: Clock | None = None
    ) -> None:
        if not org_url.startswith(("https://", "http://")):
            raise ValueError(f"org_url must be an http(s) URL, not {org_url!r}")
        self.org_url = org_url.rstrip("/")
        self.base_url = self.org_url + "/api/data/v9.2/"
        self.options = options or FakeOptions()
        self.clock: Clock = clock or utc_now
        self.schema = TenantSchema(
            lambda: (self.options.custom_columns, self.options.alternate_keys)
        )
        """The org's tables: the built-in catalogue plus ``options.custom_columns`` and
        ``options.alternate_keys`` (every metadata look-up of the fake goes through it)."""
        self.schema.tables  # noqa: B018 - check the customisations now (ValueError)
        self.store = Store(clock=self.clock, guid_seed=self.options.guid_seed)
        self.identity = Identity(self.org_url)
        self.refs: dict[str, str] = {}
        """Symbolic seed names (``"$ref"``) -> logical name of the row they name."""
        self.identity.seed(self.store)
        self.seed_catalogue()

    def seed_catalogue(self) -> None:
        """Seed the org's system rows beyond the identity: SDK messages, system views and the
        table mappings."""
        seed_sdk_messages(
            self.store, self.org_url, self.schema.tables, self.options.bulk_message_tables
        )
        seed_system_views(self.store)
        seed_entity_maps(
            self.store,
            self.org_url,
            documented_phone_mappings=self.options.qualify_documented_phone_mappings,
        )

    @property
    def caller_id(self) -> str:
        """The systemuser the current request acts as (WhoAmI, ``ownerid``, ``createdby``)."""
        return self.identity.caller_id

    @property
    def default_caller_id(self) -> str:
        """The seeded systemuser every request acts as, unless impersonation says otherwise."""
        return self.identity.default_caller_id

    @property
    def business_unit_id(self) -> str:
        """The caller's business unit (WhoAmI)."""
        return self.identity.business_unit_id

    @property
    def organization_id(self) -> str:
        """The organization id (WhoAmI, the fake login's tenant)."""
        return self.identity.organization_id

    @property
    def base_currency_id(self) -> str:
        """The org's base currency (USD)."""
        return self.identity.base_currency_id

    def primary_name(self, logical_name: str, record_id: str) -> str | None:
        """The primary name of a row (lookup FormattedValue), or ``None``."""
        # Customisations add columns and keys, never tables or primary names: the catalogue
        # answers without merging the tenant's schema for each lookup of a page.
        meta: Table | None = TABLES.get(logical_name)
        if meta is None:
            return None
        # Read on every render, never cached: a renamed row shows its new name at once.
        value = self.store.value(logical_name, record_id, meta.primary_name)
        return str(value) if value is not None else None
