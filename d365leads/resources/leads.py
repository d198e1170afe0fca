"""client.leads: typed lead operations plus the lifecycle (qualify, disqualify, reactivate).

- qualify: ``POST leads(<id>)/Microsoft.Dynamics.CRM.QualifyLead`` with entity parameters as
  ``{"@odata.type": "Microsoft.Dynamics.CRM.<table>", "<table>id": id}``
  (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/use-web-api-actions);
- disqualify / reactivate: ``PATCH leads(<id>)`` of ``statecode`` and ``statuscode`` together
  (``SetState`` is deprecated in favour of an update).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from d365leads.errors import (
    DataverseError,
    InactiveRecordError,
    InvalidInputError,
    InvalidStatusError,
    LeadClosedError,
    NoCustomerError,
    NotFoundError,
    NotSupportedError,
    QualifyResponseError,
)
from d365leads.http.pipeline import ApiSession
from d365leads.metadata import StatusMetadata
from d365leads.models.account import Account
from d365leads.models.base import DataverseModel, Lookup, entity_set_of
from d365leads.models.contact import Contact
from d365leads.models.enums import DisqualifyReason, LeadState, LeadStatus
from d365leads.models.lead import Lead
from d365leads.models.opportunity import Opportunity
from d365leads.odata.query import Expr, Query, col
from d365leads.records import RecordsAPI
from d365leads.resources.base import EntitySet, RecordRef
from d365leads.resources.qualify_answer import (
    QualifyResult,
    created_records,
    customer_reference,
    entity_parameter,
    parse_qualify_response,
    reference,
)
from d365leads.views import View, ViewsAPI

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CLOSED_LEADS_VIEW",
    "MY_OPEN_LEADS_VIEW",
    "Leads",
    "QualifyResult",
    "parse_qualify_response",
]

log = logging.getLogger("d365leads.views")

#: The Sales system views that closed() and my_open() run when the org has them.
CLOSED_LEADS_VIEW = "Closed Leads"
MY_OPEN_LEADS_VIEW = "My Open Leads"

#: Columns the qualification checks need (rule 7 and rule 9).
_QUALIFY_COLUMNS = (
    "leadid",
    "statecode",
    "statuscode",
    "subject",
    "companyname",
    "firstname",
    "lastname",
    "_parentaccountid_value",
    "_parentcontactid_value",
)


def _status_value(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidStatusError(
            f"{what} must be an int or a status enum (e.g. DisqualifyReason.LOST), got {value!r}"
        )
    return int(value)


class Leads(EntitySet[Lead]):
    """``client.leads``: CRUD on leads and the lead lifecycle."""

    model: ClassVar[type[DataverseModel]] = Lead

    def __init__(self, records: RecordsAPI, session: ApiSession, metadata: StatusMetadata) -> None:
        super().__init__(records, session, metadata)
        self._announced_fallbacks: set[str] = set()

    # -- views -------------------------------------------------------------------------------

    def _scoped(self, query: Query | Expr | str | None, condition: Expr) -> Query:
        return self._query(query).where(condition)

    def _builtin_condition(self, name: str) -> Expr:
        """The condition of a built-in view: ``open``, ``closed`` or ``my_open``."""
        if name == "open":
            return col("statecode") == LeadState.OPEN
        if name == "closed":
            return col("statecode").in_([LeadState.QUALIFIED, LeadState.DISQUALIFIED])
        me = self._records.whoami()
        return (col("statecode") == LeadState.OPEN) & (col("_ownerid_value") == UUID(me.user_id))

    def closed(
        self, query: Query | Expr | str | None = None, *, page_size: int | None = None
    ) -> Iterator[Lead]:
        """The Closed Leads view: every qualified or disqualified lead (rule 4).

        Without ``query`` this runs the org's own "Closed Leads" system view, so a tenant that
        changed that view gets its answer; an org without the view gets the built-in filter
        (``statecode`` Qualified or Disqualified), and the log says so once. With ``query``
        (a saved view cannot take extra OData conditions) the built-in filter is used.
        ``page_size`` applies to the built-in filter only.
        """
        view = self._org_view(CLOSED_LEADS_VIEW) if query is None else None
        if view is not None:
            return self._run_view(view)
        return self.list(
            self._scoped(query, self._builtin_condition("closed")), page_size=page_size
        )

    def my_open(
        self, query: Query | Expr | str | None = None, *, page_size: int | None = None
    ) -> Iterator[Lead]:
        """The My Open Leads view: open leads owned by the calling user.

        Runs the org's "My Open Leads" system view when there is no ``query`` and the org
        has it; otherwise the built-in filter (open, owned by ``WhoAmI``'s user), as
        :meth:`closed` does.
        """
        view = self._org_view(MY_OPEN_LEADS_VIEW) if query is None else None
        if view is not None:
            return self._run_view(view)
        return self.list(
            self._scoped(query, self._builtin_condition("my_open")), page_size=page_size
        )

    def _org_view(self, name: str) -> View | None:
        try:
            found = [view for view in self.views.list("lead", personal=False) if view.name == name]
        except (NotFoundError, NotSupportedError):
            # An org (or fake) without the savedqueries table has no views at all.
            found = []
        if len(found) > 1:
            listed = "; ".join(view.describe() for view in found)
            raise InvalidInputError(
                f"the org has {len(found)} system views named {name!r}: {listed}; "
                "run the right one with client.leads.view(<id>)"
            )
        if found:
            return found[0]
        if name not in self._announced_fallbacks:
            self._announced_fallbacks.add(name)
            log.warning(
                "the org has no %r system view for leads; using the built-in filter instead",
                name,
            )
        return None

    def _run_view(self, view: View) -> Iterator[Lead]:
        for row in self.views.run(self.entity_set, view):
            yield self._parse(row)

    @property
    def views(self) -> ViewsAPI:
        """The saved views (``client.views`` shares the same session)."""
        return ViewsAPI(self._records)

    def view(self, name_or_id: str) -> Iterator[Lead]:
        """Run a lead view by name (``"Closed Leads"``) or id, system or personal.

        :raises InvalidInputError: no such view, or an ambiguous name (the message lists the
            near matches and the ids to choose from).
        """
        view = self.views.find("lead", name_or_id)
        return self._run_view(view)

    def fetch(self, xml: str, *, page_size: int | None = None) -> Iterator[Lead]:
        """Run a FetchXML query of leads and yield :class:`Lead` models, one page in memory.

        Link-entity columns (``alias.column``) are kept as extra attributes of each lead
        (``lead.extra["acc.name"]``). For aggregates, use ``client.records.fetch``.

        :raises InvalidInputError: malformed XML (the error names the line), or a query of
            another table; nothing is sent.
        """
        rows = self._records.fetch(self.entity_set, xml, page_size=page_size)
        return (self._parse(row) for row in rows)

    def open(
        self, query: Query | Expr | str | None = None, *, page_size: int | None = None
    ) -> Iterator[Lead]:
        """Every open lead, whoever owns it."""
        return self.list(self._scoped(query, self._builtin_condition("open")), page_size=page_size)

    def to_dataframe(
        self,
        query_or_view: Query | Expr | str | None = None,
        *,
        columns: list[str] | tuple[str, ...] | None = None,
        page_size: int | None = None,
    ) -> pd.DataFrame:
        """Leads as a typed pandas DataFrame (``d365leads[pandas]``); see
        :meth:`RecordsAPI.to_dataframe <d365leads.records.RecordsAPI.to_dataframe>`.

        :param query_or_view: a query or filter, or a view: ``"open"``, ``"closed"`` or
            ``"my_open"``.
        """
        from d365leads.frames import read_frame

        if isinstance(query_or_view, str) and query_or_view in ("open", "closed", "my_open"):
            query = self._scoped(None, self._builtin_condition(query_or_view))
        else:
            query = self._query(query_or_view)
        return read_frame(
            self._session, "lead", self.entity_set, query, columns=columns, page_size=page_size
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def qualify(
        self,
        lead: RecordRef,
        *,
        create_account: bool = True,
        create_contact: bool = True,
        create_opportunity: bool = True,
        currency: RecordRef | None = None,
        customer: Account | Contact | Lookup | None = None,
        campaign: RecordRef | None = None,
        status: LeadStatus | int = LeadStatus.QUALIFIED,
    ) -> QualifyResult:
        """Qualify an open lead: close it as Qualified and create account/contact/opportunity.

        Checks are made before anything is written: the lead must exist and be open
        (:class:`LeadClosedError`, rule 9), ``status`` must be a Qualified reason
        (:class:`InvalidStatusError`), and an opportunity must get a customer
        (:class:`NoCustomerError`, rule 7): the given ``customer``, the lead's existing parent
        account/contact, a new account (needs ``companyname``) or a new contact (needs a name).

        :returns: the closed lead and the created records, read back after the call.
        :raises QualifyResponseError: the action answered with success but the answer does not
            say which records it created (no body, no ``value``, an element without its type,
            or without its key when no record originating from the lead can be found). The
            lead is read again for the error; the action is never sent twice.
        """
        lead_id = self.id_of(lead)
        status_value = _status_value(status, "status")
        currency_ref = reference(currency, "transactioncurrency", "currency")
        campaign_ref = reference(campaign, "campaign", "campaign")
        customer_ref = customer_reference(customer)
        flags = {
            "create_account": create_account,
            "create_contact": create_contact,
            "create_opportunity": create_opportunity,
        }
        for name, flag in flags.items():
            if not isinstance(flag, bool):
                raise InvalidInputError(f"{name} must be True or False, got {flag!r}")

        current = self.get(lead_id, select=_QUALIFY_COLUMNS)
        if current.statecode is not LeadState.OPEN:
            state = current.formatted("statecode") or (
                current.statecode.name.title() if current.statecode is not None else "closed"
            )
            raise LeadClosedError(
                f"lead {lead_id} is closed ({state}): a lead that is already qualified or "
                "disqualified cannot be qualified; reactivate it first"
            )
        self._check_status(status_value, LeadState.QUALIFIED)
        if create_opportunity and customer_ref is None:
            self._require_customer(current, create_account, create_contact)

        body: dict[str, Any] = {
            "CreateAccount": create_account,
            "CreateContact": create_contact,
            "CreateOpportunity": create_opportunity,
            "Status": status_value,
        }
        if currency_ref is not None:
            body["OpportunityCurrencyId"] = entity_parameter(currency_ref)
        if customer_ref is not None:
            body["OpportunityCustomerId"] = entity_parameter(customer_ref)
        if campaign_ref is not None:
            body["SourceCampaignId"] = entity_parameter(campaign_ref)
        response = self._session.request(
            "POST", f"leads({lead_id})/Microsoft.Dynamics.CRM.QualifyLead", json=body
        )
        created, missing = created_records(response, any(flags.values()))
        if missing is not None:
            raise self._unusable_qualify_answer(lead_id, response.status, missing)
        refs: list[Lookup] = []
        found: dict[str, DataverseModel] = {}
        for table, created_id in created:
            model = _MODELS.get(table)
            if model is None or table in found:
                if created_id is not None:
                    refs.append(Lookup(id=created_id, table=table))
                continue
            record = self._read_created(model, created_id, lead_id)
            if record is None or record.id is None:
                raise self._unusable_qualify_answer(
                    lead_id,
                    response.status,
                    f"the id of the created {table} ('{table}id'), and no {table} originating "
                    "from the lead was found",
                )
            found[table] = record
            refs.append(Lookup(id=record.id, table=table))
        closed = self.get(lead_id)
        if isinstance(lead, Lead):
            # the lead just read holds the new etag and state: no second read
            self._take_version(lead, closed)
        account = found.get("account")
        contact = found.get("contact")
        opportunity = found.get("opportunity")
        return QualifyResult(
            lead=closed,
            account=account if isinstance(account, Account) else None,
            contact=contact if isinstance(contact, Contact) else None,
            opportunity=opportunity if isinstance(opportunity, Opportunity) else None,
            created=tuple(refs),
        )

    def _read_created(
        self, model: type[DataverseModel], record_id: UUID | None, lead_id: UUID
    ) -> DataverseModel | None:
        entity_set = entity_set_of(model.logical_name)
        if record_id is not None:
            return model.from_wire(self._records.get(entity_set, record_id, annotations=True))
        # The element content is not documented (UNCONFIRMED): an element may name its table
        # without the key, and then the newest record of that table that points back to this
        # lead is the one the action just created.
        query = (
            Query(entity_set)
            .where(col("_originatingleadid_value") == lead_id)
            .order_by("createdon desc")
            .top(1)
        )
        for row in self._records.query(entity_set, query, annotations=True):
            return model.from_wire(row)
        return None

    def _unusable_qualify_answer(
        self, lead_id: UUID, status: int, missing: str
    ) -> QualifyResponseError:
        """The error for a QualifyLead success that does not name what it created.

        The action is never re-sent (it may have created records); the lead is read again so
        the error can say whether the qualification took effect.
        """
        state: str | None = None
        try:
            lead = self.get(lead_id, select=("leadid", "statecode", "statuscode"))
        except DataverseError as exc:
            seen = f"reading the lead again failed too ({type(exc).__name__}), so it is unknown"
        else:
            state = lead.formatted("statecode") or (
                lead.statecode.name.title() if lead.statecode is not None else None
            )
            seen = f"the lead was read again and is now {state or 'in an unknown state'}"
        return QualifyResponseError(
            f"QualifyLead for lead {lead_id} answered HTTP {status} without {missing}; {seen}. "
            "The action was not sent again, since it may already have created records: find "
            f"them by their originating lead (_originatingleadid_value eq {lead_id}) before "
            "trying again",
            lead_id=str(lead_id),
            missing=missing,
            lead_state=state,
        )

    @staticmethod
    def _require_customer(lead: Lead, create_account: bool, create_contact: bool) -> None:
        if lead.parentaccountid is not None or lead.parentcontactid is not None:
            return
        has_company = bool((lead.companyname or "").strip())
        has_name = bool((lead.firstname or "").strip() or (lead.lastname or "").strip())
        if create_account and has_company:
            return
        if create_contact and has_name:
            return
        reasons = []
        if not create_account:
            reasons.append("create_account is False")
        elif not has_company:
            reasons.append("the lead has no company name (so no account can be created)")
        if not create_contact:
            reasons.append("create_contact is False")
        elif not has_name:
            reasons.append("the lead has no first or last name (so no contact can be created)")
        raise NoCustomerError(
            f"qualifying lead {lead.id} would create an opportunity with no customer: "
            f"{'; '.join(reasons)}, and it has no existing parent account or contact. "
            "Set the lead's company or name, pass customer=<Account or Contact>, "
            "or pass create_opportunity=False"
        )

    def disqualify(self, lead: RecordRef, reason: DisqualifyReason | int) -> Lead:
        """Close an open lead as Disqualified with ``reason`` (rule 1); the record is kept.

        ``reason`` is a :class:`DisqualifyReason` or a tenant-defined Disqualified reason (an
        int, checked against the org's status metadata).

        :raises LeadClosedError: the lead is already qualified or disqualified.
        :raises InvalidStatusError: ``reason`` is not a Disqualified reason.
        """
        lead_id = self.id_of(lead)
        reason_value = _status_value(reason, "reason")
        self._check_status(reason_value, LeadState.DISQUALIFIED)
        state = self._known_state(lead, lead_id)
        if state != LeadState.OPEN:
            raise LeadClosedError(
                f"lead {lead_id} is already closed ({LeadState(state).name.title()}); "
                "reactivate it before disqualifying it"
            )
        self._set_state(lead, LeadState.DISQUALIFIED, reason_value)
        return lead if isinstance(lead, Lead) else self.get(lead_id)

    def reactivate(self, lead: RecordRef, status: LeadStatus | int = LeadStatus.NEW) -> Lead:
        """Reopen a qualified or disqualified lead (rule 5); the owner is kept.

        Only ``statecode`` and ``statuscode`` are sent, never ``ownerid``. An open lead is
        left as it is.

        :raises InvalidStatusError: ``status`` is not an Open reason.
        """
        lead_id = self.id_of(lead)
        status_value = _status_value(status, "status")
        self._check_status(status_value, LeadState.OPEN)
        state = self._known_state(lead, lead_id)
        if state != LeadState.OPEN:
            self._set_state(lead, LeadState.OPEN, status_value)
        return lead if isinstance(lead, Lead) else self.get(lead_id)

    def _check_delete(self, record: RecordRef, record_id: UUID, *, force: bool) -> None:
        # Rule 2: closed leads are kept for history; deleting one needs an explicit override.
        if force:
            return
        state = self._known_state(record, record_id)
        if state != LeadState.OPEN:
            raise InactiveRecordError(
                f"lead {record_id} is closed ({LeadState(state).name.title()}); closed leads "
                "are kept for history. Pass {override} to delete it anyway"
            )


_MODELS: dict[str, type[DataverseModel]] = {
    "account": Account,
    "contact": Contact,
    "opportunity": Opportunity,
}
