"""Field-update contenders of ``bench_bulk.py``: UpdateMultiple against ``$batch``, and the SDK.

* ``d365leads update_many`` with the fake's bulk messages on (UpdateMultiple, chunks of up to
  1,000 after the support probe) and off (the same call falls back to ``$batch``): one field
  (``companyname``) on every lead, sequential requests, against the fake's HTTP server.
* Microsoft's ``powerplatform-dataverse-client`` 1.1.0 through ``records.update(table, [ids],
  changes)``, its UpdateMultiple path, chunked by 1,000.  The SDK refuses non-https URLs, so it
  talks to the fake in-process (latency and execution time really slept).  Its table and
  choice-label metadata look-ups are still answered by the harness (:class:`SdkMetadataFake`)
  until the fake serves ``EntityDefinitions`` itself.

The execution time of a bulk message is ``op_cost_ms × (1 + records × 0.25)``
(``FakeOptions.bulk_message_record_cost``, UNCONFIRMED; see SUPPORTED.md for its source).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from d365leads import DataverseClient, StaticTokenProvider
from d365leads.fake import FakeDataverse
from d365leads.fake.wire.messages import FakeRequest, FakeResponse

__all__ = ["SdkMetadataFake", "run_field_update", "run_sdk_update_multiple"]

TOKEN = "bench-token"
CHANGE = {"companyname": "Updated Co"}


def _seed(fake: FakeDataverse, records: int) -> list[str]:
    return fake.seed(
        "lead", [{"lastname": f"Lee{i}", "companyname": f"C{i}"} for i in range(records)]
    )


def _updated(fake: FakeDataverse, ids: list[str]) -> int:
    wanted = CHANGE["companyname"]
    return sum(1 for i in ids if (fake.get("lead", i) or {}).get("companyname") == wanted)


def run_field_update(args: argparse.Namespace, options: Any, path: str) -> dict[str, Any]:
    """``client.records.update_many`` of one field; ``path`` ``UpdateMultiple`` or ``$batch``."""
    tables = ("lead",) if path == "UpdateMultiple" else ()
    fake = FakeDataverse(options=options.replace(bulk_message_tables=tables))
    ids = _seed(fake, args.records)
    with fake.serve() as server:
        client = DataverseClient(server.url, token_provider=StaticTokenProvider(TOKEN))
        start = time.perf_counter()
        result = client.records.update_many("leads", ids, CHANGE, chunk_size=1000)
        elapsed = time.perf_counter() - start
        client.close()
    return {
        "name": f"d365leads records.update_many ({path})",
        "records": args.records,
        "wall_s": round(elapsed, 2),
        "records_per_s": round(args.records / elapsed, 1),
        "requests": len(fake.journal),
        "requests_by_kind": dict(result.requests),
        "paths": dict(result.paths),
        "throttled_429": int(sum(fake.protection.stats.throttled.values())),
        "not_updated": args.records - _updated(fake, ids),
    }


class SdkMetadataFake(FakeDataverse):
    """The fake, plus the SDK's metadata look-ups it does not serve yet (table, choices)."""

    def __call__(self, request: FakeRequest) -> FakeResponse:
        path = request.path.rstrip("/")
        body: dict[str, Any] | None = None
        if path == "EntityDefinitions":
            table = {"LogicalName": "lead", "EntitySetName": "leads"}
            table["PrimaryIdAttribute"] = "leadid"
            body = {"value": [table]}
        elif path.endswith("PicklistAttributeMetadata"):
            body = {"value": []}  # no choice columns to map in this job's changes
        if body is not None:
            headers = {"Content-Type": "application/json"}
            return FakeResponse(200, headers, json.dumps(body).encode())
        return super().__call__(request)


def run_sdk_update_multiple(args: argparse.Namespace, options: Any) -> dict[str, Any]:
    """The SDK's ``records.update("lead", ids, changes)`` (UpdateMultiple) in 1,000-id chunks."""
    from PowerPlatform.Dataverse.client import DataverseClient as SdkClient

    class _Credential:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            from azure.core.credentials import AccessToken

            return AccessToken(TOKEN, int(time.time()) + 3600)

    fake = SdkMetadataFake(options=options.replace(sleep_in_process=True))
    ids = _seed(fake, args.records)
    with fake.mock():
        client = SdkClient(fake.org_url, _Credential())
        start = time.perf_counter()
        for offset in range(0, len(ids), 1000):
            client.records.update("lead", ids[offset : offset + 1000], dict(CHANGE))
        elapsed = time.perf_counter() - start
        client.close()
    bulk = len(fake.requests("POST", "leads/Microsoft.Dynamics.CRM.UpdateMultiple"))
    return {
        "name": "powerplatform-dataverse-client 1.1.0 records.update(ids) (UpdateMultiple)",
        "records": args.records,
        "wall_s": round(elapsed, 2),
        "records_per_s": round(args.records / elapsed, 1),
        "requests": len(fake.journal),
        "requests_by_kind": {"UpdateMultiple": bulk},
        "throttled_429": int(sum(fake.protection.stats.throttled.values())),
        "not_updated": args.records - _updated(fake, ids),
        "notes": "in-process, latency slept; metadata look-ups answered by the harness",
    }
