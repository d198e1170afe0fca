"""client.opportunities: typed opportunity operations, win, lose and reopen.

Won/Lost are reached through the unbound ``WinOpportunity`` / ``LoseOpportunity`` actions,
which also record an ``opportunityclose`` activity
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/winopportunity).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from d365leads.models.base import DataverseModel
from d365leads.models.enums import OpportunityState, OpportunityStatus
from d365leads.models.opportunity import Opportunity
from d365leads.records import odata_bind
from d365leads.resources.base import EntitySet, RecordRef

__all__ = ["Opportunities"]


class Opportunities(EntitySet[Opportunity]):
    """``client.opportunities``."""

    model: ClassVar[type[DataverseModel]] = Opportunity

    def win(
        self,
        opportunity: RecordRef,
        *,
        status: OpportunityStatus | int = OpportunityStatus.WON,
        subject: str | None = None,
        actual_revenue: Decimal | float | None = None,
        close_date: date | None = None,
        description: str | None = None,
    ) -> None:
        """Close an open opportunity as Won (``WinOpportunity``).

        :raises InactiveRecordError: the opportunity is already won or lost.
        :raises InvalidStatusError: ``status`` is not a Won reason.
        """
        self._close(
            "WinOpportunity", opportunity, OpportunityState.WON, status,
            subject or "Won", actual_revenue, close_date, description,
        )  # fmt: skip

    def lose(
        self,
        opportunity: RecordRef,
        *,
        status: OpportunityStatus | int = OpportunityStatus.CANCELED,
        subject: str | None = None,
        actual_revenue: Decimal | float | None = None,
        close_date: date | None = None,
        description: str | None = None,
    ) -> None:
        """Close an open opportunity as Lost (``LoseOpportunity``), Canceled by default.

        :raises InactiveRecordError: the opportunity is already won or lost.
        :raises InvalidStatusError: ``status`` is not a Lost reason.
        """
        self._close(
            "LoseOpportunity", opportunity, OpportunityState.LOST, status,
            subject or "Lost", actual_revenue, close_date, description,
        )  # fmt: skip

    def reopen(
        self,
        opportunity: RecordRef,
        status: OpportunityStatus | int = OpportunityStatus.IN_PROGRESS,
    ) -> None:
        """Reopen a won or lost opportunity (``statecode`` 0); an open one is left as it is."""
        record_id = self.id_of(opportunity)
        self._check_status(int(status), OpportunityState.OPEN)
        if self._known_state(opportunity, record_id) != OpportunityState.OPEN:
            self._set_state(opportunity, OpportunityState.OPEN, int(status))

    def _close(
        self,
        action: str,
        opportunity: RecordRef,
        state: OpportunityState,
        status: OpportunityStatus | int,
        subject: str,
        actual_revenue: Decimal | float | None,
        close_date: date | None,
        description: str | None,
    ) -> None:
        record_id = self.id_of(opportunity)
        self._check_status(int(status), state)
        self._ensure_active(opportunity, record_id)
        close: dict[str, Any] = {
            "subject": subject,
            "opportunityid@odata.bind": odata_bind(self.entity_set, record_id),
        }
        if actual_revenue is not None:
            close["actualrevenue"] = float(actual_revenue)
        if close_date is not None:
            close["actualend"] = close_date.isoformat()
        if description is not None:
            close["description"] = description
        self._session.request(
            "POST", action, json={"Status": int(status), "OpportunityClose": close}
        )
        if isinstance(opportunity, Opportunity):
            self._refresh_version(opportunity, record_id)
