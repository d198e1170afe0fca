"""``python -m d365leads.fake``: run the fake Dataverse as a local HTTP server.

The first line on stdout is the org URL (``http://127.0.0.1:PORT``), flushed at once; the
server runs until SIGINT/SIGTERM and then shuts down cleanly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .adapters.serve import run_server
from .core.options import FakeOptions
from .pipeline.faults import FaultSpecError, parse_fault_spec

__all__ = ["build_parser", "main", "options_from_args"]


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (off) or a positive number, got {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {value}")
    return value


def _fault(text: str) -> str:
    try:
        parse_fault_spec(text)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (flags mirror the :class:`FakeOptions` fields)."""
    parser = argparse.ArgumentParser(
        prog="python -m d365leads.fake",
        description="Run the stateful fake Dataverse as a local HTTP server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--seed", metavar="FILE", help="seed file: JSON or YAML {table: [rows]}")
    parser.add_argument("--demo-data", action="store_true", help="seed realistic demo data")
    parser.add_argument(
        "--replay", metavar="FILE", help="answer from a recorded cassette instead of the store"
    )
    parser.add_argument(
        "--strict-auth",
        action="store_true",
        help="accept only the bearer token given with --token",
    )
    parser.add_argument(
        "--token",
        default="fake-token",
        help="bearer token accepted under --strict-auth (default: fake-token)",
    )
    parser.add_argument("--latency-ms", type=_non_negative, help="latency added per request")
    parser.add_argument("--op-cost-ms", type=_non_negative, help="execution time per operation")
    parser.add_argument("--max-requests", type=_limit, help="requests per caller per window")
    parser.add_argument("--window-s", type=_non_negative, help="service protection window")
    parser.add_argument("--max-exec-ms", type=_limit, help="execution ms per window (0 = off)")
    parser.add_argument("--max-concurrency", type=_limit, help="concurrent requests (0 = off)")
    parser.add_argument("--dop-hint", type=_limit, help="x-ms-dop-hint value (0 = none)")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        type=_fault,
        metavar="SPEC",
        help="scripted fault, e.g. throttle:2:5 or lost:1@POST:^leads (repeatable)",
    )
    parser.add_argument("--change-retention-days", type=_non_negative, help="delta token retention")
    return parser


def options_from_args(args: argparse.Namespace) -> FakeOptions:
    """Build :class:`FakeOptions` from parsed arguments (unset flags keep the defaults)."""
    changes: dict[str, object] = {"strict_auth": bool(args.strict_auth), "faults": list(args.fault)}
    for name in (
        "latency_ms",
        "op_cost_ms",
        "max_requests",
        "window_s",
        "max_exec_ms",
        "max_concurrency",
        "dop_hint",
        "change_retention_days",
    ):
        value = getattr(args, name)
        if value is None:
            continue
        # 0 switches a limit off (None in FakeOptions), as in `d365leads fake serve`.
        limits = ("max_requests", "max_exec_ms", "max_concurrency", "dop_hint")
        changes[name] = None if name in limits and value == 0 else value
    return FakeOptions().replace(**changes)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, serve until interrupted and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    try:
        run_server(
            host=args.host,
            port=args.port,
            options=options,
            seed_file=args.seed,
            demo_data=args.demo_data,
            accepted_tokens=(args.token,),
            replay=args.replay,
        )
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
