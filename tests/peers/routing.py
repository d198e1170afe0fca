"""How a peer's https traffic reaches the fake, with the peer's own code untouched.

Two adapters, the same two every d365leads test uses:

* ``in-process``: ``FakeDataverse.mock()`` (the ``responses`` adapter) answers the org host and
  the Microsoft login host;
* ``server``: the fake runs as a real HTTP server on 127.0.0.1, and a small reverse proxy
  forwards ``https://<org>/…`` to it over a real socket (``http.client``, outside ``requests``),
  rewriting the server's own URL in the answer back to the org URL, as a TLS-terminating proxy
  in front of it would.  The login host is forwarded to the same server, which answers the
  login paths itself, so the tokens it issues are the ones it accepts under ``strict_auth``.

``requests``-based peers need nothing more.  ``dynamics-client`` speaks ``httpx``; while a route
is open, httpx's default transport hands each request to ``requests`` so that it takes exactly
the path above (the same move ``respx`` makes, without another dependency).
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import requests
import responses

from d365leads.fake import FakeDataverse

__all__ = ["ADAPTERS", "LOGIN_HOST", "route"]

ADAPTERS = ("in-process", "server")
LOGIN_HOST = "https://login.microsoftonline.com"
_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE", "HEAD")
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


def _send_httpx_through_requests(self: Any, request: Any) -> Any:
    import httpx

    body = request.read()
    reply = requests.request(
        request.method,
        str(request.url),
        headers=dict(request.headers),
        data=body or None,
        allow_redirects=False,
        timeout=30,
    )
    headers = [(k, v) for k, v in reply.headers.items() if k.lower() not in _HOP_BY_HOP]
    return httpx.Response(reply.status_code, headers=headers, content=reply.content)


def _forwarder(org_url: str, server_url: str) -> Any:
    """A ``responses`` callback: the request, sent to the fake's server; the answer, re-homed."""
    target = urlsplit(server_url)
    org = org_url.encode()
    served = server_url.encode()

    def forward(prepared: Any) -> Any:
        url = urlsplit(prepared.url)
        path = url.path + (f"?{url.query}" if url.query else "")
        body = prepared.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {k: v for k, v in prepared.headers.items() if k.lower() != "host"}
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            connection.request(prepared.method, path, body=body, headers=headers)
            answer = connection.getresponse()
            content = answer.read().replace(served, org)
            reply = {
                k: v.replace(server_url, org_url)
                for k, v in answer.getheaders()
                if k.lower() not in _HOP_BY_HOP
            }
            return answer.status, reply, content
        finally:
            connection.close()

    return forward


@contextmanager
def route(fake: FakeDataverse, adapter: str) -> Iterator[None]:
    """Send every peer's traffic for ``fake.org_url`` (and the login host) to ``fake``."""
    with ExitStack() as stack:
        if adapter == "in-process":
            stack.enter_context(fake.mock())
        elif adapter == "server":
            server = stack.enter_context(fake.serve())
            rsps = stack.enter_context(responses.RequestsMock(assert_all_requests_are_fired=False))
            # The server answers the login paths itself (fake.serve()), so both hosts go to it.
            for host in (fake.org_url, LOGIN_HOST):
                pattern = re.compile(rf"^{re.escape(host)}(?=[/?]|$)", re.IGNORECASE)
                forward = _forwarder(host, server.url)
                for method in _METHODS:
                    rsps.add_callback(method, pattern, callback=forward, content_type=None)
        else:
            raise ValueError(f"unknown adapter {adapter!r}; expected one of {ADAPTERS}")
        try:
            import httpx
        except ImportError:  # only dynamics-client (peers extra) brings httpx
            pass
        else:
            stack.enter_context(
                mock.patch.object(
                    httpx.HTTPTransport, "handle_request", _send_httpx_through_requests
                )
            )
        yield
