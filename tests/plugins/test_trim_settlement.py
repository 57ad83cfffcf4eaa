"""``adapters.trim_settlement``: freqtrade's order rows -> trim outcomes ([G2])."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from tests.shipped import shipped_cap_policy

from trader247.adapters.cap_controller import TRIM_TAG, CapController
from trader247.adapters.trim_settlement import (
    cancel_entry_while_reducing,
    record_trim_fill,
    settle_trims,
    trim_complete,
)
from trader247.core.exposure import CapState, Position, Snapshot

T0 = 1_800_000_000.0


def order(status: str = "closed", amount: float = 1.0, filled: float = 1.0, *,
          side: str = "sell", tag: str | None = TRIM_TAG, at: float = T0) -> Any:
    return SimpleNamespace(status=status, safe_amount=amount, safe_filled=filled,
                           ft_is_open=status == "open",
                           safe_remaining=amount - filled, ft_order_side=side, ft_order_tag=tag,
                           order_id="o1", order_date_utc=datetime.fromtimestamp(at, UTC))


def controller(snapshot: Snapshot) -> CapController:
    cap = CapController(policy=shipped_cap_policy(), stake_currency="USD", cycle_seconds=1.0)
    cap.evaluate(snapshot, 1.0, T0)
    return cap


OVER = Snapshot(700.0, (Position("A/USD", 100.0, 1.0), Position("B/USD", 100.0, 1.0),
                        Position("C/USD", 100.0, 1.0)))


@pytest.mark.parametrize(("status", "amount", "filled", "complete"), [
    ("closed", 1.0, 1.0, True),
    ("closed", 1.0, 1.0 - 1e-12, True),  # float noise of a rounded amount
    ("canceled", 1.0, 0.5, False),  # IOC market sell, half the book
    ("canceled", 1.0, 0.99999, False),  # one base increment short is still short
    ("closed", 1.0, 0.5, False),  # a closed order reporting less than its amount
    ("canceled", 1.0, 1.0, True),  # filled in full just before a cancel
])
def test_trim_complete(status: str, amount: float, filled: float, complete: bool) -> None:
    assert trim_complete(order(status, amount, filled)) is complete


def test_a_partial_fill_is_recorded_partial(caplog: pytest.LogCaptureFixture) -> None:
    cap = controller(OVER)
    trim = cap.trim_for("A/USD")
    assert trim is not None and cap.trim_placed(trim, T0)
    latency = record_trim_fill(cap, "A/USD", order("canceled", 2.0, 1.0), T0 + 3.0)
    assert latency == pytest.approx(3.0)
    assert (cap.trim_state.filled, cap.trim_state.partial) == (0, 1)
    assert "TRIM_PARTIAL: pair=A/USD filled=1 of 2" in caplog.text


def test_open_entries_are_cancelled_only_while_reducing() -> None:
    trade = SimpleNamespace(entry_side="buy")
    entering = Snapshot(700.0, (*OVER.positions[:2],
                                Position("C/USD", 100.0, 1.0, open_entry_stake=30.0)))
    cap = controller(entering)
    assert cap.state is CapState.REDUCING
    assert cancel_entry_while_reducing(cap, "C/USD", order("open", side="buy", tag=None), trade)
    # not an entry order, or a pair without an open entry: left alone
    assert not cancel_entry_while_reducing(cap, "C/USD", order("open"), trade)
    assert not cancel_entry_while_reducing(cap, "A/USD", order("open", side="buy"), trade)
    calm = controller(Snapshot(5000.0, entering.positions))
    assert calm.state is CapState.ACTIVE
    assert not cancel_entry_while_reducing(calm, "C/USD", order("open", side="buy"), trade)


def test_a_trim_without_an_order_is_rejected_once() -> None:
    cap = controller(OVER)
    for pair in ("A/USD", "B/USD"):
        trim = cap.trim_for(pair)
        assert trim is not None and cap.trim_placed(trim, T0)
    trades = [
        SimpleNamespace(pair="A/USD", orders=[order("open", at=T0 + 0.2)]),  # created
        SimpleNamespace(pair="B/USD", orders=[order("closed", at=T0 - 600)]),  # an old trim
    ]
    assert settle_trims(cap, trades, T0 + 2.0) == ["B/USD"]
    assert set(cap.trim_state.open_trims) == {"A/USD"}
    assert cap.trim_state.failed == 1 and cap.trim_state.episode_rejected == {"B/USD"}
    assert settle_trims(cap, trades, T0 + 3.0) == []


@pytest.mark.parametrize(("newest", "filled", "partial", "failed"), [
    (order("closed", 2.0, 2.0, at=T0 + 0.1), 1, 0, 0),
    (order("canceled", 2.0, 1.0, at=T0 + 0.1), 0, 1, 0),  # restart after a partial fill
    (order("canceled", 2.0, 0.0, at=T0 + 0.1), 0, 0, 1),  # cancelled, nothing sold
])
def test_a_closed_trim_order_the_state_missed_is_settled_as_it_says(
        newest: Any, filled: int, partial: int, failed: int) -> None:
    cap = controller(OVER)
    trim = cap.trim_for("A/USD")
    assert trim is not None and cap.trim_placed(trim, T0)
    trades = [SimpleNamespace(pair="A/USD", orders=[order("closed", at=T0 - 600), newest])]
    assert settle_trims(cap, trades, T0 + 5.0) == ["A/USD"]
    state = cap.trim_state
    assert "A/USD" not in state.open_trims
    assert (state.filled, state.partial, state.failed) == (filled, partial, failed)
    assert state.episode_rejected == frozenset()


def test_a_replacement_of_a_partly_filled_trim_is_held_back(
        caplog: pytest.LogCaptureFixture) -> None:
    """freqtrade replaces a trim order: the cancelled one filled half (``order_filled``: partial),
    the replacement sells the rest under the trim tag. The next iteration adopts it as the pair's
    open trim, so the planner does not sell that rest again through other pairs (found by
    tests/stateful/test_trim_orders_machine.py)."""
    cap = controller(OVER)
    trim = cap.trim_for("A/USD")
    assert trim is not None and cap.trim_placed(trim, T0)
    record_trim_fill(cap, "A/USD", order("canceled", 2.0, 1.0, at=T0), T0 + 60.0)
    assert "A/USD" not in cap.trim_state.open_trims
    replacement = SimpleNamespace(**{**vars(order("open", 1.0, 0.0, at=T0 + 60.0)),
                                     "order_id": "o2", "safe_price": 1.0})
    trade = SimpleNamespace(pair="A/USD", orders=[order("canceled", 2.0, 1.0, at=T0),
                                                  replacement])
    attempted = cap.trim_state.attempted
    assert settle_trims(cap, [trade], T0 + 65.0) == []
    adopted = cap.trim_state.open_trims["A/USD"]
    assert (adopted.placed_at, adopted.stake) == (T0 + 60.0, 1.0)  # its remaining 1.0 at $1
    assert cap.trim_state.attempted == attempted + 1
    assert "TRIM_ADOPTED: pair=A/USD order=o2 remaining_amount=1" in caplog.text
    assert settle_trims(cap, [trade], T0 + 70.0) == []  # open: waited for, not adopted twice
    assert cap.trim_state.attempted == attempted + 1


@pytest.mark.parametrize(("held", "age", "cancelled"), [
    (True, 75.0, False),  # exactly the timeout still waits
    (True, 75.01, True),
    (False, 1.0, True),  # its trim expired (a younger replacement): cancelled at once
])
def test_a_trim_order_is_cancelled_after_the_timeout_or_once_its_trim_expired(
        held: bool, age: float, cancelled: bool) -> None:
    from trader247.adapters.cap_trims import TrimExecutor

    cap = controller(OVER)
    trim = cap.trim_for("A/USD")
    assert trim is not None and cap.trim_placed(trim, T0)
    if not held:
        cap.trim_state = type(cap.trim_state)()  # the planner expired it
    executor = TrimExecutor(cap, lambda _s: None)
    now = datetime.fromtimestamp(T0 + age, UTC)
    assert executor.timed_out("A/USD", order("open", at=T0), now) is cancelled
    assert executor.timed_out("A/USD", order("open", tag=None, at=T0 - 999), now) is False


def test_a_trim_order_is_adopted_also_when_the_state_cannot_be_written() -> None:
    """The order exists whether or not the write succeeds: its stake is held back in memory (a
    restart adopts it again), unlike a new trim, which is not placed unless written ahead."""
    cap = controller(OVER)
    cap.on_change = lambda: False
    replacement = SimpleNamespace(**{**vars(order("open", 1.0, 0.0, at=T0)), "safe_price": 2.0})
    settle_trims(cap, [SimpleNamespace(pair="A/USD", orders=[replacement])], T0 + 5.0)
    assert cap.trim_state.open_trims["A/USD"].stake == 2.0
