"""The adaptive size of bulk message requests."""

from __future__ import annotations

import pytest

from d365leads import InvalidInputError
from d365leads.multiple import ChunkSizer


def test_halves_when_congested_and_grows_after_calm_requests() -> None:
    sizer = ChunkSizer(100)
    sizer.feedback(congested=True)
    assert sizer.size == 50
    for _ in range(3):
        sizer.feedback(congested=False)
    assert sizer.size == 75
    for _ in range(60):
        sizer.feedback(congested=False)
    assert sizer.size == 1000
    for _ in range(20):
        sizer.feedback(congested=True)
    assert sizer.size == 10


@pytest.mark.parametrize("start", [0, 1001])
def test_refuses_sizes_outside_the_service_limit(start: int) -> None:
    with pytest.raises(InvalidInputError, match="between 1 and 1000"):
        ChunkSizer(start)
