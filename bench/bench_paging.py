"""A full paged read of the lead table by the fake's bare collection handler (issue 18).

``fake(FakeRequest("GET", …/leads?$orderby=…))`` with ``Prefer: odata.maxpagesize=5000``,
following ``@odata.nextLink`` to the end, once without annotations and once with
``odata.include-annotations="*"``; CPU seconds of the whole read and per page, and the
slowest page.  Before issue 18's query cache every page filtered, copied and sorted the whole
table, so a full read grew with the square of the table.

    python bench/bench_paging.py [--rows 100000] [--repo PATH]

``--repo`` imports ``d365leads`` from another checkout (a "before" run on older code).
Results: a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--repo", type=Path, default=HERE.parent)
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    from d365leads.fake import FakeDataverse, FakeOptions, FakeRequest

    unlimited = {"max_requests": None, "max_exec_ms": None, "max_concurrency": None}
    fake = FakeDataverse(options=FakeOptions(**unlimited), sleep=time.sleep)
    fake.seed(
        "lead",
        [
            {"subject": f"Inquiry {i}", "lastname": f"Lee{i}", "numberofemployees": i % 300}
            for i in range(args.rows)
        ],
    )
    print(
        f"{args.rows:,} leads, page size {args.page_size}, code from {args.repo}, "
        f"Python {platform.python_version()}, load {os.getloadavg()}"
    )
    print("| read | pages | CPU s | ms per page | slowest page ms |")
    print("|---|---:|---:|---:|---:|")
    for label, prefer in (
        ("$orderby=createdon desc", f"odata.maxpagesize={args.page_size}"),
        (
            "$orderby=createdon desc, annotations *",
            f'odata.maxpagesize={args.page_size},odata.include-annotations="*"',
        ),
    ):
        headers = {"Authorization": "Bearer bench", "Prefer": prefer}
        url: str | None = f"{fake.org_url}/api/data/v9.2/leads?$orderby=createdon%20desc"
        pages = 0
        slowest = 0.0
        seen = 0
        began = time.process_time()
        while url is not None:
            t = time.process_time()
            response = fake(FakeRequest("GET", url, dict(headers)))
            assert response.status == 200, response.body[:200]
            body = json.loads(response.body)
            slowest = max(slowest, time.process_time() - t)
            seen += len(body["value"])
            url = body.get("@odata.nextLink")
            pages += 1
        spent = time.process_time() - began
        assert seen == args.rows, seen
        print(
            f"| {label} | {pages} | {spent:.2f} | {spent / pages * 1000:.0f} | "
            f"{slowest * 1000:.0f} |"
        )
    print(f"load at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
