"""The ``d365leads`` command line (click). Entry point: :func:`main`."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and exit with its exit code."""
    from d365leads.cli.app import cli

    cli.main(args=list(argv) if argv is not None else None, prog_name="d365leads")
