"""Errors of the FetchXML engine, with Dataverse's codes and messages.

Sources: malformed XML answers ``0x80040201`` "Invalid XML." (seen in Web API error bodies);
unknown columns answer ``0x80041103`` (``QueryBuilderNoAttribute``) "'<table>' entity doesn't
contain attribute with Name = '<name>'."; the aggregate limit is ``0x8004E023``
(https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/aggregate-data#limitations).
The other query-builder codes are the SDK's ``ErrorCodes`` constants (``QueryBuilder*``); their
message texts are not documented, so the wording here is ours (UNCONFIRMED).

:class:`FetchXmlUnsupported` is not a Dataverse error: it names a FetchXML feature this engine
does not implement, and the fake answers it with 501.
"""

from __future__ import annotations

__all__ = [
    "CODE_AGGREGATE_LIMIT",
    "CODE_ATTRIBUTE_WITH_AGGREGATE",
    "CODE_INVALID_ALIAS",
    "CODE_INVALID_ARGUMENT",
    "CODE_INVALID_OPERATOR",
    "CODE_INVALID_VALUE",
    "CODE_INVALID_XML",
    "CODE_NO_ALIAS",
    "CODE_NO_ATTRIBUTE",
    "CODE_NO_ENTITY",
    "FetchXmlError",
    "FetchXmlUnsupported",
    "aggregate_limit_exceeded",
    "invalid_value",
    "invalid_xml",
    "no_attribute",
    "no_entity",
]

CODE_INVALID_XML = "0x80040201"
CODE_INVALID_ARGUMENT = "0x80040203"
CODE_NO_ENTITY = "0x80041102"
CODE_NO_ATTRIBUTE = "0x80041103"
CODE_ATTRIBUTE_WITH_AGGREGATE = "0x80041107"
CODE_INVALID_VALUE = "0x80041108"
CODE_INVALID_ALIAS = "0x8004110A"
CODE_NO_ALIAS = "0x8004110B"
CODE_INVALID_OPERATOR = "0x80041120"
CODE_AGGREGATE_LIMIT = "0x8004E023"


class FetchXmlError(Exception):
    """A query Dataverse would refuse: HTTP ``status``, Dataverse ``code`` and ``message``."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, status={self.status})"


class FetchXmlUnsupported(FetchXmlError):
    """A valid FetchXML feature this engine does not implement (the fake answers 501)."""

    def __init__(self, feature: str) -> None:
        super().__init__("", f"FetchXML {feature} is not supported by the fake", status=501)
        self.feature = feature


def invalid_xml() -> FetchXmlError:
    """The query is not well-formed XML (or not a ``<fetch>`` document)."""
    return FetchXmlError(CODE_INVALID_XML, "Invalid XML.")


def no_entity(name: str) -> FetchXmlError:
    """``name`` is not a table of the org."""
    return FetchXmlError(
        CODE_NO_ENTITY,
        f"The entity with a name = '{name}' with namemapping = 'Logical' was not found "
        "in the MetadataCache.",
    )


def no_attribute(table: str, name: str) -> FetchXmlError:
    """``name`` is not a column of ``table``."""
    return FetchXmlError(
        CODE_NO_ATTRIBUTE, f"'{table}' entity doesn't contain attribute with Name = '{name}'."
    )


def invalid_value(table: str, name: str, value: str, kind: str) -> FetchXmlError:
    """A condition value that cannot be read as the column's type."""
    return FetchXmlError(
        CODE_INVALID_VALUE,
        f"The value '{value}' of the condition on '{table}.{name}' is not a valid {kind}.",
    )


def aggregate_limit_exceeded() -> FetchXmlError:
    """An aggregate query that would read more rows than its limit."""
    return FetchXmlError(
        CODE_AGGREGATE_LIMIT, "AggregateQueryRecordLimit exceeded. Cannot perform this operation."
    )
