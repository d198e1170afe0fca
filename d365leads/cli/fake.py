"""``d365leads fake``: run the stateful fake Dataverse as a local HTTP server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from d365leads.cli.errors import UsageProblem

__all__ = ["fake"]


def _limit(value: int | None) -> int | None:
    """0 switches a service-protection limit off (``None`` in FakeOptions)."""
    if value is None:
        return None
    return None if value == 0 else value


@click.group()
def fake() -> None:
    """Run the offline fake Dataverse (no tenant needed)."""


@fake.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 = a free port."
)
@click.option(
    "--seed",
    "seed_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON or YAML file of rows to load: {"lead": [{...}], "account": [...]}.',
)
@click.option("--demo-data", is_flag=True, help="Load a few hundred realistic demo leads.")
@click.option(
    "--replay",
    "replay_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Answer from a recorded cassette (d365leads cassette format) instead of the store.",
)
@click.option(
    "--strict-auth",
    is_flag=True,
    help="Accept only the --token value (and tokens from the fake's own login endpoint).",
)
@click.option(
    "--token",
    default="fake-token",
    show_default=True,
    help="Bearer token accepted under --strict-auth.",
)
@click.option("--latency-ms", type=click.FloatRange(min=0), help="Fixed latency per request.")
@click.option(
    "--op-cost-ms", type=click.FloatRange(min=0), help="Simulated execution time per operation."
)
@click.option(
    "--max-requests", type=click.IntRange(min=0), help="Requests per window (0 = no limit)."
)
@click.option(
    "--window-s", type=click.FloatRange(min=0, min_open=True), help="Service-protection window."
)
@click.option(
    "--max-exec-ms",
    type=click.IntRange(min=0),
    help="Execution time per window in ms (0 = no limit).",
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=0),
    help="Concurrent requests per caller (0 = no limit).",
)
@click.option(
    "--dop-hint", type=click.IntRange(min=0), help="x-ms-dop-hint header value (0 = omit it)."
)
@click.option(
    "--change-retention-days",
    type=click.FloatRange(min=0),
    help="How long delta (change tracking) tokens stay valid.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    help="Scripted fault, e.g. 'throttle:3' (repeatable; see the fake's SUPPORTED.md).",
)
def serve(
    host: str,
    port: int,
    seed_file: Path | None,
    demo_data: bool,
    replay_file: Path | None,
    strict_auth: bool,
    token: str,
    latency_ms: float | None,
    op_cost_ms: float | None,
    max_requests: int | None,
    window_s: float | None,
    max_exec_ms: int | None,
    max_concurrency: int | None,
    dop_hint: int | None,
    change_retention_days: float | None,
    faults: tuple[str, ...],
) -> None:
    """Serve the fake over HTTP until Ctrl-C; the first stdout line is the org URL.

    Point the client at it with D365_URL=<that url> and any D365_ACCESS_TOKEN.
    """
    from d365leads.fake import FakeOptions, run_server
    from d365leads.fake.pipeline.faults import FaultSpecError, parse_fault_spec

    for spec in faults:
        try:
            parse_fault_spec(spec)
        except FaultSpecError as exc:
            raise UsageProblem(f"--fault {spec!r}: {exc}") from None

    changes: dict[str, Any] = {"strict_auth": strict_auth, "faults": list(faults)}
    for name, value in (
        ("latency_ms", latency_ms),
        ("op_cost_ms", op_cost_ms),
        ("window_s", window_s),
        ("change_retention_days", change_retention_days),
    ):
        if value is not None:
            changes[name] = value
    for name, raw in (
        ("max_requests", max_requests),
        ("max_exec_ms", max_exec_ms),
        ("max_concurrency", max_concurrency),
        ("dop_hint", dop_hint),
    ):
        if raw is not None:
            changes[name] = _limit(raw)
    try:
        options = FakeOptions().replace(**changes)
    except ValueError as exc:
        raise UsageProblem(f"invalid fake option: {exc}") from None
    try:
        run_server(
            host=host,
            port=port,
            options=options,
            seed_file=seed_file,
            demo_data=demo_data,
            out=sys.stdout,
            accepted_tokens=(token,),
            replay=replay_file,
        )
    except OSError as exc:
        raise UsageProblem(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port (0 = any free port)",
        ) from None
    except ValueError as exc:  # a malformed seed file
        raise UsageProblem(f"cannot start the fake: {exc}") from None
