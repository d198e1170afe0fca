"""QualifyLead as a function over the store: close the lead, create what the flags ask for.

The lead (``POST leads(<id>)/Microsoft.Dynamics.CRM.QualifyLead``) is closed as Qualified and
the account, contact and opportunity the flags ask for are created (``lead-lifecycle.md`` rules
6, 7, 9, 10; ``dataverse-web-api.md`` §3).  Everything is validated before the first write, and
the writes happen inside ``store.transaction()``, so a failure leaves the store unchanged.
Writes go through ``records.create_record`` / ``records.update_record`` (the same rules as the
Web API).  The wire side (parameter names, required flags, the answer) is
:mod:`~d365leads.fake.handlers.actions`.

QualifyLead details (switches in :class:`~d365leads.fake.core.options.FakeOptions`, all
UNCONFIRMED item 6 unless stated):

* the lead must be Open, else ``qualify_closed_lead_status``/``_code`` "The lead is closed. You
  cannot convert or qualify a lead that is already closed.";
* ``Status`` must be a status reason of the Qualified state (tenant-defined ones included)
  unless ``qualify_status_must_be_qualified`` is off (then the lead takes ``Status``'s state);
* account only when ``companyname`` is set (``qualify_empty_company``: ``skip`` or ``error``)
  and the lead has no ``parentaccountid`` (unless ``qualify_creates_account_when_parent_set``);
  contact only when a first or last name is set and the lead has no ``parentcontactid`` (same
  switch);
* field maps: the org's lead -> account/contact/opportunity ``attributemap`` rows
  (:mod:`.entity_maps`, the maps InitializeFrom answers; seeded: account ``name`` <-
  ``companyname``, ``websiteurl``, address1 columns, lead ``telephone1`` ->
  ``address1_telephone1`` (``qualify_documented_phone_mappings``, else ``telephone1``); contact
  first/last name, ``jobtitle``, ``mobilephone``, ``emailaddress1``, address1 columns, lead
  ``telephone1`` -> ``managerphone`` (same switch, else ``telephone1``); opportunity ``name``
  <- ``subject``), lookups excepted; ``parentaccountid``/``parentcontactid`` <- the lead's;
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

from collections.abc import Mapping
from typing import Any

from ..core.fault import CODE_INVALID_ARGUMENT, FakeFault, bad_request, not_found
from ..core.values import Row, normalize_id
from . import records
from .entity_maps import attribute_pairs
from .schema import Table
from .state import OrgState
from .states import invalid_pair, status_model
from .tables import table
from .values import CODE_PAYLOAD

__all__ = ["CLOSED_LEAD_MESSAGE", "entity_parameter", "qualify"]

CLOSED_LEAD_MESSAGE = (
    "The lead is closed. You cannot convert or qualify a lead that is already closed."
)
_QUALIFIED = 1


def entity_parameter(
    org: OrgState,
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
    if not org.store.exists(logical, record_id):
        raise not_found(logical, record_id)
    return meta, record_id


def _mapped(org: OrgState, lead: Row, target: str) -> Row:
    """The lead's values for the columns the org maps to ``target`` (``attributemap`` rows,
    :mod:`.entity_maps`; the same maps InitializeFrom answers). Lookups are left to the
    rules below (originating lead, parents, customer)."""
    meta = org.schema.table(target)
    out: Row = {}
    for source, column_name in attribute_pairs(org.store, "lead", target) or ():
        column = meta.column(column_name)
        if column is not None and not column.is_lookup and not column.readonly and lead.get(source):
            out[column_name] = lead[source]
    return out


def _existing_customer(lead: Row) -> tuple[str, str] | None:
    if lead.get("parentaccountid"):
        return "account", str(lead["parentaccountid"])
    if lead.get("parentcontactid"):
        return "contact", str(lead["parentcontactid"])
    if lead.get("customerid") and lead.get("customeridtype") in ("account", "contact"):
        return str(lead["customeridtype"]), str(lead["customerid"])
    return None


def qualify(
    org: OrgState,
    record_id: str | None,
    payload: Mapping[str, Any],
    *,
    create_account: bool,
    create_contact: bool,
    create_opportunity: bool,
    status: int,
) -> list[tuple[Table, Row]]:
    """Qualify lead ``record_id`` (see the module docstring); return the created rows in the
    order account, contact, opportunity.

    ``payload`` holds the entity-typed parameters (``OpportunityCurrencyId``,
    ``OpportunityCustomerId``, ``SourceCampaignId``), resolved against the store here.
    """
    options = org.options
    lead_meta = org.schema.table("lead")
    with org.store.transaction():
        if record_id is None:
            raise bad_request("QualifyLead must be called on a lead: leads(<id>)/…", CODE_PAYLOAD)
        lead = org.store.get("lead", record_id)
        if lead is None:
            raise not_found("lead", record_id)
        lead_id = str(lead["leadid"])
        if lead.get("statecode") != 0:
            raise FakeFault(
                options.qualify_closed_lead_status,
                options.qualify_closed_lead_code,
                CLOSED_LEAD_MESSAGE,
            )
        model = status_model(lead_meta, options)
        status_option = model.status(status)
        if status_option is None:
            raise invalid_pair(model, status, None, lead_id, options)
        if options.qualify_status_must_be_qualified and status_option.state != _QUALIFIED:
            raise invalid_pair(model, status, _QUALIFIED, lead_id, options)
        lead_state = status_option.state

        currency = entity_parameter(
            org, payload, "OpportunityCurrencyId", ("transactioncurrency",), type_required=False
        )
        given_customer = entity_parameter(
            org, payload, "OpportunityCustomerId", ("account", "contact"), type_required=True
        )
        campaign = entity_parameter(
            org, payload, "SourceCampaignId", ("campaign",), type_required=False
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
            attrs = _mapped(org, lead, "account")
            if options.qualify_sets_originating_lead_on_account_contact:
                attrs["originatingleadid"] = lead_id
            account = records.create_record(org, org.schema.table("account"), attrs)
            created.append((org.schema.table("account"), account))
        if make_contact:
            attrs = _mapped(org, lead, "contact")
            if options.qualify_sets_originating_lead_on_account_contact:
                attrs["originatingleadid"] = lead_id
            if options.qualify_cross_links:
                parent = account["accountid"] if account else lead.get("parentaccountid")
                if parent:
                    attrs["parentcustomerid"] = parent
                    attrs["parentcustomeridtype"] = "account"
            contact = records.create_record(org, org.schema.table("contact"), attrs)
            created.append((org.schema.table("contact"), contact))
        if account is not None and contact is not None and options.qualify_cross_links:
            account = records.update_record(
                org,
                org.schema.table("account"),
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
            opp: Row = {**_mapped(org, lead, "opportunity"), "originatingleadid": lead_id}
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
                opp["transactioncurrencyid"] = org.base_currency_id
            elif lead.get("transactioncurrencyid"):
                opp["transactioncurrencyid"] = lead["transactioncurrencyid"]
            if campaign is not None:
                opp["campaignid"] = campaign[1]
            opportunity = records.create_record(org, org.schema.table("opportunity"), opp)
            created.append((org.schema.table("opportunity"), opportunity))
            if options.qualify_sets_qualifying_opportunity:
                lead_changes["qualifyingopportunityid"] = opportunity["opportunityid"]

        records.update_record(org, lead_meta, lead_id, lead_changes)
        org.store.applied.qualified(lead_id)

    return created
