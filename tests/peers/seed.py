"""The rows every peer test starts from."""

from __future__ import annotations

from d365leads.fake import FakeDataverse

__all__ = ["OPEN", "seed_leads"]

OPEN = 0


def seed_leads(fake: FakeDataverse, count: int) -> list[str]:
    """``count`` leads Lee00, Lee01, … at companies C0, C1, C2 in turn; every fourth disqualified.

    Queries that filter on ``statecode eq 0`` therefore have rows to leave out, and queries on a
    company have rows from several pages.
    """
    rows = []
    for i in range(count):
        state, status = (2, 4) if i % 4 == 3 else (OPEN, 1)
        rows.append(
            {
                "lastname": f"Lee{i:02d}",
                "companyname": f"C{i % 3}",
                "statecode": state,
                "statuscode": status,
            }
        )
    return fake.seed("lead", rows)
