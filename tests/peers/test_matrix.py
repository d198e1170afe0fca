"""The operation matrix itself: every row has exactly one test, and the table prints."""

from __future__ import annotations

import importlib

import pytest

from .matrix import OPERATIONS, PEERS, USED, case, find, markdown

PEER_MODULES = ("test_sdk", "test_dataverse_api", "test_dynamics_client", "test_requests_plain")


def test_every_operation_has_a_test() -> None:
    for name in PEER_MODULES:
        try:
            importlib.import_module(f"{__package__}.{name}")
        except pytest.skip.Exception:
            pytest.skip(f"{name} needs the peers extra")
    assert {(op.peer, op.name) for op in OPERATIONS} == USED


def test_every_row_names_a_known_peer_and_a_specific_gap() -> None:
    for op in OPERATIONS:
        assert op.peer in PEERS
        assert op.gap is None or len(op.gap) > 20, op


def test_unknown_operation_is_named() -> None:
    with pytest.raises(KeyError, match=r"no operation 'records\.frobnicate' for 'sdk'"):
        find("sdk", "records.frobnicate")
    with pytest.raises(KeyError, match="no operation"):
        case("sdk", "records.frobnicate")


def test_markdown_lists_every_operation_once() -> None:
    table = markdown().splitlines()

    rows = [line for line in table if line.startswith("| ") and not line.startswith("| Peer")]
    assert len(rows) == len(OPERATIONS)
    works = sum(op.works for op in OPERATIONS)
    assert table[-1] == f"{works} of {len(OPERATIONS)} operations work."
