"""Load the documented exchanges (``exchanges/*.yaml``) and send them to the fake.

File format (one file per documentation page)::

    page: <page title>
    source: https://learn.microsoft.com/...          # the published page
    doc_path: powerapps-docs/...md                    # where its text lives (MicrosoftDocs)
    exchanges:
      - id: <unique within the file>
        section: <section title on the page>
        area: crud | query | join | count | paging | batch | change-tracking | conditional |
              associate | actions | errors | limits | functions
        composed: <why>          # optional: request/response assembled from the page's own
                                 # statements rather than printed as one example
        adapted: <what>          # optional: names changed because the fake lacks the table
        errata: <what>           # optional: where the page contradicts itself, and what is kept
        known_gap: <feature>     # optional: the fake feature this needs (strict xfail)
        options: {...}           # optional FakeOptions fields
        seed: {...}              # org state, in the fake's seed-file format
        before: [request, ...]   # optional requests sent first (must not fail)
        request: {method, path, headers, body | body_text}
        response: {status, headers, body | body_text | batch}
        vary / patterns / truncated / open / ordered: see _compare.py

``path`` is relative to ``/api/data/v9.2/``; ``{nextLink}`` / ``{deltaLink}`` stand for the last
such link the ``before`` requests returned.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from d365leads.fake import FakeDataverse, FakeOptions

from . import _compare, _multipart

HERE = Path(__file__).parent
EXCHANGES = HERE / "exchanges"
TOKEN = "conformance-token"
SOURCE_PREFIX = "https://learn.microsoft.com/"
AREAS = {
    "crud",
    "query",
    "join",
    "count",
    "paging",
    "batch",
    "change-tracking",
    "conditional",
    "associate",
    "actions",
    "functions",
    "errors",
    "limits",
    "metadata",
}


@dataclass
class Exchange:
    """One documented request and the documented answer."""

    file: str
    page: str
    source: str
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.file}/{self.data['id']}"

    @property
    def request(self) -> dict[str, Any]:
        return dict(self.data["request"])

    @property
    def response(self) -> dict[str, Any]:
        return dict(self.data["response"])

    @property
    def known_gap(self) -> str | None:
        return self.data.get("known_gap")

    def rules(self, base_url: str) -> _compare.Rules:
        known = _compare.guids_in(self.data.get("seed") or {})
        known |= _compare.guids_in(self.data["request"])
        for step in self.data.get("before") or []:
            known |= _compare.guids_in(step)
        return _compare.Rules(
            known_guids=known,
            base_url=base_url,
            vary=list(self.data.get("vary") or []),
            patterns=dict(self.data.get("patterns") or {}),
            truncated=list(self.data.get("truncated") or []),
            open=list(self.data.get("open") or []),
            ordered=list(self.data.get("ordered") or []),
        )


def load_pages() -> list[dict[str, Any]]:
    """Every exchange file, parsed, in name order."""
    pages = []
    for file in sorted(EXCHANGES.glob("*.yaml")):
        page = yaml.safe_load(file.read_text(encoding="utf-8"))
        page["_file"] = file.stem
        pages.append(page)
    return pages


def load_exchanges() -> list[Exchange]:
    """Every exchange of every file."""
    return [
        Exchange(page["_file"], page["page"], page["source"], item)
        for page in load_pages()
        for item in page["exchanges"]
    ]


def params(exchanges: list[Exchange], gap_key: str = "known_gap") -> list[Any]:
    """pytest params, a strict xfail for each exchange whose ``gap_key`` names a missing feature."""
    out = []
    for ex in exchanges:
        gap = ex.data.get(gap_key)
        marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap else []
        out.append(pytest.param(ex, id=ex.id, marks=marks))
    return out


@dataclass
class Sent:
    """An answer as received by ``requests``."""

    status: int
    headers: dict[str, str]
    text: str
    links: dict[str, str] = field(default_factory=dict)


def build_fake(ex: Exchange, tmp: Path) -> FakeDataverse:
    """A fresh fake with the exchange's options and seed."""
    fake = FakeDataverse(options=FakeOptions(**(ex.data.get("options") or {})))
    seed = ex.data.get("seed")
    if seed:
        file = tmp / f"{ex.data['id']}.json"
        file.write_text(json.dumps(seed), encoding="utf-8")
        fake.seed_file(file)
    return fake


def _url(path: str, base_url: str, links: dict[str, str]) -> str:
    for name, link in links.items():
        path = path.replace("{" + name + "}", link)
    if path.startswith(("http://", "https://")):
        return path
    return base_url + path


def send(
    request: dict[str, Any], base_url: str, links: dict[str, str], session: requests.Session
) -> Sent:
    """Send one stored request with plain ``requests`` (only the bearer token is added)."""
    headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
    headers["Authorization"] = f"Bearer {TOKEN}"
    data: bytes | None = None
    if "body" in request:
        data = json.dumps(_compare.expand_tree(request["body"], base_url)).encode()
        headers.setdefault("Content-Type", "application/json")
    elif "body_text" in request:
        text = _compare.expand_org(request["body_text"], base_url)
        data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    url = _url(_compare.expand_org(request["path"], base_url), base_url, links)
    answer = session.request(request["method"], url, headers=headers, data=data, timeout=30)
    sent = Sent(answer.status_code, dict(answer.headers), answer.content.decode("utf-8"))
    if answer.headers.get("Content-Type", "").startswith("application/json") and sent.text:
        body = answer.json()
        if isinstance(body, dict):
            for key, name in (("@odata.nextLink", "nextLink"), ("@odata.deltaLink", "deltaLink")):
                if isinstance(body.get(key), str):
                    sent.links[name] = body[key]
    return sent


def run(ex: Exchange, base_url: str) -> list[str]:
    """Send the exchange to a running fake; return the differences from the docs."""
    links: dict[str, str] = {}
    with requests.Session() as session:
        for i, step in enumerate(ex.data.get("before") or []):
            got = send(step, base_url, links, session)
            if got.status >= 400:
                return [f"before[{i}] {step['method']} {step['path']}: {got.status} {got.text}"]
            links.update(got.links)
        got = send(ex.request, base_url, links, session)
    return check(ex, got, base_url)


def check(ex: Exchange, got: Sent, base_url: str) -> list[str]:
    """Compare status, the documented headers and the body."""
    want = ex.response
    rules = ex.rules(base_url)
    if got.status != want["status"]:
        return [f"status {got.status}, documented {want['status']}: {got.text[:400]}"]
    headers = {k: _compare.expand_org(str(v), base_url) for k, v in want.get("headers", {}).items()}
    problems = _compare.compare_headers(headers, got.headers, rules)
    if "body" in want:
        try:
            actual = json.loads(got.text)
        except ValueError:
            return [*problems, f"body is not JSON: {got.text[:200]!r}"]
        expected = _compare.expand_tree(want["body"], base_url)
        problems.extend(_compare.compare(expected, actual, rules))
    elif "body_text" in want:
        if got.text != want["body_text"]:
            problems.append(f"body {got.text!r}, documented {want['body_text']!r}")
    elif "batch" in want:
        problems.extend(_check_batch(_compare.expand_org(want["batch"], base_url), got, rules))
    elif want["status"] == 204 and got.text:
        problems.append(f"204 with a body: {got.text[:200]!r}")
    return problems


def _check_batch(documented: str, got: Sent, rules: _compare.Rules) -> list[str]:
    expected = _multipart.parse_batch(documented)
    try:
        actual = _multipart.parse_batch(got.text)
    except ValueError as exc:
        return [f"batch body unreadable: {exc}: {got.text[:300]!r}"]
    if len(expected) != len(actual):
        return [f"batch: {len(actual)} top-level part(s), documented {len(expected)}"]
    problems: list[str] = []
    for i, (want, have) in enumerate(zip(expected, actual, strict=True)):
        if (want.part is None) != (have.part is None):
            kind = "a changeset" if want.part is None else "a single operation"
            problems.append(f"batch part {i}: documented {kind}")
            continue
        pairs = [(want.part, have.part)] if want.part is not None else []
        if want.part is None:
            if len(want.parts) != len(have.parts):
                problems.append(
                    f"batch changeset {i}: {len(have.parts)} part(s), documented {len(want.parts)}"
                )
                continue
            pairs = list(zip(want.parts, have.parts, strict=True))
        for j, (w, h) in enumerate(pairs):
            where = f"batch[{i}][{j}]"
            assert h is not None
            if w.status != h.status:
                problems.append(f"{where}: status {h.status}, documented {w.status}: {h.body!r}")
                continue
            if w.content_id != h.content_id:
                problems.append(
                    f"{where}: Content-ID {h.content_id!r}, documented {w.content_id!r}"
                )
            problems.extend(_compare.compare_headers(w.headers, h.headers, rules, where))
            if w.body is not None or h.body is not None:
                problems.extend(_compare.compare(w.body, h.body, rules, f"/{where}"))
    return problems


def run_in_process(ex: Exchange) -> list[str]:
    """Through the fake's ``responses`` adapter."""
    with tempfile.TemporaryDirectory() as tmp:
        fake = build_fake(ex, Path(tmp))
        with fake.mock():
            return run(ex, fake.base_url)


def run_over_server(ex: Exchange) -> list[str]:
    """Through the fake's local HTTP server."""
    with tempfile.TemporaryDirectory() as tmp:
        fake = build_fake(ex, Path(tmp))
        server = fake.serve()
        try:
            return run(ex, server.base_url)
        finally:
            server.close()
