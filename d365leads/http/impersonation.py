"""Acting as another user: the ``CallerObjectId`` and ``MSCRMCallerID`` request headers.

An application user with the ``prvActOnBehalfOfAnotherUser`` privilege may send each request on
behalf of another Dataverse user, named by its Microsoft Entra object id (``CallerObjectId``,
the preferred form) or by its ``systemuserid`` (``MSCRMCallerID``, the older form)
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/impersonate-another-user-web-api).
Service-protection limits are counted per user, so one app registration acting as several
application users may be admitted several times the rate; whether it is, is not documented.
"""

from __future__ import annotations

from dataclasses import dataclass

from d365leads.errors import InvalidInputError
from d365leads.odata.literals import normalize_guid

__all__ = ["Caller"]


@dataclass(frozen=True)
class Caller:
    """The user a session acts as: give exactly one of ``object_id`` and ``systemuser_id``.

    ``object_id`` is the user's Entra object id (sent as ``CallerObjectId``; a systemuser's
    ``azureactivedirectoryobjectid``); ``systemuser_id`` its Dataverse id (``MSCRMCallerID``).
    """

    object_id: str | None = None
    systemuser_id: str | None = None

    def __post_init__(self) -> None:
        if (self.object_id is None) == (self.systemuser_id is None):
            raise InvalidInputError(
                "impersonate one user: give its Entra object id (CallerObjectId) or its "
                "systemuserid (MSCRMCallerID), not both or neither"
            )
        if self.object_id is not None:
            object.__setattr__(
                self, "object_id", normalize_guid(self.object_id, what="caller object id")
            )
        else:
            object.__setattr__(
                self,
                "systemuser_id",
                normalize_guid(self.systemuser_id, what="impersonated systemuserid"),
            )

    @property
    def header(self) -> tuple[str, str]:
        """``(name, value)`` of the header every request of the session carries."""
        if self.object_id is not None:
            return "CallerObjectId", self.object_id
        assert self.systemuser_id is not None
        return "MSCRMCallerID", self.systemuser_id

    def __str__(self) -> str:
        name, value = self.header
        return f"{name} {value}"
