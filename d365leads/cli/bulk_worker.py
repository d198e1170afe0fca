"""``d365leads bulk worker``: join a running job whose journal is shared in PostgreSQL."""

from __future__ import annotations

import click

from d365leads.bulk.identities import Identity
from d365leads.bulk.journal_pg import PgJournal, is_database_url
from d365leads.bulk.runner import RunOptions
from d365leads.bulk.worker import DEFAULT_LEASE_S, DEFAULT_SLOT_LEASE_S, run_worker
from d365leads.cli.context import State
from d365leads.cli.errors import PartialFailure, UsageProblem
from d365leads.cli.identities import (
    default_identity_name,
    identity_option,
    open_identities,
    parse_identity,
)

__all__ = ["worker"]


@click.command("worker")
@click.option("--job", "job_id", required=True, metavar="JOB_ID", help="The job to work on.")
@click.option(
    "--journal",
    "journal_url",
    required=True,
    metavar="postgresql://...",
    help="The PostgreSQL journal the job was created in.",
)
@identity_option()
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Operations per $batch to start with (adapts to throttling).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 52),
    default=None,
    help="Maximum parallel requests per identity (default: the server's x-ms-dop-hint).",
)
@click.option(
    "--lease",
    "lease_s",
    type=click.FloatRange(1, 3600),
    default=DEFAULT_LEASE_S,
    show_default=True,
    help="Seconds a claimed chunk stays this worker's without renewal; a dead worker's "
    "chunks are taken over after it.",
)
@click.option(
    "--slot-lease",
    "slot_lease_s",
    type=click.FloatRange(1.5, 600),
    default=DEFAULT_SLOT_LEASE_S,
    show_default=True,
    help="Seconds this worker's share of the x-ms-dop-hint outlives it (renewed every 0.5 s); "
    "the other workers of the identity take a dead worker's share over after it.",
)
@click.pass_context
def worker(
    ctx: click.Context,
    /,
    job_id: str,
    journal_url: str,
    identity: tuple[str, ...],
    batch_size: int,
    concurrency: int | None,
    lease_s: float,
    slot_lease_s: float,
) -> None:
    """Join a running job from any machine that reaches its PostgreSQL journal.

    Workers claim chunks of the job under a lease and take over the chunks of a worker that
    died once its lease expires; leads whose outcome is unknown are re-read before anything is
    sent again. The job is marked finished once, by whichever worker settles it. Workers of
    the same identity split its x-ms-dop-hint between them through the journal.
    """
    state = ctx.ensure_object(State)
    if not is_database_url(journal_url):
        raise UsageProblem("bulk worker needs a shared journal: --journal postgresql://...")
    specs = [parse_identity(text) for text in identity]
    options = RunOptions(
        batch_size=batch_size,
        max_batch_size=batch_size,
        min_batch_size=min(5, batch_size),
        concurrency=concurrency,
    )
    if specs:
        identities = open_identities(state, specs, keep_affinity=False, pool_size=56)
    else:
        session = state.client(keep_affinity=False, pool_size=56).session
        identities = [Identity(default_identity_name(state), session)]
    with PgJournal(journal_url) as journal:
        state.out.info(f"worker joining job {job_id} (journal {journal.path})")
        summary = run_worker(
            identities, journal, job_id, options=options, lease_s=lease_s, slot_lease_s=slot_lease_s
        )
    state.out.record(summary.to_json())
    failed = summary.counts.get("failed", 0)
    if failed:
        raise PartialFailure(f"{failed} leads of job {job_id} failed; see the job's report")
