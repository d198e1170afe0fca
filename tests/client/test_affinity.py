"""The ARRAffinity cookie the fake sets (as Dataverse does) is kept or dropped on request."""

from __future__ import annotations

from typing import Any

import pytest


def _cookies_sent(fake: Any) -> list[str]:
    return [request.header("Cookie") or "" for request, _ in fake.journal]


def _check(target: Any, keep: bool) -> None:
    target.options.affinity_cookie = True
    client = target.client(keep_affinity=keep)
    client.whoami()
    client.whoami()
    client.records.create("leads", {"subject": "Affinity", "lastname": "Ng"})
    sent = _cookies_sent(target)
    assert len(sent) == 3
    assert "ARRAffinity" not in sent[0]
    if keep:
        assert all("ARRAffinity=" in cookie for cookie in sent[1:])
    else:
        assert all("ARRAffinity" not in cookie for cookie in sent[1:])


@pytest.mark.parametrize("keep", [True, False])
def test_affinity_cookie_in_process(keep: bool, fake_dataverse: Any) -> None:
    _check(fake_dataverse, keep)


@pytest.mark.parametrize("keep", [True, False])
def test_affinity_cookie_over_http(keep: bool, fake_dataverse_server: Any) -> None:
    _check(fake_dataverse_server, keep)


def test_the_fake_sets_no_cookie_by_default(fake_dataverse: Any) -> None:
    client = fake_dataverse.client()
    client.whoami()
    client.whoami()
    assert all("ARRAffinity" not in cookie for cookie in _cookies_sent(fake_dataverse))
