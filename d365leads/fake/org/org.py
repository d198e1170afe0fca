"""``Org``: one fake org's state with its test API (seed, read back, customise, act as).

Everything here is a thin method over the functions of ``fake.org`` (:mod:`.seeding`,
:mod:`.customisations`, :mod:`.demo_data`); the HTTP side lives in the layers above, and
:class:`~d365leads.fake.facade.FakeDataverse` adds it to this class.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.clock import Clock
from ..core.options import FakeOptions
from ..core.plugin_steps import plugin_step
from ..core.values import Row, normalize_id
from . import customisations, demo_data, plugins, seeding
from .seeding import SeedError
from .state import OrgState

__all__ = ["Org"]


class Org(OrgState):
    """A fake org's state plus the methods tests use to arrange and inspect it."""

    def __init__(
        self, org_url: str, options: FakeOptions | None = None, clock: Clock | None = None
    ) -> None:
        super().__init__(org_url, options, clock)
        plugins.check_steps(self, self.options.plugin_steps)  # an unknown table fails here

    def add_plugin_step(self, **fields: Any) -> None:
        """Declare a tenant plug-in that throws (fields as
        :func:`~d365leads.fake.core.plugin_steps.plugin_step` takes them: ``event``, ``table``,
        ``stage``, ``message``, ``status``, ``code``, ``when``, ``attributes``, ``plugin``,
        ``trace``).  ``ValueError`` names a bad field.  Kept in ``options.plugin_steps``."""
        step = plugin_step(fields)
        plugins.check_steps(self, [step])
        self.options.plugin_steps = (*self.options.plugin_steps, step)

    @contextmanager
    def acting_as(self, user_id: str) -> Iterator[None]:
        """Handle requests made on this thread inside the block as ``user_id`` (a systemuser).

        In-process only (the server handles requests on its own threads): over the wire send
        ``MSCRMCallerID: <systemuserid>`` instead.
        """
        key = normalize_id(user_id)
        if not self.store.exists("systemuser", key):
            raise SeedError(f"systemuser {key} does not exist; seed it first")
        with self.identity.acting(key):
            yield

    # --- tenant customisations ---------------------------------------------------------------

    def add_column(self, table_name: str, name: str, type: str) -> None:
        """Add the tenant column ``name`` of ``type`` to ``table_name`` (logical or set name).

        ``type`` is one of ``string``, ``memo``, ``int``, ``bigint``, ``decimal``, ``money``,
        ``bool``, ``datetime``, ``date`` or ``lookup:<table>``.  The name needs a publisher
        prefix and an underscore (``new_score``) and must not clash with a column of the table;
        otherwise ``ValueError`` says what is wrong.  Kept in ``options.custom_columns``.
        """
        customisations.add_column(self, table_name, name, type)

    def add_alternate_key(self, table_name: str, *columns: str) -> None:
        """Define an alternate key of ``table_name`` on ``columns`` (built-in or tenant columns).

        Rows are then addressable as ``leads(emailaddress1='a@example.com')`` and the key's
        values must be unique (``0x80040237``).  ``ValueError`` when a column is unknown or of a
        type keys cannot use, the key exists already, or existing rows share a key value (as
        Dataverse's key activation fails).  Kept in ``options.alternate_keys``.
        """
        customisations.add_alternate_key(self, table_name, *columns)

    def apply_schema(self, declaration: Any, *, source: str = "$schema") -> None:
        """Apply a seed file's ``"$schema"`` object: ``{"columns": [[table, name, type] or
        {"table", "name", "type"}, …], "alternate_keys": [[table, [columns…]] or {"table",
        "columns"}, …]}``.  All or nothing: ``SeedError`` names the bad entry."""
        seeding.apply_schema(self, declaration, source=source)

    # --- seeding ---------------------------------------------------------------------------

    def seed(
        self, table_name: str, rows: Iterable[Mapping[str, Any]] | Mapping[str, Any]
    ) -> list[str]:
        """Insert rows directly (no business rules; columns and types checked); return ids.

        ``table_name`` is a logical name (``lead``) or entity set (``leads``).  Columns use
        attribute names; lookups take the target GUID (``"parentaccountid": id``, polymorphic
        ones also ``"customeridtype": "account"`` unless the target already exists) or the Web
        API form ``"parentaccountid@odata.bind": "/accounts(id)"``.  System columns
        (``createdon``, ``statecode``, …) may be set.  ``"$ref": "name"`` names a row with a
        deterministic GUID and ``"$name"`` in a lookup column points at it (see :meth:`ref`).
        """
        return seeding.seed(self, table_name, rows)

    def seed_file(self, path: str | Path) -> dict[str, list[str]]:
        """Seed from a JSON or YAML file ``{table: [rows…]}`` (logical or entity set names).

        All or nothing: a bad row leaves the store as it was and raises :class:`SeedError`.
        """
        return seeding.seed_file(self, path)

    def seed_document(self, data: Any, *, source: str = "seed") -> dict[str, list[str]]:
        """Seed a parsed seed document (a seed file's content: tables, ``"$schema"`` and
        ``"$plugins"``); all or nothing, ``SeedError`` names ``source`` and the bad entry."""
        return seeding.seed_document(self, data, source=source)

    def ref(self, name: str) -> str:
        """The GUID of the seeded row named ``name`` (``"$ref": name``), the same on every run.

        Seed rows name themselves with ``"$ref": "acme"`` and point at each other with
        ``"parentcustomerid": "$acme"`` in any lookup column, so seed files need no GUIDs and
        tests can find the rows again with ``fake.ref("acme")``.
        """
        return seeding.ref(self, name)

    def seed_demo_data(self, *, seed: int = 7) -> dict[str, list[str]]:
        """Seed a few hundred realistic leads, accounts and contacts (deterministic)."""
        return demo_data.seed_demo_data(self, seed=seed)

    # --- read-back -------------------------------------------------------------------------

    def rows(self, table_name: str, **equals: Any) -> list[Row]:
        """Copies of the rows of a table, optionally only those whose columns equal ``equals``."""
        meta = seeding.table_named(self, table_name)
        rows = self.store.rows(meta.logical_name)
        return [r for r in rows if all(r.get(k) == v for k, v in equals.items())]

    def get(self, table_name: str, record_id: str | uuid.UUID) -> Row | None:
        """A copy of one row, or ``None``."""
        meta = seeding.table_named(self, table_name)
        try:
            key = normalize_id(record_id)
        except ValueError:
            return None
        return self.store.get(meta.logical_name, key)

    def clear_data(self) -> None:
        """Forget every row and seed name; re-seed the identity (caller and base currency) and
        the product's lead views."""
        with self.store.lock:
            self.store.clear()
            self.refs.clear()
            self.identity.seed(self.store)
            self.seed_catalogue()
