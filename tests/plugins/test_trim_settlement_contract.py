"""``adapters.trim_settlement`` at its boundaries: what an order row says about a trim, which order
settles it, and the operator's exact text for each outcome (the behaviour itself:
test_trim_settlement.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from tests.shipped import shipped_cap_policy

from trader247.adapters.cap_controller import TRIM_TAG, CapController
from trader247.adapters.trim_settlement import (
    adopt_trim_orders,
    cancel_entry_while_reducing,
    record_trim_fill,
    settle_trims,
    trim_complete,
)
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.core.trims import FILL_MATCH_TOLERANCE_S

T0 = 1_800_000_000.0
OVER = Snapshot(700.0, (Position("A/USD", 100.0, 1.0), Position("B/USD", 100.0, 1.0),
                        Position("C/USD", 100.0, 1.0)))


def order(status: str = "closed", amount: float | None = 1.0, filled: float | None = 1.0, *,
          at: float = T0, tag: str | None = TRIM_TAG, order_id: str = "o1",
          remaining: float | None = 0.0, price: float | None = 1.0, side: str = "sell") -> Any:
    return SimpleNamespace(status=status, safe_amount=amount, safe_filled=filled,
                           ft_is_open=status == "open", safe_remaining=remaining,
                           safe_price=price, ft_order_side=side, ft_order_tag=tag,
                           order_id=order_id, order_date_utc=datetime.fromtimestamp(at, UTC))


def placed(*pairs: str, at: float = T0) -> CapController:
    """A controller over its cap with a trim of each of ``pairs`` placed at ``at``."""
    cap = CapController(policy=shipped_cap_policy(), stake_currency="USD", cycle_seconds=1.0)
    cap.evaluate(OVER, 1.0, T0)
    for pair in pairs:
        trim = cap.trim_for(pair)
        assert trim is not None and cap.trim_placed(trim, at)
    return cap


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="trader247.adapters.trim_settlement")
    return caplog


@pytest.mark.parametrize(("status", "amount", "filled", "complete"), [
    ("closed", None, None, True),  # nothing known of either: nothing left
    ("closed", None, 0.5, True),  # an amount the order does not know: no remainder to sell
    ("canceled", 1.0, None, False),  # cancelled before anything filled
    ("canceled", 1.0, 1.0 - 1e-12, False),  # not closed: a remainder, however small, is left
    ("closed", 1.0, 1.0 - 1e-12, True),  # closed: float noise of a rounded amount
    ("closed", 1.0, 1.0 - 1e-8, False),  # closed, but short by more than noise
    ("canceled", 1.0, 1.5, True),  # more than asked (the exchange's rounding up)
])
def test_a_trim_is_complete_only_with_nothing_of_its_amount_left(
        status: str, amount: float | None, filled: float | None, complete: bool) -> None:
    assert trim_complete(order(status, amount, filled)) is complete


def test_a_partial_fill_tells_the_operator_what_filled_of_what(
        logs: pytest.LogCaptureFixture) -> None:
    cap = placed("A/USD")
    assert record_trim_fill(cap, "A/USD", order("canceled", 2.5, None), T0 + 2.0) == 2.0
    assert [(r.levelname, r.getMessage()) for r in logs.records] == [(
        "WARNING", "TRIM_PARTIAL: pair=A/USD filled=0 of 2.5 (status canceled); the remainder "
                   "is re-planned in the next round")]
    assert (cap.trim_state.filled, cap.trim_state.partial) == (0, 1)


@pytest.mark.parametrize(("held", "fill"), [(True, order()), (False, order("canceled", 2.0, 1.0))])
def test_a_complete_fill_or_an_unknown_trim_logs_nothing(
        logs: pytest.LogCaptureFixture, held: bool, fill: Any) -> None:
    cap = placed("A/USD") if held else placed()
    latency = record_trim_fill(cap, "A/USD", fill, T0 + 1.0)
    assert latency == (1.0 if held else None)
    assert logs.records == []
    assert cap.trim_state.filled == int(held)


@pytest.mark.parametrize(("remaining", "text"), [(0.25, "0.25"), (None, "0")])
def test_an_entry_cancelled_while_reducing_is_named_with_its_remainder(
        logs: pytest.LogCaptureFixture, remaining: float | None, text: str) -> None:
    entering = Snapshot(700.0, (*OVER.positions[:2],
                                Position("C/USD", 100.0, 1.0, open_entry_stake=30.0)))
    cap = CapController(policy=shipped_cap_policy(), stake_currency="USD", cycle_seconds=1.0)
    cap.evaluate(entering, 1.0, T0)
    assert cap.state is CapState.REDUCING
    entry = order("open", side="buy", tag=None, order_id="e7", remaining=remaining)
    assert cancel_entry_while_reducing(cap, "C/USD", entry, SimpleNamespace(entry_side="buy"))
    assert [(r.levelname, r.getMessage()) for r in logs.records] == [(
        "WARNING", f"ENTRY_CANCELLED exposure_cap: pair=C/USD order=e7 remaining_amount={text} "
                   "(REDUCING: open entries are cancelled before anything is sold)")]


@pytest.mark.parametrize(("now", "ago"), [(T0 + 2.4, "2"), (T0 + 0.4, "0"), (T0 - 5.0, "0")])
def test_a_rejected_trim_tells_how_long_ago_it_was_placed(
        logs: pytest.LogCaptureFixture, now: float, ago: str) -> None:
    cap = placed("B/USD")
    trades = [SimpleNamespace(pair="A/USD", orders=[]),  # no trim: skipped, the next judged
              SimpleNamespace(pair="B/USD", orders=[order(tag=None, at=T0 + 1.0)])]
    assert settle_trims(cap, trades, now) == ["B/USD"]
    assert [(r.levelname, r.getMessage()) for r in logs.records] == [(
        "WARNING", f"TRIM_REJECTED: pair=B/USD no order was created for the trim placed {ago}s "
                   "ago (see freqtrade's error above); the pair sits out this REDUCING episode")]


@pytest.mark.parametrize(("created", "settled"), [
    (T0 - FILL_MATCH_TOLERANCE_S, True),  # the clocks' tolerance: still this trim's order
    (T0 - FILL_MATCH_TOLERANCE_S - 0.01, False),  # an older trim's order: this one was rejected
])
def test_an_order_belongs_to_the_trim_from_one_tolerance_before_its_placement(
        created: float, settled: bool) -> None:
    cap = placed("A/USD")
    settle_trims(cap, [SimpleNamespace(pair="A/USD", orders=[order(at=created)])], T0 + 5.0)
    assert (cap.trim_state.filled, cap.trim_state.failed) == ((1, 0) if settled else (0, 1))


@pytest.mark.parametrize("first_is_newest", [True, False])
def test_the_newest_trim_order_settles_it_and_the_operator_reads_how(
        logs: pytest.LogCaptureFixture, first_is_newest: bool) -> None:
    cap = placed("A/USD")
    older = order("canceled", 2.0, 0.0, at=T0 + 0.5, order_id="old")
    newest = order("closed", 2.0, 1.25, at=T0 + 1.5, order_id="new")
    orders = [newest, older] if first_is_newest else [older, newest]
    assert settle_trims(cap, [SimpleNamespace(pair="A/USD", orders=orders)], T0 + 5.0) == [
        "A/USD"]
    assert (cap.trim_state.filled, cap.trim_state.partial, cap.trim_state.failed) == (0, 1, 0)
    assert [(r.levelname, r.getMessage()) for r in logs.records][-1] == (
        "INFO", "trim settled from the orders table: pair=A/USD status=closed filled=1.25")


def test_a_trim_order_closed_with_nothing_filled_is_cancelled_and_logged_as_zero(
        logs: pytest.LogCaptureFixture) -> None:
    cap = placed("A/USD")
    closed = order("canceled", 2.0, None, at=T0 + 0.5)
    assert settle_trims(cap, [SimpleNamespace(pair="A/USD", orders=[closed])], T0 + 5.0) == [
        "A/USD"]
    assert "A/USD" not in cap.trim_state.open_trims and cap.trim_state.filled == 0
    assert logs.messages == [
        "trim settled from the orders table: pair=A/USD status=canceled filled=0"]


def test_an_open_trim_order_is_adopted_at_its_remaining_amount_and_price(
        logs: pytest.LogCaptureFixture) -> None:
    cap = placed("A/USD")
    trades = [
        SimpleNamespace(pair="A/USD", orders=[order("open", at=T0, remaining=5.0)]),  # held
        SimpleNamespace(pair="D/USD", orders=[order(tag=None, at=T0)]),  # no trim order
        SimpleNamespace(pair="B/USD", orders=[
            order("open", 4.0, 1.0, at=T0 + 1.0, order_id="b1", remaining=3.0, price=2.5),
            order("open", 4.0, 0.0, at=T0 + 3.0, order_id="b2", remaining=1.5, price=2.0),
            order("open", 4.0, 0.0, at=T0 + 2.0, order_id="b3", remaining=9.0, price=9.0)]),
        SimpleNamespace(pair="C/USD", orders=[order("open", at=T0, remaining=None, price=4.0,
                                                    order_id="c1")]),
    ]
    assert adopt_trim_orders(cap, trades) == ["B/USD", "C/USD"]
    assert cap.trim_state.open_trims["A/USD"].placed_at == T0  # held: not adopted again
    b, c = cap.trim_state.open_trims["B/USD"], cap.trim_state.open_trims["C/USD"]
    assert (b.placed_at, b.stake) == (T0 + 3.0, 3.0)  # the newest: 1.5 left at $2
    assert (c.placed_at, c.stake) == (T0, 0.0)
    assert logs.messages == [
        "TRIM_ADOPTED: pair=B/USD order=b2 remaining_amount=1.5 (an open trim order the cap "
        "did not hold, e.g. freqtrade's replacement of a partly filled trim: its stake is held "
        "back until it closes)",
        "TRIM_ADOPTED: pair=C/USD order=c1 remaining_amount=0 (an open trim order the cap did "
        "not hold, e.g. freqtrade's replacement of a partly filled trim: its stake is held back "
        "until it closes)"]


def test_a_trim_held_or_an_order_no_longer_open_is_not_adopted() -> None:
    cap = placed("A/USD")
    trades = [SimpleNamespace(pair="A/USD", orders=[order("open", at=T0 + 9.0, remaining=5.0)]),
              SimpleNamespace(pair="B/USD", orders=[order("closed", at=T0)])]
    assert adopt_trim_orders(cap, trades) == []
    assert cap.trim_state.open_trims["A/USD"].placed_at == T0
