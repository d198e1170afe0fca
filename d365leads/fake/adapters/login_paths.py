"""The login host's endpoints on the fake's own server.

A client pointed at ``fake.serve()`` (or ``python -m d365leads.fake``) can fetch its token from
the same server: ``/<tenant>/v2.0/.well-known/openid-configuration``,
``/<tenant>/oauth2/v2.0/token`` (``client_secret_post`` or ``client_secret_basic``),
``/<tenant>/oauth2/v2.0/devicecode`` and ``/common/discovery/instance`` answer as the in-process
login host does, and the tokens it issues are accepted under ``strict_auth``.  Everything else
goes to the fake.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..wire.messages import FakeRequest, FakeResponse, Handler
from .responses_mock import MockTarget, is_login_path, login_response

__all__ = ["with_login"]


def with_login(fake: MockTarget) -> Handler:
    """A handler that answers the login paths itself and sends every other request to ``fake``."""

    def handle(request: FakeRequest) -> FakeResponse:
        if not request.is_api and is_login_path(urlsplit(request.url).path):
            return login_response(fake, request)
        return fake(request)

    return handle
