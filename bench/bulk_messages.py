"""Field-update contenders of ``bench_bulk.py``: UpdateMultiple against ``$batch``, and the SDK.

* ``d365leads update_many`` with the fake's bulk messages on (UpdateMultiple, chunks of up to
  1,000 after the support probe) and off (the same call falls back to ``$batch``): one field
  (``companyname``) on every lead, sequential requests, against the fake's HTTP server.
* Microsoft's ``powerplatform-dataverse-client`` 1.1.0 through ``records.update(table, [ids],
  changes)``, its UpdateMultiple path, chunked by 1,000.  The SDK refuses non-https URLs, so it
  talks to the fake in-process (latency and execution time really slept).  Its table and
  choice-label metadata look-ups (``EntityDefinitions``, ``PicklistAttributeMetadata``) are
  answered by the fake itself: the SDK runs end to end, with no answer from this harness.

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

__all__ = ["run_field_update", "run_sdk_update_multiple"]

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


def run_sdk_update_multiple(args: argparse.Namespace, options: Any) -> dict[str, Any]:
    """The SDK's ``records.update("lead", ids, changes)`` (UpdateMultiple) in 1,000-id chunks."""
    from PowerPlatform.Dataverse.client import DataverseClient as SdkClient

    class _Credential:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            from azure.core.credentials import AccessToken

            return AccessToken(TOKEN, int(time.time()) + 3600)

    fake = FakeDataverse(options=options.replace(sleep_in_process=True))
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
        "metadata_lookups": len(fake.requests("GET", "EntityDefinitions")),
        "notes": "in-process, latency slept; end to end, metadata look-ups answered by the fake",
    }


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        "## Field update: UpdateMultiple against `$batch`, and Microsoft's SDK",
        "",
        f"`{report['command']}` (load average {report['load_1m']}). The SDK runs end to end: "
        "its metadata look-ups are answered by the fake, not by this harness.",
        "",
        "| contender | records | wall time (s) | records/s | requests | 429s | not updated |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['name']} | {r['records']} | {r['wall_s']} | {r['records_per_s']} "
        f"| {r['requests']} | {r['throttled_429']} | {r['not_updated']} |"
        for r in report["rows"]
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the field-update rows alone and merge them into ``bulk.json``/``bulk.md``."""
    import os
    import sys
    from pathlib import Path

    from bench_bulk import fake_options  # bench/ is on sys.path when run as a script

    parser = argparse.ArgumentParser(description="bench_bulk.py's field-update rows alone")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--op-cost-ms", type=float, default=10.0)
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--dop-hint", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    rows = [run_field_update(args, fake_options(args), p) for p in ("UpdateMultiple", "$batch")]
    rows.append(run_sdk_update_multiple(args, fake_options(args)))
    report = {
        "command": " ".join(["python bench/bulk_messages.py", *(argv or sys.argv[1:])]),
        "load_1m": round(os.getloadavg()[0], 2),
        "rows": rows,
    }
    results = json.loads((args.out / "bulk.json").read_text())
    results["field_update"] = report
    (args.out / "bulk.json").write_text(json.dumps(results, indent=2) + "\n")
    text = (args.out / "bulk.md").read_text()
    marker = "## Field update:"
    text = text.split(marker)[0].rstrip("\n") + "\n\n" + _markdown(report)
    (args.out / "bulk.md").write_text(text)
    print(_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
