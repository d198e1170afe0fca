"""The window ledger: pacing that predicts when the identity's own work leaves the window."""

from __future__ import annotations

import pytest

from d365leads.http.pacing import HEADER_TIME_REMAINING, BudgetPacer
from d365leads.http.throttle import ThrottleState
from d365leads.http.window_ledger import WindowLedger


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _time(seconds: float) -> dict[str, str]:
    return {HEADER_TIME_REMAINING: f"{seconds:,.2f}"}


def test_the_ledger_holds_what_completed_within_the_window() -> None:
    ledger = WindowLedger(5.0)
    ledger.add(100.0, 1.5)
    ledger.add(101.0, 2.0)
    ledger.add(102.0, -1.0)  # a negative duration is no cost
    assert ledger.held(102.0) == pytest.approx(3.5)
    assert ledger.held(105.0) == pytest.approx(2.0)  # the first left at 100 + 5
    assert ledger.held(106.0) == 0.0
    assert len(ledger) == 1  # the free one leaves at 107
    ledger.prune(107.0)
    assert len(ledger) == 0


def test_the_ledger_says_when_its_own_work_frees_the_budget() -> None:
    ledger = WindowLedger(5.0)
    for at in (100.0, 100.5, 101.0, 101.5):
        ledger.add(at, 1.0)
    assert ledger.below_at(102.0, 10.0) == 102.0  # 4 held, below 10 already
    assert ledger.below_at(102.0, 4.0) == pytest.approx(105.0)  # one must leave
    assert ledger.below_at(102.0, 2.5) == pytest.approx(105.5)  # two must leave
    assert ledger.below_at(102.0, 0.5) == pytest.approx(106.5)  # all must leave


def test_a_late_reading_keeps_the_ledger_in_order() -> None:
    ledger = WindowLedger(5.0)
    ledger.add(101.0, 1.0)
    ledger.add(100.0, 1.0)  # recorded at 101: it cannot leave before the one before it
    assert ledger.held(105.5) == pytest.approx(2.0)
    assert ledger.held(106.0) == 0.0
    with pytest.raises(ValueError, match="window_s"):
        WindowLedger(0)


def _fill(pacer: BudgetPacer, clock: Clock, *, budget: float, cost: float, count: int) -> None:
    """``count`` requests of one user, one after the other, as the service reports them."""
    held = 0.0
    for _ in range(count):
        clock.now += cost
        held += cost
        pacer.observe(_time(max(0.0, budget - held)), elapsed_s=cost)


def test_a_sole_user_waits_exactly_until_its_oldest_work_leaves_the_window() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=10, clock=clock)
    _fill(pacer, clock, budget=5.0, cost=0.25, count=20)  # the whole budget, 1000.25..1005
    assert pacer.predicting()
    assert pacer.spacing() == 0.0  # the prediction replaces the spacing
    # The first 0.25 s leaves the window at 1000.25 + 10: longer than max_wait_s, and right.
    assert pacer.reserve() == pytest.approx(5.25)
    assert pacer.reserve() == pytest.approx(5.25)  # no start slots: the service admits both
    clock.now += 5.25
    assert pacer.reserve() == 0.0
    assert pacer.paced == 2


def test_with_budget_left_a_sole_user_is_not_slowed_near_the_limit() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=10, clock=clock)
    _fill(pacer, clock, budget=5.0, cost=0.25, count=19)  # 5% left: spacing would double
    assert pacer.predicting()
    assert [pacer.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, 0.0]


def test_answers_out_of_order_do_not_unsettle_the_implied_budget() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=10, clock=clock)
    _fill(pacer, clock, budget=20.0, cost=1.0, count=5)
    # Four parallel answers, read in another order than the service wrote them.
    for left in (12.0, 14.0, 15.0, 13.0):
        clock.now += 0.01
        pacer.observe(_time(left), elapsed_s=1.0)
    assert pacer.predicting()
    assert pacer.reserve() == 0.0  # 11 s held of a budget still read as about 20


def test_another_sender_on_the_same_budget_ends_the_prediction() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=10, clock=clock)
    _fill(pacer, clock, budget=20.0, cost=1.0, count=3)
    assert pacer.predicting()
    for _ in range(10):  # another process spends 1.5 s for each of our 1 s
        clock.now += 0.1
        pacer.observe(_time(max(0.0, 17.0 - 2.5 * (_ + 1))), elapsed_s=1.0)
    assert not pacer.predicting()
    assert pacer.spacing() > 0  # the spacing on the remaining share applies again


def test_none_left_while_the_ledger_holds_little_is_not_trusted() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=10, clock=clock)
    _fill(pacer, clock, budget=20.0, cost=1.0, count=2)
    pacer.observe(_time(0), elapsed_s=1.0)  # 3 s held of 20, yet none left: not ours alone
    assert not pacer.predicting()


def test_a_refused_request_costs_the_ledger_nothing() -> None:
    clock = Clock()
    pacer = BudgetPacer(window_s=10, clock=clock)
    _fill(pacer, clock, budget=20.0, cost=1.0, count=2)
    pacer.observe({"Retry-After": "2"}, elapsed_s=3.0)
    pacer.observe({"retry-after": "2"}, elapsed_s=3.0)
    _fill(pacer, clock, budget=18.0, cost=1.0, count=1)
    assert pacer.predicting()  # 3 held + 17 left: the refusals were not counted as 6 s more


def test_no_window_means_no_ledger() -> None:
    pacer = BudgetPacer(window_s=0, clock=Clock())
    pacer.observe(_time(0), elapsed_s=5.0)
    assert not pacer.predicting()
    assert pacer.hold() == 0.0


def test_a_worker_looks_again_after_its_pacing_wait() -> None:
    clock = Clock()
    state = ThrottleState(clock=clock, limit_window=10)
    pacer = state.pacer
    _fill(pacer, clock, budget=5.0, cost=0.25, count=20)  # 1000.25 .. 1005.00
    answers = iter([2.0, 1.0])  # answers of requests in flight land while it waits
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds
        extra = next(answers, None)
        if extra is not None:
            pacer.observe(_time(0), elapsed_s=extra)

    state.wait(sleep)
    # 5.25 s for the first 0.25 s to leave; by then 3 s more landed: wait for 12 more
    # entries (3 s) to leave, then one more, since the sum must fall below the budget.
    assert slept[0] == pytest.approx(5.25)
    assert pacer.hold() == 0.0
    assert clock.now - 1005.0 == pytest.approx(sum(slept))
    assert len(slept) >= 2
    assert pacer.reserve() == 0.0
