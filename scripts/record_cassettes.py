#!/usr/bin/env python3
"""Re-record the cassettes checked in under ``tests/cassettes/`` (maintainers run this).

    python scripts/record_cassettes.py            # against a local fake server (deterministic)
    python scripts/record_cassettes.py --live     # against the org of D365_URL (+ credentials)

Each scenario of ``SCENARIOS`` runs once through the real HTTP stack with a
:class:`~d365leads.http.recording.RecordingTransport`; the redacted cassette is scanned for
secrets and personal data and only then moved into place (nothing is written if the scenario
fails or the scan finds anything). ``tests/cassette/test_checked_in.py`` replays the result
offline in CI, and CI runs ``d365leads cassette scan tests/cassettes``.

``--live`` creates and qualifies leads in that org: use a sandbox org seeded with synthetic
data. Set ``D365LEADS_CASSETTE_KEY`` only if CI sets the same value (it keys the pseudonyms).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "cassette"))

from cassette_scenario import run_scenario  # noqa: E402

from d365leads import DataverseClient, StaticTokenProvider  # noqa: E402
from d365leads.cassette import scan_paths  # noqa: E402
from d365leads.config import Settings  # noqa: E402
from d365leads.fake import FakeDataverse, FakeOptions, ManualClock  # noqa: E402
from d365leads.http.recording import RecordingTransport  # noqa: E402
from d365leads.http.transport import RequestsTransport  # noqa: E402

#: cassette path below tests/cassettes -> scenario(client)
SCENARIOS: dict[str, Callable[[DataverseClient], Any]] = {
    "lifecycle/lead_lifecycle.json": run_scenario,
}


def _record(
    name: str,
    scenario: Callable[[DataverseClient], Any],
    url: str,
    make_client: Callable[[RecordingTransport], DataverseClient],
    out_dir: Path,
) -> Path:
    recorder = RecordingTransport(RequestsTransport(), url)
    client = make_client(recorder)
    try:
        scenario(client)
    finally:
        client.close()
    target = out_dir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".json", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        recorder.save(tmp)
        findings, _ = scan_paths([tmp])
        if findings:
            for finding in findings:
                print(
                    f"{name}: {finding.where}: {finding.rule}: {finding.excerpt}", file=sys.stderr
                )
            raise SystemExit(
                f"error: {name} not written: the scan found {len(findings)} problem(s)"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """Record every scenario; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--live", action="store_true", help="record against D365_URL's org")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "tests" / "cassettes", help="cassette folder"
    )
    args = parser.parse_args(argv)
    if args.live:
        settings = Settings.from_env()
        for name, scenario in SCENARIOS.items():
            path = _record(
                name,
                scenario,
                settings.url,
                lambda t: DataverseClient.from_settings(settings, transport=t),
                args.out,
            )
            print(f"recorded {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        return 0
    for name, scenario in SCENARIOS.items():
        # A fresh fake per cassette, with fixed ids and clock, so re-recording is reproducible.
        fake = FakeDataverse(options=FakeOptions(guid_seed=20261126), clock=ManualClock())
        with fake.serve() as server:

            def make_client(
                transport: RecordingTransport, url: str = server.url
            ) -> DataverseClient:
                token = StaticTokenProvider("recording")
                return DataverseClient(url, token_provider=token, transport=transport)

            path = _record(name, scenario, server.url, make_client, args.out)
        if fake.errors:
            raise SystemExit(f"error: the fake failed while recording {name}: {fake.errors[0]}")
        print(f"recorded {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
