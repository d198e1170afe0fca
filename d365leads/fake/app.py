"""``FakeDataverse``: the stateful fake org, as one request handler.

A request runs through ``journal -> faults (before) -> auth -> service protection -> latency
-> faults (after commit) -> router``.  The journal records every Web API request with the
response the client got (transport faults included); ``fake.faults`` scripts failures,
``fake.options`` holds every rule switch and limit, ``fake.store`` the data.

The caller is a seeded ``systemuser`` (:attr:`FakeDataverse.caller_id`): WhoAmI returns it and
it owns (``ownerid``) and creates (``createdby``) every row written through the API.  The org
also has a base currency (USD, :attr:`FakeDataverse.base_currency_id`).

Seeding (:meth:`FakeDataverse.seed`, :meth:`FakeDataverse.seed_file`) bypasses business rules
but checks tables, columns and value types, and fills system columns.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import admin, crud, router, rules
from .batch import BatchProcessor
from .clock import Clock, utc_now
from .errors import (
    CODE_UNEXPECTED,
    FakeFault,
    bad_request,
    not_found,
    not_implemented,
    unauthorized,
)
from .faults import FaultPlan
from .http import FakeRequest, FakeResponse, Handler, Middleware
from .latency import LatencySimulator
from .options import FakeOptions
from .protection import ServiceProtection
from .schema import Table, TenantSchema
from .store import Row, Store, normalize_id

if TYPE_CHECKING:
    from .server import FakeServer

__all__ = ["DEFAULT_ORG_URL", "ActionExecutor", "FakeDataverse", "SeedError"]

DEFAULT_ORG_URL = "https://fake-org.crm.dynamics.com"
ActionExecutor = Callable[["FakeDataverse", FakeRequest, "str | None"], FakeResponse]
_NAMESPACE = uuid.UUID("1b7c45a2-3f0e-4d8a-9c61-7e2d5f4a9b30")


class SeedError(ValueError):
    """Seed data that does not fit the fake's schema (names the table, row and problem)."""


def _org_guid(org_url: str, what: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{org_url.lower()}|{what}"))


class FakeDataverse:
    """A stateful, in-memory Dataverse org for the lead lifecycle (see the module docstring)."""

    def __init__(
        self,
        org_url: str = DEFAULT_ORG_URL,
        options: FakeOptions | None = None,
        clock: Clock | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not org_url.startswith(("https://", "http://")):
            raise ValueError(f"org_url must be an http(s) URL, not {org_url!r}")
        self.org_url = org_url.rstrip("/")
        self.base_url = self.org_url + "/api/data/v9.2/"
        self.options = options or FakeOptions()
        self.clock: Clock = clock or utc_now
        self.sleep = sleep
        self.schema = TenantSchema(
            lambda: (self.options.custom_columns, self.options.alternate_keys)
        )
        """The org's tables: the built-in catalogue plus ``options.custom_columns`` and
        ``options.alternate_keys`` (every metadata look-up of the fake goes through it)."""
        self.schema.tables  # noqa: B018 - check the customisations now (ValueError)
        self.store = Store(clock=self.clock, guid_seed=self.options.guid_seed)
        self.journal: list[tuple[FakeRequest, FakeResponse]] = []
        self.errors: list[BaseException] = []
        """Unexpected exceptions raised inside the fake (a bug); the pytest plugin re-raises."""
        self.accepted_tokens: set[str] = set()
        """Bearer tokens accepted under ``strict_auth`` (the fake login endpoint adds its own)."""
        self.default_caller_id = _org_guid(self.org_url, "systemuser")
        """The seeded systemuser every request acts as, unless impersonation says otherwise."""
        self._acting = threading.local()
        self.business_unit_id = _org_guid(self.org_url, "businessunit")
        self.organization_id = _org_guid(self.org_url, "organization")
        self.base_currency_id = _org_guid(self.org_url, "transactioncurrency:USD")
        self.replay: Handler | None = None
        """A cassette player (``d365leads.fake.replay.CassettePlayer``): when set, it answers
        every request in place of the router; journal, faults and auth still run."""
        self.hooks: list[Middleware] = []
        """Extra middleware run innermost, just before the router (simulated tenant plug-ins,
        custom transport faults); each is ``(request, call_next) -> FakeResponse``."""
        self.bound_actions: dict[tuple[str, str], ActionExecutor] = {}
        self.unbound_actions: dict[str, ActionExecutor] = {}
        self.faults = FaultPlan(list(self.options.faults), options=self.options)
        self.protection = ServiceProtection(lambda: self.options, self.clock)
        self.latency = LatencySimulator(lambda: self.options, sleep=self._sleep)
        # ``$batch`` limits are read from the options here; change ``fake.batch.max_operations``
        # / ``.changeset_failure`` to alter them later.
        self.batch = BatchProcessor(
            self.dispatch,
            self.store,
            lock=self.store.lock,
            max_operations=self.options.max_batch_operations,
            changeset_failure=self.options.changeset_failure,
            new_id=self.store.new_id,
        )
        self._journal_lock = threading.Lock()
        self._refs: dict[str, str] = {}
        """Symbolic seed names (``"$ref"``) -> logical name of the row they name."""
        self._install_actions()
        self._seed_identity()

    def __repr__(self) -> str:
        return f"FakeDataverse({self.org_url!r}, {self.store!r})"

    @property
    def caller_id(self) -> str:
        """The systemuser the current request acts as (WhoAmI, ``ownerid``, ``createdby``)."""
        acting: str | None = getattr(self._acting, "user_id", None)
        return acting or self.default_caller_id

    @contextmanager
    def acting_as(self, user_id: str) -> Iterator[None]:
        """Handle requests made on this thread inside the block as ``user_id`` (a systemuser).

        In-process only (the server handles requests on its own threads): over the wire send
        ``MSCRMCallerID: <systemuserid>`` instead.
        """
        key = normalize_id(user_id)
        if not self.store.exists("systemuser", key):
            raise SeedError(f"systemuser {key} does not exist; seed it first")
        with self._caller(key):
            yield

    @contextmanager
    def _caller(self, key: str) -> Iterator[None]:
        previous = getattr(self._acting, "user_id", None)
        self._acting.user_id = key
        try:
            yield
        finally:
            self._acting.user_id = previous

    def _impersonation(self, request: FakeRequest, call_next: Handler) -> FakeResponse:
        # MSCRMCallerID: <systemuserid> (legacy impersonation header, dataverse-web-api.md 4.9).
        if request.header("CallerObjectId") is not None:
            return not_implemented(
                "impersonation by CallerObjectId (Entra object ids are not modelled; "
                "send MSCRMCallerID: <systemuserid>)"
            ).to_response()
        caller = request.header("MSCRMCallerID")
        if caller is None:
            return call_next(request)
        try:
            key = normalize_id(caller)
        except ValueError:
            return bad_request(f"MSCRMCallerID '{caller}' is not a GUID.").to_response()
        if not self.store.exists("systemuser", key):
            return not_found("systemuser", key).to_response()
        with self._caller(key):
            return call_next(request)

    # --- the handler ---------------------------------------------------------------------

    @property
    def middlewares(self) -> list[Middleware]:
        """The chain in order, outermost first (the after-commit hook and ``hooks`` wrap the
        router)."""
        return [
            self._journal,
            self.faults.before,
            self._auth,
            self._impersonation,
            self.protection,
            self.latency,
            self.faults.after_commit,
            *self.hooks,
        ]

    def __call__(self, request: FakeRequest) -> FakeResponse:
        """Handle one request through the whole middleware chain."""
        if admin.is_admin_request(request):
            refused = self._auth(request, lambda r: FakeResponse.empty(204))
            if self.options.strict_auth and refused.status == 401:
                return refused
            return admin.handle_admin(self, request)
        self.faults.options = self.options
        handler: Handler = self.dispatch
        for middleware in reversed(self.middlewares):
            handler = _bind(middleware, handler)
        response = handler(request)
        if self.options.affinity_cookie and response.fault is None:
            response.headers.setdefault("Set-Cookie", self._affinity_cookie(request))
        return response

    def _affinity_cookie(self, request: FakeRequest) -> str:
        # Dataverse pins a client to one web server with this cookie; bulk clients should drop
        # it: https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
        secure = "; Secure" if request.url.lower().startswith("https://") else ""
        return f"ARRAffinity={_org_guid(self.org_url, 'web-server-1')}; Path=/; HttpOnly{secure}"

    handle = __call__

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Route one request without middleware (``$batch`` operations come through here)."""
        if self.replay is not None:
            return self.replay(request)
        try:
            return router.route(self, request)
        except Exception as exc:  # a bug in the fake: answer 500 and keep it for the test
            self.errors.append(exc)
            return FakeFault(
                500,
                CODE_UNEXPECTED,
                f"The fake raised {type(exc).__name__}: {exc} (a bug in the d365leads fake).",
            ).to_response()

    def _journal(self, request: FakeRequest, call_next: Handler) -> FakeResponse:
        response = call_next(request)
        with self._journal_lock:
            self.journal.append((request, response))
        return response

    def _auth(self, request: FakeRequest, call_next: Handler) -> FakeResponse:
        if not self.options.require_auth:
            return call_next(request)
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return unauthorized().to_response()
        if self.options.strict_auth and token.strip() not in self.accepted_tokens:
            return unauthorized("The bearer token was not issued for this org.").to_response()
        return call_next(request)

    def _sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def _install_actions(self) -> None:
        from . import actions

        self.bound_actions.update(actions.BOUND_ACTIONS)
        self.unbound_actions.update(actions.UNBOUND_ACTIONS)

    # --- identity -------------------------------------------------------------------------

    def _seed_identity(self) -> None:
        self.store.insert(
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
        self.store.insert(
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

    # --- seeding and read-back -------------------------------------------------------------

    def _table(self, name: str) -> Table:
        meta = self.schema.table_for_set(name)
        if meta is not None:
            return meta
        try:
            return self.schema.table(name)
        except KeyError as exc:
            raise SeedError(str(exc.args[0])) from None

    # --- tenant customisations ---------------------------------------------------------------

    def add_column(self, table_name: str, name: str, type: str) -> None:
        """Add the tenant column ``name`` of ``type`` to ``table_name`` (logical or set name).

        ``type`` is one of ``string``, ``memo``, ``int``, ``bigint``, ``decimal``, ``money``,
        ``bool``, ``datetime``, ``date`` or ``lookup:<table>``.  The name needs a publisher
        prefix and an underscore (``new_score``) and must not clash with a column of the table;
        otherwise ``ValueError`` says what is wrong.  Kept in ``options.custom_columns``.
        """
        meta = self._schema_table(table_name)
        entry = (meta.logical_name, name, type)
        TenantSchema.build(((*self.options.custom_columns, entry), self.options.alternate_keys))
        self.options.custom_columns = (*self.options.custom_columns, entry)

    def add_alternate_key(self, table_name: str, *columns: str) -> None:
        """Define an alternate key of ``table_name`` on ``columns`` (built-in or tenant columns).

        Rows are then addressable as ``leads(emailaddress1='a@example.com')`` and the key's
        values must be unique (``0x80040237``).  ``ValueError`` when a column is unknown or of a
        type keys cannot use, the key exists already, or existing rows share a key value (as
        Dataverse's key activation fails).  Kept in ``options.alternate_keys``.
        """
        meta = self._schema_table(table_name)
        entry = (meta.logical_name, tuple(columns))
        tables = TenantSchema.build(
            (self.options.custom_columns, (*self.options.alternate_keys, entry))
        )
        self._check_key_unique(tables[meta.logical_name], tuple(columns))
        self.options.alternate_keys = (*self.options.alternate_keys, entry)

    def _schema_table(self, table_name: str) -> Table:
        try:
            return self._table(table_name)
        except SeedError as exc:
            raise ValueError(str(exc)) from None

    def _check_key_unique(self, meta: Table, columns: tuple[str, ...]) -> None:
        seen: dict[tuple[Any, ...], str] = {}
        for row in self.store.rows(meta.logical_name):
            values = tuple(
                v.casefold() if isinstance(v, str) else v for v in (row.get(c) for c in columns)
            )
            if any(v is None for v in values):
                continue
            other = seen.setdefault(values, str(row[meta.primary_key]))
            if other != row[meta.primary_key]:
                raise ValueError(
                    f"alternate key ({', '.join(columns)}) on {meta.logical_name}: rows {other} "
                    f"and {row[meta.primary_key]} share the value(s) {values!r}; make them "
                    "unique first"
                )

    def apply_schema(self, declaration: Any, *, source: str = "$schema") -> None:
        """Apply a seed file's ``"$schema"`` object: ``{"columns": [[table, name, type] or
        {"table", "name", "type"}, …], "alternate_keys": [[table, [columns…]] or {"table",
        "columns"}, …]}``.  All or nothing: ``SeedError`` names the bad entry."""
        if not isinstance(declaration, Mapping):
            raise SeedError(
                f'{source}: expected an object {{"columns": […], "alternate_keys": […]}}'
            )
        unknown = sorted(set(declaration) - {"columns", "alternate_keys"})
        if unknown:
            raise SeedError(
                f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; "
                'use "columns" and "alternate_keys"'
            )
        saved = (self.options.custom_columns, self.options.alternate_keys)
        try:
            for i, item in enumerate(_schema_list(declaration, "columns", source)):
                parts: list[Any]
                if isinstance(item, Mapping):
                    parts = [item.get("table"), item.get("name"), item.get("type")]
                else:
                    parts = list(item) if isinstance(item, list) else []
                if len(parts) != 3 or not all(isinstance(p, str) for p in parts):
                    raise SeedError(
                        f"{source} columns[{i}]: expected [table, name, type] or "
                        f'{{"table": …, "name": …, "type": …}}, got {item!r}'
                    )
                self.add_column(*parts)
            for i, item in enumerate(_schema_list(declaration, "alternate_keys", source)):
                if isinstance(item, Mapping):
                    table_name, cols = item.get("table"), item.get("columns")
                elif isinstance(item, list) and len(item) == 2:
                    table_name, cols = item
                else:
                    table_name = cols = None
                if isinstance(cols, str):
                    cols = [cols]
                if not isinstance(table_name, str) or not isinstance(cols, list):
                    raise SeedError(
                        f"{source} alternate_keys[{i}]: expected [table, [column, …]] or "
                        f'{{"table": …, "columns": […]}}, got {item!r}'
                    )
                self.add_alternate_key(table_name, *map(str, cols))
        except ValueError as exc:
            self.options.custom_columns, self.options.alternate_keys = saved
            if isinstance(exc, SeedError):
                raise
            raise SeedError(f"{source}: {exc}") from None

    def _seed_row(self, meta: Table, data: Mapping[str, Any], position: int) -> str:
        where = f"{meta.logical_name} row {position}"
        if not isinstance(data, Mapping):
            raise SeedError(f"{where}: expected an object of column values, got {data!r}")
        data, symbol = self._resolve_refs(meta, data, where)
        try:
            row = crud.attributes_from_body(self, meta, data, allow_readonly=True)
        except FakeFault as fault:
            raise SeedError(f"{where}: {fault.message}") from None
        for column in meta.columns:
            if (
                column.is_polymorphic
                and row.get(column.name)
                and not row.get(column.type_attribute)
            ):
                found = [t for t in column.targets if self.store.exists(t, str(row[column.name]))]
                if len(found) != 1:
                    raise SeedError(
                        f"{where}: cannot tell which table {column.name}={row[column.name]} "
                        f'points to; add "{column.type_attribute}": one of '
                        f"{', '.join(column.targets)} (or seed the target first)"
                    )
                row[column.type_attribute] = found[0]
        if meta.has_state:
            model = rules.status_model(meta, self.options)
            state = row.get("statecode")
            status = row.get("statuscode")
            if state is None and status is not None:
                option = model.status(int(status))
                if option is None:
                    raise SeedError(f"{where}: statuscode {status} does not exist")
                state = option.state
            state = 0 if state is None else state
            state_option = model.state(int(state))
            if state_option is None:
                raise SeedError(f"{where}: statecode {state} does not exist")
            status = state_option.default_status if status is None else status
            status_option = model.status(int(status))
            if status_option is None or status_option.state != state:
                raise SeedError(
                    f"{where}: statuscode {status} does not belong to statecode {state}"
                )
            row["statecode"], row["statuscode"] = state, status
        crud.fill_computed(meta, row)
        actor = self.caller_id if meta.ownership == "user" else None
        try:
            stored = self.store.insert(meta.logical_name, row, actor=actor)
        except FakeFault as fault:
            raise SeedError(f"{where}: {fault.message}") from None
        if symbol is not None:
            self._refs[symbol] = meta.logical_name
        return str(stored[meta.primary_key])

    def ref(self, name: str) -> str:
        """The GUID of the seeded row named ``name`` (``"$ref": name``), the same on every run.

        Seed rows name themselves with ``"$ref": "acme"`` and point at each other with
        ``"parentcustomerid": "$acme"`` in any lookup column, so seed files need no GUIDs and
        tests can find the rows again with ``fake.ref("acme")``.
        """
        return _org_guid(self.org_url, f"ref|{name}")

    def _resolve_refs(
        self, meta: Table, data: Mapping[str, Any], where: str
    ) -> tuple[dict[str, Any], str | None]:
        row = dict(data)
        symbol = row.pop("$ref", None)
        if symbol is not None:
            if not isinstance(symbol, str) or not symbol.strip() or symbol.startswith("$"):
                raise SeedError(f'{where}: "$ref" must be a name such as "acme", not {symbol!r}')
            if symbol in self._refs:
                raise SeedError(
                    f'{where}: "$ref": {symbol!r} already names a {self._refs[symbol]} row'
                )
            given = row.get(meta.primary_key)
            wanted = self.ref(symbol)
            if given is not None and str(given).lower() != wanted:
                raise SeedError(
                    f'{where}: give either "$ref" or {meta.primary_key}, not both '
                    f"({meta.primary_key} of ${symbol} is {wanted})"
                )
            row[meta.primary_key] = wanted
        for column in meta.columns:
            value = row.get(column.name)
            if column.is_lookup and isinstance(value, str) and value.startswith("$"):
                name = value[1:]
                if name not in self._refs:
                    raise SeedError(
                        f'{where}: {column.name} is "{value}", but no earlier row has '
                        f'"$ref": "{name}" (seed the row it points to first)'
                    )
                row[column.name] = self.ref(name)
        return row, symbol

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
        meta = self._table(table_name)
        items = [rows] if isinstance(rows, Mapping) else list(rows)
        refs = dict(self._refs)
        try:
            with self.store.transaction():
                return [self._seed_row(meta, row, i) for i, row in enumerate(items)]
        except BaseException:
            self._refs = refs  # all or nothing, names included
            raise

    def seed_file(self, path: str | Path) -> dict[str, list[str]]:
        """Seed from a JSON or YAML file ``{table: [rows…]}`` (logical or entity set names).

        All or nothing: a bad row leaves the store as it was and raises :class:`SeedError`.
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SeedError(f"cannot read seed file {file}: {exc.strerror}") from None
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml  # PyYAML: safe_load only, so a seed file cannot run code

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise SeedError(f"{file} is not valid YAML: {exc}") from None
        else:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise SeedError(f"{file} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise SeedError(f"{file}: expected an object mapping table names to lists of rows")
        ids: dict[str, list[str]] = {}
        saved = (self.options.custom_columns, self.options.alternate_keys, dict(self._refs))
        with self.store.transaction(), self._restore_schema_on_error(saved):
            if "$schema" in data:
                self.apply_schema(data.pop("$schema"), source=f"{file}: $schema")
            for name, rows in data.items():
                if not isinstance(rows, list):
                    raise SeedError(f"{file}: {name!r} must map to a list of rows")
                meta = self._table(str(name))
                ids.setdefault(meta.logical_name, []).extend(self.seed(meta.logical_name, rows))
        return ids

    @contextmanager
    def _restore_schema_on_error(self, saved: tuple[Any, Any, dict[str, str]]) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.options.custom_columns, self.options.alternate_keys, self._refs = saved
            raise

    def seed_demo_data(self, *, seed: int = 7) -> dict[str, list[str]]:
        """Seed a few hundred realistic leads, accounts and contacts (deterministic)."""
        from . import demo_data

        return demo_data.seed_demo_data(self, seed=seed)

    def rows(self, table_name: str, **equals: Any) -> list[Row]:
        """Copies of the rows of a table, optionally only those whose columns equal ``equals``."""
        meta = self._table(table_name)
        rows = self.store.rows(meta.logical_name)
        return [r for r in rows if all(r.get(k) == v for k, v in equals.items())]

    def get(self, table_name: str, record_id: str | uuid.UUID) -> Row | None:
        """A copy of one row, or ``None``."""
        meta = self._table(table_name)
        try:
            key = normalize_id(record_id)
        except ValueError:
            return None
        return self.store.get(meta.logical_name, key)

    def primary_name(self, logical_name: str, record_id: str) -> str | None:
        """The primary name of a row (lookup FormattedValue), or ``None``."""
        meta = self.schema.tables.get(logical_name)
        if meta is None:
            return None
        row = self.store.get(logical_name, record_id)
        if row is None:
            return None
        value = row.get(meta.primary_name)
        return str(value) if value is not None else None

    def requests(
        self, method: str | None = None, path_prefix: str | None = None
    ) -> list[FakeRequest]:
        """Journaled requests, optionally only one method and/or paths starting with a prefix."""
        with self._journal_lock:
            entries = list(self.journal)
        return [
            req
            for req, _ in entries
            if (method is None or req.method == method.upper())
            and (path_prefix is None or req.path.startswith(path_prefix))
        ]

    def reset(self) -> None:
        """Forget all data, the journal, faults and throttling state; re-seed the identity."""
        with self.store.lock:
            self.store.clear()
            self._refs.clear()
            self._seed_identity()
        with self._journal_lock:
            self.journal.clear()
        self.errors.clear()
        self.faults.clear()
        for spec in self.options.faults:
            self.faults.add(spec)
        self.protection.reset()

    # --- transports -------------------------------------------------------------------------

    def mock(self) -> AbstractContextManager[Any]:
        """Install the fake in-process with ``responses`` (org host and login host)."""
        from .responses_adapter import mock

        return mock(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> FakeServer:
        """Start a threaded HTTP server for this fake; close it with ``.close()``."""
        from .server import FakeServer

        self.latency.real_time = True
        return FakeServer(self, host=host, port=port)


def _schema_list(declaration: Mapping[str, Any], name: str, source: str) -> list[Any]:
    items = declaration.get(name, [])
    if not isinstance(items, list):
        raise SeedError(f"{source}: {name!r} must be a list")
    return items


def _bind(middleware: Middleware, call_next: Handler) -> Handler:
    def handler(request: FakeRequest) -> FakeResponse:
        return middleware(request, call_next)

    return handler
