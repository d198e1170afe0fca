"""Running a push: validate, plan, confirm, then write the rows in parallel: ``$batch``, and
UpsertMultiple for rows matched by an alternate key (:mod:`.upserts`)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from d365leads.batch import BatchRequest, OperationResult
from d365leads.errors import DataverseError, InvalidInputError, MalformedBatchResponseError
from d365leads.http.pipeline import ApiSession
from d365leads.multiple import MultipleAPI
from d365leads.records import entity_path
from d365leads.sync._session import SessionSource, session_of
from d365leads.sync.push.cells import READ_ONLY
from d365leads.sync.push.planning import plan_rows
from d365leads.sync.push.results import CsvValidationError, PushOutcome, PushResult
from d365leads.sync.push.upserts import write_upserts
from d365leads.sync.push.validation import (
    CsvRow,
    check_header,
    org_columns,
    read_csv,
    unmodelled_columns,
    validate_rows,
)
from d365leads.sync.tables import LEAD

__all__ = ["DEFAULT_BATCH_SIZE", "push_csv"]


DEFAULT_BATCH_SIZE = 100


def _operation_error(result: OperationResult, incomplete: bool = False) -> str:
    err = result.error
    if err is not None:
        return str(err)
    if not result.executed and incomplete:
        return (
            "no answer for this row (the $batch answer was incomplete): it may or may not have "
            "been written; push the file again to converge"
        )
    if not result.executed:
        return "not executed: the batch stopped before this operation"
    return f"HTTP {result.status}"


def push_csv(
    client: SessionSource,
    source: str | Path | io.TextIOBase,
    *,
    match_on: str = "emailaddress1",
    alternate_key: bool = False,
    dry_run: bool = False,
    skip_invalid: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
    confirm: Callable[[PushResult], bool] | None = None,
) -> PushResult:
    """Create or update leads from a CSV file (header = lead column logical names).

    ``client`` is a :class:`~d365leads.client.DataverseClient` (or its ``session``);
    ``source`` the CSV file (a path or an open text stream).
    Header names that are not modelled lead columns are looked up in the org's column
    definitions (one request, only then; cached on a client's ``metadata``, so call
    ``client.metadata.clear()`` after adding columns to the org) and written by their type.

    Raises :class:`CsvValidationError` (nothing written) when any row is invalid, unless
    ``skip_invalid``; then invalid rows are reported with action ``invalid``. ``dry_run``
    validates and matches (reads only) and reports what would be written.
    Batches go out on up to ``max_workers`` threads (capped by the org's ``x-ms-dop-hint``).
    ``progress(done, total)`` is called after each batch. ``confirm(plan)`` sees the plan
    (a dry-run result) before the first write; returning False writes nothing.
    """
    session = session_of(client)
    name = match_on.strip().lower()
    if LEAD.column(name) is None or name in READ_ONLY:
        raise InvalidInputError(f"cannot match on {match_on!r}: it is not a writable lead column")
    if max_workers < 1:
        raise InvalidInputError(f"max_workers must be at least 1, got {max_workers}")
    if not 1 <= batch_size <= 1000:
        raise InvalidInputError(f"batch size must be 1 to 1000, got {batch_size}")
    header, raw_rows = read_csv(source)
    org, org_problem = (None, None)
    if unmodelled_columns(header):
        org, org_problem = org_columns(client, session)
    header_errors, tenant = check_header(header, name, org, org_problem)
    rows = validate_rows(header, raw_rows, name, tenant)
    if header_errors:
        raise CsvValidationError(header_errors, total_rows=len(rows))
    if alternate_key and name not in header:
        raise InvalidInputError(f"--alternate-key needs the key column {name!r} in the file")
    plan_rows(session, [r for r in rows if not r.errors], name, alternate_key, tenant)
    errors = [e for r in rows for e in r.errors]
    if errors and not skip_invalid:
        raise CsvValidationError(errors, total_rows=len(rows))
    outcomes: dict[int, PushOutcome] = {}
    todo: list[CsvRow] = []
    for row in rows:
        if row.errors:
            outcomes[row.line] = PushOutcome(
                row.line, "invalid", row.match, row.lead_id, "; ".join(str(e) for e in row.errors)
            )
        else:
            outcomes[row.line] = PushOutcome(row.line, row.action, row.match, row.lead_id)
            todo.append(row)
    if dry_run:
        return PushResult([outcomes[r.line] for r in rows], dry_run=True, errors=errors)
    if confirm is not None:
        plan = PushResult([outcomes[r.line] for r in rows], dry_run=True, errors=errors)
        if not confirm(plan):
            plan.aborted = True
            return plan
    chunks = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    # As many writers as Dataverse recommends (x-ms-dop-hint, seen on the lookups), capped;
    # they share the session's throttle state, so a 429 pauses all of them.
    hint = session.throttle.snapshot().dop_hint or 1
    count = max(1, min(max_workers, hint, len(chunks)))
    lock = threading.Lock()
    done = 0

    bulk = MultipleAPI(session)  # alternate-key upserts: UpsertMultiple where leads have it

    def write(chunk: list[CsvRow]) -> None:
        nonlocal done
        upserts = [r for r in chunk if r.action == "upsert" and not r.reopen]
        others = [r for r in chunk if r.action != "upsert" or r.reopen]
        answers = _write_batch(session, others, name) if others else {}
        answers.update(write_upserts(bulk, upserts, name))
        with lock:
            outcomes.update(answers)
            done += len(chunk)
            if progress is not None:
                progress(done, len(todo))

    if count == 1:
        for chunk in chunks:
            write(chunk)
    else:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="d365leads-push") as pool:
            for future in [pool.submit(write, chunk) for chunk in chunks]:
                future.result()
    return PushResult([outcomes[r.line] for r in rows], dry_run=False, errors=errors)


def _write_batch(session: ApiSession, chunk: list[CsvRow], match_on: str) -> dict[int, PushOutcome]:
    batch = BatchRequest(session, continue_on_error=True)
    sizes: list[int] = []
    for row in chunk:
        if row.reopen:
            assert row.lead_id is not None
            path = entity_path("leads", row.lead_id)
            state = {k: row.body[k] for k in ("statecode", "statuscode")}
            rest = {k: v for k, v in row.body.items() if k not in state}
            with batch.changeset() as changes:
                changes.patch(path, state, if_match="*")
                changes.patch(path, rest, if_match="*")
            sizes.append(2)
            continue
        sizes.append(1)
        if row.action == "create":
            batch.post("leads", row.body)
        elif row.action == "update":
            assert row.lead_id is not None
            batch.patch(entity_path("leads", row.lead_id), row.body, if_match="*")
        else:
            key = {match_on: row.body[match_on]}
            body = {k: v for k, v in row.body.items() if k != match_on}
            batch.patch(entity_path("leads", key), body, if_match=None)
    outcomes: dict[int, PushOutcome] = {}
    incomplete = False
    try:
        results: Iterable[OperationResult] = batch.execute()
    except MalformedBatchResponseError as exc:
        if len(exc.results) != sum(sizes):
            return _all_failed(chunk, exc)
        # The rows answered are settled; the others may or may not have been written.
        results, incomplete = exc.results, True
    except DataverseError as exc:
        return _all_failed(chunk, exc)
    answers = list(results)
    at = 0
    for row, size in zip(chunk, sizes, strict=True):
        mine = answers[at : at + size]
        at += size
        failed = [res for res in mine if not res.ok]
        if mine and not failed:
            rid = mine[0].entity_id or row.lead_id
            outcomes[row.line] = PushOutcome(row.line, row.action, row.match, rid)
        else:
            error = (
                _operation_error(failed[0], incomplete)
                if failed
                else "no answer for this operation"
            )
            outcomes[row.line] = PushOutcome(row.line, "failed", row.match, row.lead_id, error)
    return outcomes


def _all_failed(chunk: list[CsvRow], exc: DataverseError) -> dict[int, PushOutcome]:
    outcomes: dict[int, PushOutcome] = {}
    for row in chunk:
        outcomes[row.line] = PushOutcome(
            row.line, "failed", row.match, row.lead_id, f"the batch failed: {exc}"
        )
    return outcomes
