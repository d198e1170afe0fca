"""The JSON of a successful Web API answer, refusing what a broken proxy or gateway sends.

Dataverse answers with ``application/json`` (OData JSON). Anything else under a success status
(an HTML sign-in page, a text error from a gateway, a cut-off body, or an OData ``error``
object with status 200) means something between the client and Dataverse answered, or the
answer was damaged: it is refused with :class:`~d365leads.errors.MalformedResponseError`
instead of being read as data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from d365leads.errors import MalformedResponseError
from d365leads.http.transport import Response
from d365leads.redaction import redact_text, redact_url

__all__ = ["json_object", "json_value"]


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _preview(response: Response) -> str:
    text = response.content[:60].decode("utf-8", "replace")
    text = " ".join(redact_text(text).split())
    return f"{text!r}{'...' if len(response.content) > 60 else ''}"


def json_value(
    response: Response, *, method: str = "GET", decode: Callable[[str], Any] | None = None
) -> Any:
    """The JSON of a successful answer, or :class:`~d365leads.errors.MalformedResponseError`.

    Refused: a declared ``Content-Type`` that is not JSON (an HTML page from a proxy or a
    sign-in portal), a body that does not parse (cut off, HTML without a type), and an OData
    ``error`` object under a success status. An empty body gives ``None``. ``decode`` parses
    the body's text instead of ``json.loads`` (it raises ``ValueError`` on bad JSON).
    """
    where = f"{method} {redact_url(response.url)}"
    content_type = response.headers.get("Content-Type", "")
    if response.content and content_type and not _is_json_type(content_type):
        raise MalformedResponseError(
            f"{where}: expected JSON but got {content_type.split(';', 1)[0].strip()} "
            f"(HTTP {response.status}, starting {_preview(response)}); something between you "
            "and Dataverse (a proxy, gateway or sign-in page) answered: check the org URL "
            "(D365_URL) and the proxy settings"
        )
    try:
        if decode is None or not response.content:
            body = response.json()
        else:
            body = decode(response.content.decode("utf-8-sig"))
    except ValueError:
        raise MalformedResponseError(
            f"{where}: the answer is not valid JSON (HTTP {response.status}, "
            f"{len(response.content)} bytes, starting {_preview(response)}); it may have been "
            "cut off or come from a proxy. If this was a write, check whether it was applied "
            "before sending it again"
        ) from None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or "")
        message = str(body["error"].get("message") or "")[:300]
        raise MalformedResponseError(
            f"{where}: HTTP {response.status} (success) but the body is an error"
            f"{f' [{code}]' if code else ''}: {message or 'no message'}. The result cannot be "
            "trusted; if this was a write, check whether it was applied",
            code=code,
        )
    return body


def json_object(
    response: Response, *, method: str = "GET", decode: Callable[[str], Any] | None = None
) -> dict[str, Any]:
    """Like :func:`json_value`, but the answer must be a JSON object (empty body: ``{}``)."""
    body = json_value(response, method=method, decode=decode)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise MalformedResponseError(
            f"{method} {redact_url(response.url)}: expected a JSON object, got "
            f"{type(body).__name__}"
        )
    return body
