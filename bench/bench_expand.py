"""Benchmark: a collection ``$expand`` over growing tables (issue 16: it must be linear).

Run it from the repository root::

    python bench/bench_expand.py                    # 250 .. 2000 accounts, 3 leads each
    python bench/bench_expand.py --sizes 500 1000   # other sizes

Each size seeds a fresh in-process fake with N accounts and 3N leads pointing at them, then
times one ``GET accounts?$select=name&$expand=lead_parent_account($select=lastname)`` (every
account on one page).  The fake reads the lead table once per request and groups it by
``parentaccountid``, so the time grows with N; reading it once per account row, as before,
grew with N squared (1000 accounts: about 20 s instead of under 0.5 s on the development box).
"""

from __future__ import annotations

import argparse
import time

import requests

from d365leads.fake import FakeDataverse

QUERY = "accounts?$select=name&$expand=lead_parent_account($select=lastname)"


def measure(accounts: int) -> float:
    """Seconds for one expanded read of ``accounts`` accounts with three leads each."""
    fake = FakeDataverse(sleep=lambda seconds: None)
    ids = fake.seed("account", [{"name": f"Account {i}"} for i in range(accounts)])
    fake.seed(
        "lead",
        [
            {"lastname": f"Lead {i}", "parentaccountid": ids[i % accounts]}
            for i in range(3 * accounts)
        ],
    )
    with fake.mock():
        started = time.perf_counter()
        answer = requests.get(
            fake.base_url + QUERY, headers={"Authorization": "Bearer bench"}, timeout=600
        )
        elapsed = time.perf_counter() - started
    answer.raise_for_status()
    rows = answer.json()["value"]
    if len(rows) != accounts or any(len(r["lead_parent_account"]) != 3 for r in rows):
        raise SystemExit("the expanded answer is incomplete")
    return elapsed


def main() -> None:
    """Print one line per size: accounts, leads, milliseconds, microseconds per account."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000])
    args = parser.parse_args()
    print("accounts | leads | ms | us per account")
    for size in args.sizes:
        seconds = measure(size)
        print(f"{size} | {3 * size} | {seconds * 1000:.0f} | {seconds * 1e6 / size:.0f}")


if __name__ == "__main__":
    main()
