"""Redaction of Web API traffic before it is stored, and the same normalisation for matching.

What is removed or replaced (fake-design.md section 4.3 and 7.10):

* headers: only a short allow-list survives (content type, ``Prefer``, ``If-Match``,
  ``If-None-Match``, ``MSCRM.*`` switches, ``Retry-After``, rate-limit and DOP hints, entity ids).
  ``Authorization``, cookies (``ARRAffinity``, ``ReqClientId``), request ids and MSAL telemetry
  never reach a cassette;
* the org URL becomes ``https://fake-org.crm.dynamics.com`` everywhere (URLs, ``@odata.context``,
  ``@odata.nextLink``, ``OData-EntityId``);
* token-like JSON keys (``access_token``, ``client_secret``, ...) become ``<redacted>``; bearer
  tokens and JWTs found in any text become ``<redacted>``;
* personal data: configured JSON fields (emails, phones, names, street lines) are replaced by
  pseudonyms; e-mail addresses and phone numbers found anywhere in text (URLs included) too.
  Pseudonyms are a keyed hash of the value, so the same value always gets the same pseudonym and
  a replayed run that sends the original value still matches its recording. Values that are
  already synthetic (e-mail on a reserved domain such as ``example.com``, ``555-01xx`` phones)
  are kept as they are;
* identities: the caller's user, business unit and organization GUIDs (from ``WhoAmI``) and
  owner/creator lookups become stable fake GUIDs; the display names (formatted values) of
  lookups to people (users, contacts, leads) become pseudonyms;
* ``$batch`` multipart boundaries become ``batch_X`` / ``changeset_N``.

The pseudonym key defaults to a fixed project value; set ``D365LEADS_CASSETTE_KEY`` to a private
value so pseudonyms cannot be matched against guessed inputs (replay then needs the same key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from d365leads.cassette.model import (
    PLACEHOLDER_ORG_URL,
    Interaction,
    RecordedRequest,
    RecordedResponse,
)

__all__ = [
    "DEFAULT_PII_FIELDS",
    "REDACTED",
    "Redactor",
    "encoded_emails",
    "is_synthetic_email",
    "is_synthetic_phone",
]

REDACTED = "<redacted>"

#: Columns that hold a phone number (pseudonyms for them look like phone numbers).
_PHONE_FIELDS = frozenset(
    {
        "telephone1",
        "telephone2",
        "telephone3",
        "mobilephone",
        "fax",
        "address1_telephone1",
        "managerphone",
    }
)

DEFAULT_PII_FIELDS: frozenset[str] = _PHONE_FIELDS | frozenset(
    {
        "emailaddress1",
        "emailaddress2",
        "emailaddress3",
        "firstname",
        "lastname",
        "middlename",
        "fullname",
        "yomifirstname",
        "yomilastname",
        "yomifullname",
        "address1_line1",
        "address1_line2",
        "address1_line3",
    }
)

_SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "client_assertion",
        "password",
        "secret",
        "token",
    }
)

_KEEP_REQUEST_HEADERS = ("content-type", "prefer", "if-match", "if-none-match", "consistency")
_KEEP_RESPONSE_HEADERS = (
    "content-type",
    "odata-entityid",
    "location",
    "preference-applied",
    "retry-after",
    "x-ms-dop-hint",
    "etag",
)
_URL_HEADERS = frozenset({"odata-entityid", "location"})
_FORMATTED = "@OData.Community.Display.V1.FormattedValue"
_LOOKUP_TABLE = "@Microsoft.Dynamics.CRM.lookuplogicalname"
_PERSON_TABLES = frozenset({"systemuser", "contact", "lead"})
# Lookups that name a person (or may: customer) when no lookuplogicalname annotation says.
_PERSON_LOOKUPS = frozenset(
    {
        "_parentcontactid_value",
        "_primarycontactid_value",
        "_contactid_value",
        "_originatingleadid_value",
        "_customerid_value",
        "_parentcustomerid_value",
    }
)
_IDENTITY_KEYS = frozenset(
    {
        "UserId",
        "BusinessUnitId",
        "OrganizationId",
        "_ownerid_value",
        "_owninguser_value",
        "_owningbusinessunit_value",
        "_createdby_value",
        "_modifiedby_value",
        "_createdonbehalfby_value",
        "_modifiedonbehalfby_value",
    }
)

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Phone-like: optional +country, then 7+ digits with common separators.
PHONE_RE = re.compile(r"(?<![\w/.-])\+?[\d(][\d ().-]{5,}\d(?![\w-])")
_GUID_RE = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_DATEISH_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_DECIMAL_RE = re.compile(r"-?\d{1,3}(?:,\d{3})*(?:\.\d+)?|-?\d+\.\d+")
BEARER_RE = re.compile(r"Bearer\s+(?!<redacted>)[A-Za-z0-9._~+/=-]+")
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BOUNDARY_RE = re.compile(
    r"\b(batch|changeset|batchresponse|changesetresponse)_(?=[A-Za-z-]*\d)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
)

_FAKE_IDENTITY_PREFIX = "00000000-0000-4000-8000-"
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net")
_RESERVED_TLDS = (".test", ".example", ".invalid", ".localhost")


def _names_a_person(key: str, siblings: Mapping[str, Any]) -> bool:
    """The display name of a lookup to a person (owner, creator, contact, lead): the formatted
    value of ``_x_value``, whose table the sibling ``lookuplogicalname`` annotation gives."""
    if not key.endswith(_FORMATTED):
        return False
    bare = key.split("@", 1)[0]
    if not (bare.startswith("_") and bare.endswith("_value")):
        return False
    table = siblings.get(bare + _LOOKUP_TABLE)
    if isinstance(table, str):
        return table.lower() in _PERSON_TABLES
    return bare in _IDENTITY_KEYS or bare in _PERSON_LOOKUPS


def _quote_times(text: str, times: int) -> str:
    for _ in range(times):
        text = quote(text, safe="")
    return text


def encoded_emails(text: str) -> list[str]:
    """Non-synthetic e-mail addresses hidden in ``text`` by percent-encoding (any depth)."""
    if "%" not in text:
        return []
    decoded = text
    for _ in range(4):
        step = unquote(decoded)
        if step == decoded:
            break
        decoded = step
    plain = set(EMAIL_RE.findall(text))
    return sorted(
        {e for e in EMAIL_RE.findall(decoded) if e not in plain and not is_synthetic_email(e)}
    )


def is_synthetic_email(value: str) -> bool:
    """True for addresses on domains reserved for examples (RFC 2606/6761)."""
    domain = value.rsplit("@", 1)[-1].lower()
    return domain in _RESERVED_DOMAINS or domain.endswith(_RESERVED_TLDS)


def is_synthetic_phone(value: str) -> bool:
    """True for the fictional 555-0100..0199 range used in examples."""
    digits = re.sub(r"\D", "", value)
    return "55501" in digits


def _is_phone(value: str) -> bool:
    """Phone-shaped text: 7 to 15 digits with a leading ``+`` or separators (never a bare
    digit run such as an ETag or version number, never a date or a GUID)."""
    value = value.strip()
    digits = re.sub(r"\D", "", value)
    if not 7 <= len(digits) <= 15 or _DATEISH_RE.match(value) or _GUID_RE.search(value):
        return False
    if _DECIMAL_RE.fullmatch(value):
        return False  # an amount or a duration such as "1199999.50", not a phone number
    return value.startswith("+") or bool(re.search(r"\d[ ().-]+\d", value))


class Redactor:
    """Turns live traffic into cassette interactions with secrets and personal data removed.

    The same instance normalises live requests at replay time (``request()``), so a redacted
    recording still matches the request the code under test sends.
    """

    def __init__(
        self,
        org_url: str,
        *,
        pii_fields: Iterable[str] = DEFAULT_PII_FIELDS,
        key: str | None = None,
        placeholder_org_url: str = PLACEHOLDER_ORG_URL,
    ) -> None:
        self.org_url = org_url.rstrip("/")
        self.placeholder = placeholder_org_url.rstrip("/")
        self.pii_fields = frozenset(f.lower() for f in pii_fields)
        secret = key if key is not None else os.environ.get("D365LEADS_CASSETTE_KEY", "")
        self._key = (secret or "d365leads-cassette").encode("utf-8")
        self._identities: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Redactor(org_url={self.placeholder!r}, pii_fields={len(self.pii_fields)})"

    # -- pseudonyms -------------------------------------------------------------------------

    def _digest(self, kind: str, value: str) -> str:
        mac = hmac.new(self._key, f"{kind}:{value.strip().lower()}".encode(), hashlib.sha256)
        return mac.hexdigest()

    def pseudonym(self, field: str, value: str) -> str:
        """A stable replacement for a personal value, shaped like the original."""
        if EMAIL_RE.fullmatch(value.strip()):
            if is_synthetic_email(value):
                return value
            return f"person-{self._digest('email', value)[:10]}@example.com"
        if field.lower() in _PHONE_FIELDS or _is_phone(value):
            if is_synthetic_phone(value):
                return value
            n = int(self._digest("phone", value)[:8], 16) % 100
            return f"555-01{n:02d} x{self._digest('phone', value)[:4]}"
        return f"{field.capitalize()}-{self._digest('text', value)[:8]}"

    def _identity(self, guid: str) -> str:
        guid = guid.lower()
        if guid.startswith(_FAKE_IDENTITY_PREFIX):
            return guid  # already a placeholder (a replayed response fed back by the client)
        if guid not in self._identities:
            n = len(self._identities) + 1
            self._identities[guid] = f"00000000-0000-4000-8000-{n:012d}"
        return self._identities[guid]

    # -- text -------------------------------------------------------------------------------

    def scrub_text(self, text: str, *, personal: bool = True) -> str:
        """Replace the org URL, bearer tokens, JWTs, identities and (unless ``personal`` is
        False, as for header values) e-mails and phone numbers in free text."""
        # Host names are case-insensitive: the org may echo its URL in another case.
        text = re.sub(re.escape(self.org_url), self.placeholder, text, flags=re.IGNORECASE)
        host = urlsplit(self.org_url).netloc
        placeholder_host = urlsplit(self.placeholder).netloc
        if host:
            text = re.sub(re.escape(host), placeholder_host, text, flags=re.IGNORECASE)
        text = BEARER_RE.sub("Bearer " + REDACTED, text)
        text = JWT_RE.sub(REDACTED, text)
        if not personal:
            return self._map_identities(text)
        text = EMAIL_RE.sub(lambda m: self.pseudonym("email", m.group(0)), text)

        # Paging cookies carry the last row's sort values percent-encoded two or three times.
        for email in encoded_emails(text):
            fake = self.pseudonym("email", email)
            for level in range(1, 5):
                text = text.replace(_quote_times(email, level), _quote_times(fake, level))

        def phone(m: re.Match[str]) -> str:
            value = m.group(0)
            if not _is_phone(value) or is_synthetic_phone(value):
                return value
            return self.pseudonym("phone", value)

        text = PHONE_RE.sub(phone, text)
        return self._map_identities(text)

    def _map_identities(self, text: str) -> str:
        for original, fake in self._identities.items():
            text = re.sub(re.escape(original), fake, text, flags=re.IGNORECASE)
        return text

    def scrub_json(self, value: Any, key: str = "") -> Any:
        """Redact a parsed JSON value recursively."""
        if isinstance(value, dict):
            return {
                k: (
                    self.pseudonym("fullname", v)
                    if isinstance(v, str) and v and _names_a_person(k, value)
                    else self.scrub_json(v, k)
                )
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.scrub_json(v, key) for v in value]
        if isinstance(value, str):
            bare = key.split("@", 1)[0]
            if bare.lower() in _SECRET_KEYS:
                return REDACTED
            if bare in _IDENTITY_KEYS and _GUID_RE.fullmatch(value) and "@" not in key:
                return self._identity(value)
            if bare.lower() in self.pii_fields and value:
                return self.pseudonym(bare, value)
            return self.scrub_text(value)
        return value

    def _body(self, content_type: str, body: bytes | None) -> Any:
        if not body:
            return None
        text = body.decode("utf-8", "replace")
        if "json" in content_type.lower():
            try:
                return self.scrub_json(json.loads(text))
            except ValueError:
                return self.scrub_text(text)
        if "multipart" in content_type.lower():
            return self._multipart(text)
        return self.scrub_text(text)

    def _multipart(self, text: str) -> str:
        text = normalise_boundaries(text)
        out: list[str] = []
        for line in text.split("\n"):
            stripped = line.strip()
            if stripped.startswith(("{", "[")):
                try:
                    parsed = json.loads(stripped)
                except ValueError:
                    out.append(self.scrub_text(line))
                    continue
                redacted = json.dumps(self.scrub_json(parsed), sort_keys=True, ensure_ascii=False)
                out.append(redacted + ("\r" if line.endswith("\r") else ""))
            else:
                out.append(self.scrub_text(line))
        return "\n".join(out)

    # -- public -----------------------------------------------------------------------------

    def learn_identities(self, body: Any) -> None:
        """Register identity GUIDs found in a response body so later text is mapped too."""
        if isinstance(body, dict):
            for k, v in body.items():
                if k in _IDENTITY_KEYS and isinstance(v, str) and _GUID_RE.fullmatch(v):
                    self._identity(v)
                else:
                    self.learn_identities(v)
        elif isinstance(body, list):
            for v in body:
                self.learn_identities(v)

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> RecordedRequest:
        """Redact and normalise a request (at record time and, identically, at replay time)."""
        parts = urlsplit(url)
        path = self.scrub_text(unquote(parts.path))
        query = [(k, self.scrub_text(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        lowered = {k.lower(): v for k, v in headers.items()}
        kept = {
            k: normalise_boundaries(self.scrub_text(v, personal=False))
            for k, v in sorted(lowered.items())
            if k in _KEEP_REQUEST_HEADERS or k.startswith("mscrm.")
        }
        return RecordedRequest(
            method=method.upper(),
            path=path,
            query=query,
            headers=kept,
            body=self._body(lowered.get("content-type", ""), body),
        )

    def response(
        self, status: int, headers: Mapping[str, str], body: bytes | None
    ) -> RecordedResponse:
        """Redact a response."""
        lowered = {k.lower(): v for k, v in headers.items()}
        content_type = lowered.get("content-type", "")
        if body and "json" in content_type.lower():
            try:
                self.learn_identities(json.loads(body))
            except ValueError:
                pass
        # URLs in headers may carry an alternate key (an e-mail); numeric headers never do.
        kept = {
            k: normalise_boundaries(self.scrub_text(v, personal=k in _URL_HEADERS))
            for k, v in sorted(lowered.items())
            if k in _KEEP_RESPONSE_HEADERS or k.startswith("x-ms-ratelimit-")
        }
        return RecordedResponse(status=status, headers=kept, body=self._body(content_type, body))

    def interaction(
        self,
        method: str,
        url: str,
        request_headers: Mapping[str, str],
        request_body: bytes | None,
        status: int,
        response_headers: Mapping[str, str],
        response_body: bytes | None,
    ) -> Interaction:
        """Redact one exchange. The response is read first so identities it reveals are known."""
        response = self.response(status, response_headers, response_body)
        request = self.request(method, url, request_headers, request_body)
        return Interaction(request, response)


def normalise_boundaries(text: str) -> str:
    """Replace random multipart boundary ids with stable placeholders, in order of appearance."""
    seen: dict[str, str] = {}
    counters: dict[str, int] = {}

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        if token not in seen:
            kind = m.group(1)
            counters[kind] = counters.get(kind, 0) + 1
            seen[token] = f"{kind}_{counters[kind]}"
        return seen[token]

    return _BOUNDARY_RE.sub(repl, text)
