"""The budget pacer: remaining-budget headers space request starts, with an injected clock."""

from __future__ import annotations

import pytest

from d365leads.config import Settings
from d365leads.errors import ConfigError
from d365leads.http.pacing import (
    HEADER_BURST_REMAINING,
    HEADER_TIME_REMAINING,
    BudgetPacer,
    parse_budget_value,
)
from d365leads.http.throttle import ThrottleState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("raw", "value"),
    [("5999", 5999.0), ("1,199.46", 1199.46), (" 1,200.00 ", 1200.0), ("0.00", 0.0)],
)
def test_budget_values_are_read_as_published(raw: str, value: float) -> None:
    assert parse_budget_value(raw) == value


@pytest.mark.parametrize("raw", [None, "", "lots", "-3", "nan", "inf"])
def test_unreadable_budget_values_are_ignored(raw: str | None) -> None:
    assert parse_budget_value(raw) is None


def _time(seconds: float) -> dict[str, str]:
    return {HEADER_TIME_REMAINING: f"{seconds:,.2f}"}


def test_no_headers_means_no_pacing_however_busy() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=300, clock=clock)
    for _ in range(50):
        pacer.observe({"x-ms-dop-hint": "8"}, elapsed_s=2.0)
        assert pacer.reserve() == 0.0
    assert pacer.paced == 0


def test_plenty_of_budget_left_means_no_pacing() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=300, clock=clock)
    pacer.observe(_time(1200), elapsed_s=1.0)
    pacer.observe(_time(400), elapsed_s=1.0)  # more than a quarter of the most seen
    assert pacer.spacing() == 0.0
    assert [pacer.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]


def test_low_time_budget_spaces_starts_at_the_rate_the_window_refills() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=300, clock=clock)
    pacer.observe(_time(1200), elapsed_s=2.0)
    pacer.observe(_time(240), elapsed_s=2.0)  # a fifth left: pace
    # 1200 s of server time per 300 s comes back at 4 s per second; a request costs ~2 s.
    assert pacer.spacing() == pytest.approx(0.5)
    waits = [pacer.reserve() for _ in range(3)]  # three workers asking at the same instant
    assert waits == pytest.approx([0.0, 0.5, 1.0])
    clock.now += 1.0
    assert pacer.reserve() == pytest.approx(0.5)
    assert pacer.paced == 3


def test_spacing_widens_as_the_budget_nears_zero_up_to_a_bound() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=300, clock=clock)
    pacer.observe(_time(1200), elapsed_s=2.0)
    pacer.observe(_time(120), elapsed_s=2.0)  # 10% left: base spacing
    assert pacer.spacing() == pytest.approx(0.5)
    pacer.observe(_time(60), elapsed_s=2.0)  # 5%: twice as wide
    assert pacer.spacing() == pytest.approx(1.0)
    pacer.observe(_time(0), elapsed_s=2.0)  # exhausted: at most twice as wide
    assert pacer.spacing() == pytest.approx(1.0)


def test_request_budget_paces_one_request_per_refilled_slot() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=300, clock=clock)
    pacer.observe({HEADER_BURST_REMAINING: "6000"})
    pacer.observe({HEADER_BURST_REMAINING: "1200"})
    assert pacer.spacing() == pytest.approx(300 / 6000)


def test_a_reading_older_than_the_window_is_not_trusted() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=5, clock=clock)
    pacer.observe(_time(20), elapsed_s=1.0)
    pacer.observe(_time(1), elapsed_s=1.0)
    assert pacer.spacing() > 0
    clock.now += 5.5
    assert pacer.spacing() == 0.0
    assert pacer.reserve() == 0.0


def test_one_wait_is_bounded() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=300, clock=clock)
    pacer.observe(_time(1200), elapsed_s=100.0)
    pacer.observe(_time(0), elapsed_s=100.0)
    assert pacer.spacing() > pacer.max_wait_s
    pacer.reserve()
    assert pacer.reserve() == pacer.max_wait_s


def test_window_zero_turns_pacing_off() -> None:
    pacer = BudgetPacer(window_s=0, clock=Clock())
    pacer.observe(_time(1200), elapsed_s=1.0)
    pacer.observe(_time(0), elapsed_s=1.0)
    assert pacer.reserve() == 0.0
    with pytest.raises(ValueError, match="window_s"):
        BudgetPacer(window_s=-1, clock=Clock())


def test_throttle_state_sleeps_for_its_pacing_slot_and_siblings_keep_the_window() -> None:
    clock = Clock()
    slept: list[float] = []
    state = ThrottleState(clock=clock, limit_window=300)
    state.observe(_time(1200), elapsed_s=2.0)
    state.observe(_time(240), elapsed_s=2.0)
    assert state.wait(slept.append) == 0.0  # no 429 pause
    state.wait(slept.append)
    assert slept == pytest.approx([0.5])
    sibling = state.sibling()
    assert sibling.pacer.window_s == 300
    assert sibling.pacer.spacing() == 0.0  # another user's budget is its own
    assert ThrottleState(clock=clock).pacer.window_s == 0


def test_limit_window_setting() -> None:
    # Off unless asked: Microsoft says the budget headers are not for flow control.
    assert Settings(url="https://x.crm.dynamics.com").limit_window == 0
    env = {"D365_URL": "https://x.crm.dynamics.com", "D365_LIMIT_WINDOW": "5"}
    assert Settings.from_env(env).limit_window == 5
    with pytest.raises(ConfigError, match="D365_LIMIT_WINDOW"):
        Settings.from_env({**env, "D365_LIMIT_WINDOW": "-1"})
    with pytest.raises(ConfigError, match="D365_LIMIT_WINDOW"):
        Settings.from_env({**env, "D365_LIMIT_WINDOW": "soon"})
