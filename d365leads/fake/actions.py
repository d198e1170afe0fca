"""Executors of the Dataverse actions the fake implements, keyed by message name.

* ``QualifyLead`` (bound to ``lead``:
  ``POST leads(<id>)/Microsoft.Dynamics.CRM.QualifyLead``): closes the lead as Qualified and
  creates the account, contact and opportunity the flags ask for (``lead-lifecycle.md`` rules
  6, 7, 9, 10; ``dataverse-web-api.md`` §3).  Answers ``200`` with the
  ``Collection(crmbaseentity)`` envelope: ``@odata.type`` + primary key of each created record,
  in the order account, contact, opportunity.
* ``WinOpportunity`` / ``LoseOpportunity`` (unbound: ``POST WinOpportunity``) with
  ``{"Status": 3, "OpportunityClose": {"@odata.type": "Microsoft.Dynamics.CRM.opportunityclose",
  "opportunityid@odata.bind": "/opportunities(<id>)", "subject": …, "actualrevenue": …}}``:
  closes the opportunity as Won (1) / Lost (2) with ``Status`` and records an
  ``opportunityclose`` row (Completed).  Answers ``204`` (the actions return nothing).

Every executor validates its whole input first and writes inside ``fake.store.transaction()``,
so a failure leaves the store unchanged.  Writes go through ``crud.create_record`` /
``crud.update_record`` (the same rules as the Web API); the only exception is the
opportunity's own state change in Win/LoseOpportunity, which is what those messages exist for
(a PATCH to Won/Lost is refused by :mod:`~d365leads.fake.rules`).

QualifyLead details (switches in :class:`~d365leads.fake.options.FakeOptions`, all
UNCONFIRMED item 6 unless stated):

* the lead must be Open, else ``qualify_closed_lead_status``/``_code`` "The lead is closed. You
  cannot convert or qualify a lead that is already closed.";
* ``Status`` must be a status reason of the Qualified state (tenant-defined ones included)
  unless ``qualify_status_must_be_qualified`` is off (then the lead takes ``Status``'s state);
* account only when ``companyname`` is set (``qualify_empty_company``: ``skip`` or ``error``)
  and the lead has no ``parentaccountid`` (unless ``qualify_creates_account_when_parent_set``);
  contact only when a first or last name is set and the lead has no ``parentcontactid`` (same
  switch);
* field maps: account ``name`` <- ``companyname``, ``websiteurl``, address1 columns, lead
  ``telephone1`` -> ``address1_telephone1`` (``qualify_documented_phone_mappings``, else
  ``telephone1``); contact first/last name, ``jobtitle``, ``mobilephone``, ``emailaddress1``,
  address1 columns, lead ``telephone1`` -> ``managerphone`` (same switch, else
  ``telephone1``); opportunity ``name`` <- ``subject``, ``parentaccountid``/``parentcontactid``
  <- the lead's;
* opportunity customer: ``OpportunityCustomerId``, else the lead's parent account, parent
  contact or customer, else the new account, else the new contact; none -> 400 before any write
  (``require_opportunity_customer``);
* ``originatingleadid`` -> the lead on the opportunity (confirmed) and on the new account and
  contact (``qualify_sets_originating_lead_on_account_contact``);
* ``qualify_cross_links``: new contact ``parentcustomerid`` -> new account (else the lead's
  parent account), new account ``primarycontactid`` -> new contact;
* currency: ``OpportunityCurrencyId``, else the org base currency (``qualify_default_currency``),
  else the lead's currency; ``campaignid`` <- ``SourceCampaignId``;
* the lead gets ``qualifyingopportunityid`` (``qualify_sets_qualifying_opportunity``) and, with
  ``qualify_sets_lead_parent_links``, ``parentaccountid``/``parentcontactid`` -> the new records
  where it had none;
* ``ProcessInstanceId`` (business process flows) is not modelled: a non-null value is a 501.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import crud, rules
from .errors import CODE_INVALID_ARGUMENT, FakeFault, bad_request, not_found, not_implemented
from .http import FakeRequest, FakeResponse
from .query import service_root
from .schema import Table, table
from .store import Row, format_datetime, normalize_id

if TYPE_CHECKING:
    from .app import FakeDataverse

__all__ = [
    "BOUND_ACTIONS",
    "CLOSED_LEAD_MESSAGE",
    "UNBOUND_ACTIONS",
    "Executor",
    "lose_opportunity",
    "qualify_lead",
    "win_opportunity",
]

Executor = Callable[["FakeDataverse", FakeRequest, "str | None"], FakeResponse]

CLOSED_LEAD_MESSAGE = (
    "The lead is closed. You cannot convert or qualify a lead that is already closed."
)
CODE_PAYLOAD = "0x80048d19"
_ADDRESS = (
    "address1_line1",
    "address1_line2",
    "address1_line3",
    "address1_city",
    "address1_stateorprovince",
    "address1_postalcode",
    "address1_country",
)
_QUALIFIED = 1
_QUALIFY_PARAMETERS = {
    "CreateAccount",
    "CreateContact",
    "CreateOpportunity",
    "Status",
    "OpportunityCurrencyId",
    "OpportunityCustomerId",
    "SourceCampaignId",
    "ProcessInstanceId",
    "SuppressDuplicateDetection",
}
_CLOSE_PARAMETERS = {"Status", "OpportunityClose"}


# --- parameter parsing ----------------------------------------------------------------------


def _body(request: FakeRequest, action: str) -> dict[str, Any]:
    try:
        payload = request.json()
    except (ValueError, UnicodeDecodeError):
        raise bad_request(
            f"The {action} request body is not valid JSON; send a JSON object of parameters.",
            CODE_PAYLOAD,
        ) from None
    if not isinstance(payload, dict):
        raise bad_request(
            f"The {action} request body must be a JSON object of parameters.", CODE_PAYLOAD
        )
    return payload


def _check_names(payload: Mapping[str, Any], allowed: set[str], action: str) -> None:
    for name in payload:
        if name not in allowed:
            raise bad_request(
                f"The parameter '{name}' in the request payload is not a valid parameter for "
                f"the operation '{action}'. Its parameters are: {', '.join(sorted(allowed))}.",
                CODE_PAYLOAD,
            )


def _required(payload: Mapping[str, Any], name: str, kind: type, action: str) -> Any:
    if name not in payload or payload[name] is None:
        raise bad_request(
            f"Request message has unresolved parameters: {action} requires the non-nullable "
            f"parameter '{name}' ({'Edm.Boolean' if kind is bool else 'Edm.Int32'}).",
            CODE_PAYLOAD,
        )
    value = payload[name]
    ok = (
        isinstance(value, bool)
        if kind is bool
        else (isinstance(value, int) and not isinstance(value, bool))
    )
    if not ok:
        expected = "true or false" if kind is bool else "a whole number"
        raise bad_request(
            f"The {action} parameter '{name}' must be {expected}, not {value!r}.", CODE_PAYLOAD
        )
    return value


def _entity_parameter(
    fake: FakeDataverse,
    payload: Mapping[str, Any],
    name: str,
    allowed: tuple[str, ...],
    *,
    type_required: bool,
) -> tuple[Table, str] | None:
    """Resolve an entity-typed action parameter ``{"@odata.type": …, "<pk>": "<guid>"}``."""
    value = payload.get(name)
    if value is None:
        return None
    expected = " or ".join(f"Microsoft.Dynamics.CRM.{t}" for t in allowed)
    example = (
        f'{{"@odata.type": "Microsoft.Dynamics.CRM.{allowed[0]}", '
        f'"{table(allowed[0]).primary_key}": "<guid>"}}'
    )
    if not isinstance(value, dict):
        raise bad_request(
            f"The parameter '{name}' must be an entity object like {example}.", CODE_PAYLOAD
        )
    raw_type = value.get("@odata.type")
    if raw_type is None:
        if type_required:
            raise bad_request(
                f"The parameter '{name}' needs '@odata.type' ({expected}) because its type is "
                f"crmbaseentity; send {example}.",
                CODE_PAYLOAD,
            )
        logical = allowed[0]
    else:
        logical = str(raw_type).removeprefix("#").removeprefix("Microsoft.Dynamics.CRM.")
    if logical not in allowed:
        raise bad_request(
            f"The parameter '{name}' must be a {expected} record, not '{raw_type}'.", CODE_PAYLOAD
        )
    meta = table(logical)
    raw_id = value.get(meta.primary_key)
    if raw_id is None:
        raise bad_request(
            f"The parameter '{name}' must carry the primary key '{meta.primary_key}': {example}.",
            CODE_PAYLOAD,
        )
    try:
        record_id = normalize_id(str(raw_id))
    except ValueError:
        raise bad_request(
            f"The parameter '{name}' has '{meta.primary_key}' {raw_id!r}, which is not a GUID.",
            CODE_PAYLOAD,
        ) from None
    if not fake.store.exists(logical, record_id):
        raise not_found(logical, record_id)
    return meta, record_id


# --- QualifyLead ----------------------------------------------------------------------------


def _copy(lead: Row, pairs: Mapping[str, str]) -> Row:
    return {target: lead[source] for source, target in pairs.items() if lead.get(source)}


def _account_attributes(fake: FakeDataverse, lead: Row) -> Row:
    phone_target = (
        "address1_telephone1" if fake.options.qualify_documented_phone_mappings else "telephone1"
    )
    pairs = {"companyname": "name", "websiteurl": "websiteurl", "telephone1": phone_target}
    pairs.update({c: c for c in _ADDRESS})
    return _copy(lead, pairs)


def _contact_attributes(fake: FakeDataverse, lead: Row) -> Row:
    phone_target = (
        "managerphone" if fake.options.qualify_documented_phone_mappings else "telephone1"
    )
    pairs = {c: c for c in ("firstname", "lastname", "jobtitle", "mobilephone", "emailaddress1")}
    pairs["telephone1"] = phone_target
    pairs.update({c: c for c in _ADDRESS})
    return _copy(lead, pairs)


def _existing_customer(lead: Row) -> tuple[str, str] | None:
    if lead.get("parentaccountid"):
        return "account", str(lead["parentaccountid"])
    if lead.get("parentcontactid"):
        return "contact", str(lead["parentcontactid"])
    if lead.get("customerid") and lead.get("customeridtype") in ("account", "contact"):
        return str(lead["customeridtype"]), str(lead["customerid"])
    return None


def qualify_lead(fake: FakeDataverse, request: FakeRequest, record_id: str | None) -> FakeResponse:
    """``POST leads(<id>)/Microsoft.Dynamics.CRM.QualifyLead`` (see the module docstring)."""
    options = fake.options
    lead_meta = fake.schema.table("lead")
    payload = _body(request, "QualifyLead")
    _check_names(payload, _QUALIFY_PARAMETERS, "QualifyLead")
    create_account = _required(payload, "CreateAccount", bool, "QualifyLead")
    create_contact = _required(payload, "CreateContact", bool, "QualifyLead")
    create_opportunity = _required(payload, "CreateOpportunity", bool, "QualifyLead")
    status = _required(payload, "Status", int, "QualifyLead")
    suppress = payload.get("SuppressDuplicateDetection")
    if suppress is not None and not isinstance(suppress, bool):
        raise bad_request(
            "The QualifyLead parameter 'SuppressDuplicateDetection' must be true or false.",
            CODE_PAYLOAD,
        )
    if payload.get("ProcessInstanceId") is not None:
        raise not_implemented("QualifyLead with ProcessInstanceId (business process flows)")

    with fake.store.transaction():
        if record_id is None:
            raise bad_request("QualifyLead must be called on a lead: leads(<id>)/…", CODE_PAYLOAD)
        lead = fake.store.get("lead", record_id)
        if lead is None:
            raise not_found("lead", record_id)
        lead_id = str(lead["leadid"])
        if lead.get("statecode") != 0:
            raise FakeFault(
                options.qualify_closed_lead_status,
                options.qualify_closed_lead_code,
                CLOSED_LEAD_MESSAGE,
            )
        model = rules.status_model(lead_meta, options)
        status_option = model.status(status)
        if status_option is None:
            raise rules.invalid_pair(model, status, None, lead_id, options)
        if options.qualify_status_must_be_qualified and status_option.state != _QUALIFIED:
            raise rules.invalid_pair(model, status, _QUALIFIED, lead_id, options)
        lead_state = status_option.state

        currency = _entity_parameter(
            fake, payload, "OpportunityCurrencyId", ("transactioncurrency",), type_required=False
        )
        given_customer = _entity_parameter(
            fake, payload, "OpportunityCustomerId", ("account", "contact"), type_required=True
        )
        campaign = _entity_parameter(
            fake, payload, "SourceCampaignId", ("campaign",), type_required=False
        )

        # Decide everything before the first write (rule 7: errors before any change).
        existing_customer = _existing_customer(lead)
        new_parent = options.qualify_creates_account_when_parent_set
        make_account = create_account and (new_parent or not lead.get("parentaccountid"))
        if make_account and not lead.get("companyname"):
            if options.qualify_empty_company == "error":
                raise bad_request(
                    f"CreateAccount is true but lead {lead_id} has no Company (companyname); "
                    "set companyname or pass CreateAccount false.",
                    CODE_INVALID_ARGUMENT,
                )
            make_account = False
        has_name = bool(lead.get("firstname") or lead.get("lastname"))
        make_contact = (
            create_contact and has_name and (new_parent or not lead.get("parentcontactid"))
        )
        customer: tuple[str, str] | None = None
        if given_customer is not None:
            customer = (given_customer[0].logical_name, given_customer[1])
        elif existing_customer is not None:
            customer = existing_customer
        if (
            create_opportunity
            and customer is None
            and not make_account
            and not make_contact
            and options.require_opportunity_customer
        ):
            raise bad_request(
                f"Qualifying lead {lead_id} would create an opportunity without a customer: "
                "the lead has no existing account or contact, no Company to create an account "
                "from and no name to create a contact from. Pass OpportunityCustomerId, set the "
                "lead's parentaccountid/parentcontactid, or fill companyname or a name.",
                CODE_INVALID_ARGUMENT,
            )

        created: list[tuple[Table, Row]] = []
        account: Row | None = None
        contact: Row | None = None
        if make_account:
            attrs = _account_attributes(fake, lead)
            if options.qualify_sets_originating_lead_on_account_contact:
                attrs["originatingleadid"] = lead_id
            account = crud.create_record(fake, fake.schema.table("account"), attrs)
            created.append((fake.schema.table("account"), account))
        if make_contact:
            attrs = _contact_attributes(fake, lead)
            if options.qualify_sets_originating_lead_on_account_contact:
                attrs["originatingleadid"] = lead_id
            if options.qualify_cross_links:
                parent = account["accountid"] if account else lead.get("parentaccountid")
                if parent:
                    attrs["parentcustomerid"] = parent
                    attrs["parentcustomeridtype"] = "account"
            contact = crud.create_record(fake, fake.schema.table("contact"), attrs)
            created.append((fake.schema.table("contact"), contact))
        if account is not None and contact is not None and options.qualify_cross_links:
            account = crud.update_record(
                fake,
                fake.schema.table("account"),
                account["accountid"],
                {"primarycontactid": contact["contactid"]},
            )

        parent_account = lead.get("parentaccountid")
        parent_contact = lead.get("parentcontactid")
        lead_changes: Row = {"statecode": lead_state, "statuscode": status}
        if options.qualify_sets_lead_parent_links:
            if not parent_account and account is not None:
                parent_account = account["accountid"]
                lead_changes["parentaccountid"] = parent_account
            if not parent_contact and contact is not None:
                parent_contact = contact["contactid"]
                lead_changes["parentcontactid"] = parent_contact

        if create_opportunity:
            if customer is None and account is not None:
                customer = ("account", str(account["accountid"]))
            if customer is None and contact is not None:
                customer = ("contact", str(contact["contactid"]))
            opp: Row = {"originatingleadid": lead_id}
            if lead.get("subject"):
                opp["name"] = lead["subject"]
            if customer is not None:
                opp["customerid"] = customer[1]
                opp["customeridtype"] = customer[0]
            if parent_account:
                opp["parentaccountid"] = parent_account
            if parent_contact:
                opp["parentcontactid"] = parent_contact
            if currency is not None:
                opp["transactioncurrencyid"] = currency[1]
            elif options.qualify_default_currency:
                opp["transactioncurrencyid"] = fake.base_currency_id
            elif lead.get("transactioncurrencyid"):
                opp["transactioncurrencyid"] = lead["transactioncurrencyid"]
            if campaign is not None:
                opp["campaignid"] = campaign[1]
            opportunity = crud.create_record(fake, fake.schema.table("opportunity"), opp)
            created.append((fake.schema.table("opportunity"), opportunity))
            if options.qualify_sets_qualifying_opportunity:
                lead_changes["qualifyingopportunityid"] = opportunity["opportunityid"]

        crud.update_record(fake, lead_meta, lead_id, lead_changes)

    root = service_root(request)
    return FakeResponse.json_body(
        200,
        {
            "@odata.context": f"{root}$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)",
            "value": [
                {
                    "@odata.type": f"#Microsoft.Dynamics.CRM.{meta.logical_name}",
                    meta.primary_key: row[meta.primary_key],
                }
                for meta, row in created
            ],
        },
    )


# --- WinOpportunity / LoseOpportunity -------------------------------------------------------


def _close_opportunity(
    fake: FakeDataverse, request: FakeRequest, action: str, state: int
) -> FakeResponse:
    options = fake.options
    opp_meta = fake.schema.table("opportunity")
    close_meta = fake.schema.table("opportunityclose")
    payload = _body(request, action)
    _check_names(payload, _CLOSE_PARAMETERS, action)
    status = _required(payload, "Status", int, action)
    close = payload.get("OpportunityClose")
    if not isinstance(close, dict):
        raise bad_request(
            f"Request message has unresolved parameters: {action} requires 'OpportunityClose', "
            'an object like {"@odata.type": "Microsoft.Dynamics.CRM.opportunityclose", '
            '"opportunityid@odata.bind": "/opportunities(<id>)", "subject": "…"}.',
            CODE_PAYLOAD,
        )
    with fake.store.transaction():
        attrs = crud.attributes_from_body(fake, close_meta, close)
        opportunity_id = attrs.get("opportunityid")
        if not opportunity_id:
            raise bad_request(
                f"{action}: OpportunityClose must name the opportunity with "
                '"opportunityid@odata.bind": "/opportunities(<id>)".',
                CODE_PAYLOAD,
            )
        opportunity = fake.store.get("opportunity", str(opportunity_id))
        if opportunity is None:
            raise not_found("opportunity", str(opportunity_id))
        if opportunity.get("statecode") != 0:
            current = opp_meta.state(int(opportunity.get("statecode") or 0))
            raise bad_request(
                f"The opportunity with Id {opportunity_id} is already closed "
                f"({current.label if current else opportunity.get('statecode')}); reopen it "
                "(PATCH statecode 0) before closing it again.",
                CODE_INVALID_ARGUMENT,
            )
        rules.check_pair(opp_meta, state, status, options, str(opportunity_id))
        if attrs.get("transactioncurrencyid") is None and opportunity.get("transactioncurrencyid"):
            attrs["transactioncurrencyid"] = opportunity["transactioncurrencyid"]
        close_row = crud.create_record(fake, close_meta, attrs)
        fake.store.update(
            "opportunityclose",
            close_row["activityid"],
            {"statecode": 1, "statuscode": rules.default_status(close_meta, 1, options)},
            actor=fake.caller_id,
        )
        changes: Row = {"statecode": state, "statuscode": status}
        if attrs.get("actualrevenue") is not None:
            changes["actualvalue"] = attrs["actualrevenue"]
        actual_end = attrs.get("actualend")
        changes["actualclosedate"] = actual_end or format_datetime(fake.store.now())[:10]
        # The state change itself is what this message is for; rules refuse it as a PATCH.
        fake.store.update("opportunity", str(opportunity_id), changes, actor=fake.caller_id)
    return FakeResponse.empty(204)


def win_opportunity(
    fake: FakeDataverse, request: FakeRequest, record_id: str | None
) -> FakeResponse:
    """``POST WinOpportunity``: close an open opportunity as Won (state 1)."""
    del record_id  # unbound
    return _close_opportunity(fake, request, "WinOpportunity", 1)


def lose_opportunity(
    fake: FakeDataverse, request: FakeRequest, record_id: str | None
) -> FakeResponse:
    """``POST LoseOpportunity``: close an open opportunity as Lost (state 2)."""
    del record_id  # unbound
    return _close_opportunity(fake, request, "LoseOpportunity", 2)


BOUND_ACTIONS: Mapping[tuple[str, str], Executor] = MappingProxyType(
    {("lead", "QualifyLead"): qualify_lead}
)
"""Bound actions by ``(table logical name, action name without the namespace)``."""

UNBOUND_ACTIONS: Mapping[str, Executor] = MappingProxyType(
    {"WinOpportunity": win_opportunity, "LoseOpportunity": lose_opportunity}
)
"""Unbound actions by name."""
