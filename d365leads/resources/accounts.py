"""client.accounts: typed account operations, deactivate and activate."""

from __future__ import annotations

from typing import ClassVar

from d365leads.models.account import Account
from d365leads.models.base import DataverseModel
from d365leads.models.enums import AccountState, AccountStatus
from d365leads.resources.base import EntitySet, RecordRef

__all__ = ["Accounts"]


class Accounts(EntitySet[Account]):
    """``client.accounts``."""

    model: ClassVar[type[DataverseModel]] = Account

    def deactivate(
        self, account: RecordRef, status: AccountStatus | int = AccountStatus.INACTIVE
    ) -> None:
        """Set the account Inactive (``statecode`` 1 with an Inactive reason)."""
        self._set_state(account, AccountState.INACTIVE, int(status))

    def activate(
        self, account: RecordRef, status: AccountStatus | int = AccountStatus.ACTIVE
    ) -> None:
        """Set the account Active again (``statecode`` 0 with an Active reason)."""
        self._set_state(account, AccountState.ACTIVE, int(status))
