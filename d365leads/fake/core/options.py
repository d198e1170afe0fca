"""Every switch of the fake, in one dataclass.

Defaults follow ``lead-lifecycle.md`` for business rules and ``dataverse-web-api.md`` for wire
behaviour.  Each behaviour that reference marks **UNCONFIRMED** has a switch here (the comment
names the item of its "Consolidated UNCONFIRMED list") so a recording from a real tenant can
calibrate it without code changes.

Owners: rule switches are read by ``org`` (``states``, ``transitions``, ``inactive``,
``qualify``, ``records``, ``values``), service protection by ``pipeline.protection``, latency by
``pipeline.latency``, ``faults`` by ``pipeline.faults``, ``change_retention_days`` by
``handlers.delta``, paging/query switches by ``handlers.query``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from .plugin_steps import PluginStep, plugin_step

__all__ = ["FakeOptions"]


@dataclass
class FakeOptions:
    """Rule switches, limits, service protection, latency and scripted faults of the fake."""

    # --- auth -------------------------------------------------------------------------------
    strict_auth: bool = False
    """Accept only bearer tokens the fake's own login endpoint issued (else any bearer token)."""
    require_auth: bool = True
    """Reject requests without an ``Authorization: Bearer …`` header with 401."""

    # --- business rules (lead-lifecycle.md) -------------------------------------------------
    enforce_inactive_edit_rule: bool = True
    """Product rule 3: non-state edits of an inactive lead/account/contact/opportunity are
    refused.  False = the platform's lenient behaviour (UNCONFIRMED 4)."""
    inactive_edit_status: int = 400
    inactive_edit_code: str = "0x80040203"
    """No platform code is documented for this product rule; the generic invalid-argument code."""
    require_opportunity_customer: bool = True
    """Business rule 7: creating an opportunity without ``customerid`` is refused (UNCONFIRMED 7
    as a platform rule; documented as app-enforced only)."""
    require_participation_type: bool = True
    """An ``activityparty`` created without ``participationtypemask`` (in a PUT of
    ``email_activity_parties``, a deep insert or a create) is refused with 400 ``0x80048d19``;
    the docs list the roles but give no error for a missing one (UNCONFIRMED)."""
    disqualify_requires_no_open_opportunity: bool = False
    """UI rule "disqualify only if no opportunity is associated" (UNCONFIRMED 5)."""

    # --- state / status ---------------------------------------------------------------------
    invalid_state_code: str = "0x80048408"
    """Error code for an invalid statecode/statuscode pair (UNCONFIRMED 1)."""
    invalid_state_status: int = 400
    statecode_only_sets_default_status: bool = True
    """PATCH ``{statecode}`` alone applies the state's default status (UNCONFIRMED 2); False
    rejects it as an invalid pair."""
    create_state: Literal["reject", "ignore", "honour"] = "reject"
    """``statecode``/non-open ``statuscode`` on create (UNCONFIRMED 3): ``reject`` a status not
    in the Open state, ``ignore`` the values, or ``honour`` any valid pair."""
    readonly_on_write: Literal["ignore", "reject"] = "ignore"
    """Read-only/system columns in a create/update body: ignored (documented) or rejected."""
    opportunity_close_requires_action: bool = True
    """A PATCH of opportunity ``statecode`` 1/2 is refused; use Win/LoseOpportunity."""
    custom_status_reasons: tuple[tuple[str, int, str, int], ...] = ()
    """Tenant-defined status reasons ``(table, value, label, state)`` on top of the built-in
    option sets (added with ``rules.add_status_reason``; owner: fake-domain)."""

    # --- tenant customisations (schema.TenantSchema) ----------------------------------------
    custom_columns: tuple[tuple[str, str, str], ...] = ()
    """Tenant columns ``(table, column, type)``, e.g. ``("lead", "new_score", "int")``; types as
    ``schema.CUSTOM_COLUMN_TYPES`` or ``lookup:<table>``.  Add with ``fake.add_column``."""
    alternate_keys: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Tenant alternate keys ``(table, (column, …))`` on top of the built-in ones, e.g.
    ``("lead", ("emailaddress1",))``.  Add with ``fake.add_alternate_key``."""

    # --- QualifyLead (UNCONFIRMED 6) --------------------------------------------------------
    qualify_closed_lead_status: int = 400
    qualify_closed_lead_code: str = "0x80040203"
    """"The lead is closed…" has no documented code; the generic invalid-argument code."""
    qualify_status_must_be_qualified: bool = True
    qualify_sets_qualifying_opportunity: bool = True
    qualify_sets_lead_parent_links: bool = False
    qualify_sets_originating_lead_on_account_contact: bool = True
    qualify_cross_links: bool = True
    """contact.parentcustomerid -> new account, account.primarycontactid -> new contact."""
    qualify_default_currency: bool = True
    """Use the organization's base currency when ``OpportunityCurrencyId`` is omitted."""
    qualify_creates_account_when_parent_set: bool = False
    """``CreateAccount`` still creates a new account when the lead has ``parentaccountid``."""
    qualify_empty_company: Literal["skip", "error"] = "skip"
    """``CreateAccount`` with an empty ``companyname``: create no account, or fail."""
    qualify_documented_phone_mappings: bool = True
    """Map lead telephone1 to account.address1_telephone1 and contact.managerphone (documented)."""
    duplicate_detection_status: int = 500
    """HTTP status of rule-based duplicate detection ``0x80040333`` (UNCONFIRMED 8)."""

    # --- writes -----------------------------------------------------------------------------
    validate_references: bool = True
    """``@odata.bind`` targets must exist."""
    duplicate_key_status: int = 412
    """HTTP status of ``0x80040237`` (412 per docs, 409 in some reports; UNCONFIRMED 8)."""
    upsert_create_status: int = 204
    """Status of an upsert that created the row (UNCONFIRMED 9; 204 + OData-EntityId)."""
    alternate_key_entity_id: Literal["key", "guid"] = "key"
    """``OData-EntityId`` of a PATCH addressed by alternate key: ``key`` names the record as the
    URL did (``accounts(accountnumber='A1')``, as the upsert page documents); ``guid`` gives
    ``accounts(<id>)`` (the fake's earlier answer, kept for clients that read the id from it)."""

    # --- query ------------------------------------------------------------------------------
    max_page_size: int = 5000
    max_count: int = 5000
    top_with_maxpagesize: Literal["honour_top", "ignore_top"] = "ignore_top"
    """``$top`` together with ``odata.maxpagesize``: ignored, as the page-results doc says
    (``honour_top`` keeps the old behaviour; UNCONFIRMED 10)."""
    conditional_errors: Literal["error_reference", "conditional_page"] = "error_reference"
    """Error body of a failed condition (``If-Match``/``If-None-Match``): the codes of the Web
    API error reference (``0x80060882``, ``0x80040237``, ``0x80040217``), or the body the
    conditional-operations page prints (code ``""``, 404 message ``account With Id = … Does
    Not Exist``). UNCONFIRMED: the two pages disagree."""
    representation_context: Literal["entity_set", "selected"] = "entity_set"
    """``@odata.context`` of a ``return=representation`` answer: ``…#accounts/$entity`` as the
    create and update pages show, or ``…#accounts(accountid)/$entity`` (the ``$select``
    columns) as the upsert page shows (UNCONFIRMED: the pages disagree)."""
    json_reader: Literal["odatalib", "strict"] = "odatalib"
    """How request bodies are read: ``odatalib``, the OData JSON reader's compatibility rules
    (single-quoted strings and names, bare names, numbers starting with ``.``; see
    ``wire/json_reader.py``), as the QualifyLead page's printed body needs; or ``strict`` JSON.
    UNCONFIRMED: taken from ODataLib's reader, not from a Dataverse page."""
    accept_quoted_guid_in_filter: bool = True
    """``_x_value eq 'guid'`` as well as the unquoted literal (UNCONFIRMED 10)."""
    max_expand: int = 15
    bulk_delete_delay_seconds: float = 0.0
    """When a ``BulkDelete`` job runs: 0 before the action answers (so a test sees the rows
    gone at once); more leaves the ``asyncoperation`` Ready / Waiting For Resources until the
    fake's clock passes its ``StartDateTime`` plus this delay, and the next request runs it. A
    real org runs it in the background, how soon is not documented (UNCONFIRMED)."""
    nested_expand_next_page: Literal["page_full", "more_rows"] = "page_full"
    """With a nested ``$expand`` (expanded collections are paged), when an expanded collection's
    ``<nav>@odata.nextLink`` carries a ``$skiptoken``: when its page is full, as the join-tables
    page's example shows (one contact, page size 1, a paged link), or only when more rows
    follow. Otherwise the link is the plain filtered collection (UNCONFIRMED)."""
    fetchxml_context: Literal["fetch_attributes", "primary_attributes"] = "fetch_attributes"
    """Columns named in the ``@odata.context`` of a FetchXML answer: every attribute the fetch
    asks for, or only the table's primary id and primary name among them, as the "Use FetchXml
    with Web API" page prints it (UNCONFIRMED: the pages that print fetch answers disagree)."""
    fetchxml_paging_annotations: Literal["always", "when_asked"] = "always"
    """FetchXML pages carry ``fetchxmlpagingcookie``/``morerecords`` always, or only when
    ``Prefer: odata.include-annotations`` names them (UNCONFIRMED)."""

    # --- $batch (fake-advanced) -------------------------------------------------------------
    max_batch_operations: int = 1000
    changeset_failure: Literal["single_error", "per_operation"] = "single_error"
    """Shape of a failed changeset in the batch response (UNCONFIRMED 11)."""

    # --- bulk operation messages (handlers.bulk_messages) -----------------------------------
    bulk_message_tables: tuple[str, ...] = ("lead", "account", "contact", "opportunity")
    """Tables that answer CreateMultiple/UpdateMultiple/UpsertMultiple (and have their
    ``sdkmessagefilters`` rows).  Not every standard table supports them (UNCONFIRMED per
    table; probe a tenant with ``sdkmessagefilters``)."""
    bulk_message_max_targets: int = 1000
    """Most ``Targets`` in one bulk message request (the bulk-operations doc's limit)."""
    bulk_message_overhead_ops: float = 1.0
    """Execution time of one bulk message request, in ``op_cost_ms`` units, before its records."""
    bulk_message_record_cost: float = 0.25
    """Execution time of each record of a bulk message, as a fraction of ``op_cost_ms``
    (UNCONFIRMED: Microsoft's PowerApps-Samples BulkOperations READMEs show 100 updates in 3 s
    with UpdateMultiple against 12 s one by one, about a quarter; a single indicative sample)."""
    update_multiple_sets_state: bool = True
    """UpdateMultiple accepts ``statecode``/``statuscode`` in its targets (UNCONFIRMED); False
    refuses the whole request with 400 ``0x80040203``."""
    serve_column_definitions: bool = True
    """The org answers ``EntityDefinitions(…)/Attributes`` (column definitions, with their typed
    casts); False answers them 404 ``0x80040217`` as an org that does not serve them would
    (UNCONFIRMED which orgs do not; the status reasons route stays served)."""
    bypass_logic_privilege: bool = True
    """Callers hold ``prvBypassCustomBusinessLogic``; False refuses any request carrying
    ``MSCRM.BypassBusinessLogicExecution`` with 403 ``0x80040220`` (handlers/bypass.py)."""

    # --- change tracking (fake-advanced) ----------------------------------------------------
    change_retention_days: float = 7.0
    change_tracking_tables: tuple[str, ...] = ("lead", "account", "contact", "opportunity")
    delta_expired_status: int = 400
    delta_unsupported_option_status: int = 400

    # --- service protection (fake-advanced) --------------------------------------------------
    max_requests: int | None = 6000
    """Requests per caller per window; ``None`` disables the limit."""
    window_s: float = 300.0
    max_exec_ms: int | None = 1_200_000
    """Combined execution time per caller per window in milliseconds; ``None`` disables it."""
    max_concurrency: int | None = 52
    """Concurrent requests per caller; ``None`` disables it."""
    dop_hint: int | None = 4
    """``x-ms-dop-hint`` response header value; ``None`` omits the header."""
    impersonation_spreads_limits: bool = False
    """UNCONFIRMED: count the limits per impersonated user (``MSCRMCallerID``) rather than per
    token. Dataverse counts them per user; whether an app impersonating several users gets
    several users' limits is not documented. Off: one token, one set of limits."""
    budget_headers: bool = True
    """UNCONFIRMED format: send ``x-ms-ratelimit-burst-remaining-xrm-requests`` (requests left)
    and ``x-ms-ratelimit-time-remaining-xrm-requests`` (execution time left, in seconds with a
    grouping comma and two decimals, ``1,199.46``) on answers while the limits are on. The
    api-limits page names both without a unit or format; the format is that of the published
    examples. Off: neither header is sent."""
    affinity_cookie: bool = False
    """Answer with ``Set-Cookie: ARRAffinity=...`` as Dataverse's web front ends do, so a client
    that keeps the cookie is pinned to one server (see the api-limits doc). Off by default: it
    costs about a quarter of the in-process request rate (cookie parsing in ``requests``)."""

    # --- latency (fake-advanced) ------------------------------------------------------------
    latency_ms: float = 0.0
    """Fixed latency added to each request."""
    op_cost_ms: float = 0.0
    """Simulated execution time per operation (counts toward ``max_exec_ms``)."""
    sleep_in_process: bool = False
    """Really sleep for latency in the in-process adapter (the server always waits)."""

    # --- scripted faults (fake-advanced) ----------------------------------------------------
    plugin_steps: tuple[PluginStep, ...] = ()
    """Declared tenant plug-ins that throw ``InvalidPluginExecutionException`` (see
    ``core/plugin_steps.py``); mappings are accepted.  Seed files declare them under
    ``"$plugins"``.  ``hooks`` on the fake remain the code-level way."""
    faults: list[str] = field(default_factory=list)
    """Fault specs parsed by ``faults.FaultPlan`` (same syntax as ``--fault``)."""

    journal_limit: int | None = 100_000
    """Requests kept in the fake's request journal (a ring buffer; ``None`` keeps all). The
    journal's counters count every request either way."""

    fired_limit: int | None = 1_000
    """Fired-fault records a fault plan keeps (a ring buffer; ``None`` keeps all). Its counts
    by kind count every fault either way."""

    # --- identity / determinism -------------------------------------------------------------
    guid_seed: int | None = None
    """Seed for the store's GUID factory; ``None`` = random GUIDs."""

    def __post_init__(self) -> None:
        # Lists (JSON, hand-written options) become tuples so the schema cache can compare them.
        self.custom_columns = tuple((str(t), str(c), str(k)) for t, c, k in self.custom_columns)
        self.bulk_message_tables = tuple(str(t) for t in self.bulk_message_tables)
        self.plugin_steps = tuple(plugin_step(step) for step in self.plugin_steps)
        if self.bulk_message_max_targets < 1:
            raise ValueError("bulk_message_max_targets must be at least 1")
        if self.bulk_message_overhead_ops < 0 or self.bulk_message_record_cost < 0:
            raise ValueError("bulk message costs cannot be negative")
        self.alternate_keys = tuple(
            (str(t), (cols,) if isinstance(cols, str) else tuple(str(c) for c in cols))
            for t, cols in self.alternate_keys
        )
        if not 1 <= self.max_page_size <= 5000:
            raise ValueError("max_page_size must be between 1 and 5000")
        if self.window_s <= 0:
            raise ValueError("window_s must be positive")
        for name in ("latency_ms", "op_cost_ms", "change_retention_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        for name in (
            "max_requests",
            "max_exec_ms",
            "max_concurrency",
            "dop_hint",
            "journal_limit",
            "fired_limit",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None to disable it)")

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of every switch (for CLIs and config files)."""
        return [f.name for f in fields(cls)]

    def replace(self, **changes: Any) -> FakeOptions:
        """A copy with ``changes`` applied; unknown names raise ``TypeError``."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = sorted(set(changes) - set(data))
        if unknown:
            raise TypeError(f"unknown FakeOptions field(s): {', '.join(unknown)}")
        data.update(changes)
        data["faults"] = list(data["faults"])
        return FakeOptions(**data)
