"""The tables of the PostgreSQL bulk journal (:mod:`d365leads.bulk.journal_pg`)."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["ROW_COLUMNS", "chunks", "items", "jobs", "metadata", "pauses", "presence", "slots"]

metadata = sa.MetaData()
jobs = sa.Table(
    "bulk_jobs",
    metadata,
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("org_url", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("spec_hash", sa.Text, nullable=False),
    sa.Column("selection", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
)
items = sa.Table(
    "bulk_items",
    metadata,
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("lead_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("chunk", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("before_state", sa.Integer),
    sa.Column("before_status", sa.Integer),
    sa.Column("target_state", sa.Integer, nullable=False),
    sa.Column("target_status", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("skip_reason", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("http_status", sa.Integer),
    sa.Column("error_code", sa.Text),
    sa.Column("error_message", sa.Text),
    sa.Column("after_state", sa.Integer),
    sa.Column("after_status", sa.Integer),
    sa.Column("identity", sa.Text),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("path", sa.Text),
    sa.Index("bulk_items_chunk", "job_id", "chunk", "status"),
)
chunks = sa.Table(
    "bulk_chunks",
    metadata,
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("chunk", sa.Integer, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),  # open, leased, done
    sa.Column("worker", sa.Text),
    sa.Column("lease_until", sa.Float),
    sa.Column("claims", sa.Integer, nullable=False, server_default="0"),
)
pauses = sa.Table(
    "bulk_pauses",
    metadata,
    sa.Column("org_url", sa.Text, primary_key=True),
    sa.Column("identity", sa.Text, primary_key=True),
    sa.Column("paused_until", sa.Float, nullable=False),
)
# The live worker processes of each identity, and the identity's x-ms-dop-hint request slots
# they hold (d365leads.bulk.journal_pg_share).
presence = sa.Table(
    "bulk_presence",
    metadata,
    sa.Column("org_url", sa.Text, primary_key=True),
    sa.Column("identity", sa.Text, primary_key=True),
    sa.Column("worker", sa.Text, primary_key=True),
    sa.Column("lease_until", sa.Float, nullable=False),
    sa.Column("dop_hint", sa.Integer),
)
slots = sa.Table(
    "bulk_slots",
    metadata,
    sa.Column("org_url", sa.Text, primary_key=True),
    sa.Column("identity", sa.Text, primary_key=True),
    sa.Column("slot", sa.Integer, primary_key=True),
    sa.Column("worker", sa.Text),
    sa.Column("lease_until", sa.Float, nullable=False, server_default="0"),
)

ROW_COLUMNS = [
    items.c.seq,
    items.c.lead_id,
    items.c.name,
    items.c.before_state,
    items.c.before_status,
    items.c.target_state,
    items.c.target_status,
    items.c.status,
    items.c.skip_reason,
    items.c.attempts,
    items.c.http_status,
    items.c.error_code,
    items.c.error_message,
    items.c.after_state,
    items.c.after_status,
    items.c.path,
]
