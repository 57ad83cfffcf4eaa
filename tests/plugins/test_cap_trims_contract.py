"""``adapters.cap_trims``: the round's trims handed to freqtrade, their fills and time-outs, on
freqtrade's own ``Trade`` / ``Order`` rows in an in-memory database.

What the bot does with each answer: ``trim`` is ``adjust_trade_position``'s (a negative stake
tagged ``trim`` sells at the trade's cost basis), ``timed_out`` is ``check_exit_timeout``'s
(True: freqtrade cancels the order), and the log lines are what the operator reads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from freqtrade.persistence import Order, Trade, init_db
from tests.shipped import shipped_cap_policy

from trader247.adapters.cap_controller import TRIM_TAG, CapController
from trader247.adapters.cap_trims import TrimExecutor
from trader247.core.exposure import Position, Snapshot

PLACED = datetime(2025, 6, 1, 12, tzinfo=UTC)
# 400 of 1000 held: 40 % over the 25 % cap, one order selling $170 (1.7 BTC at the $100 mark)
# down to the 23 % target.
OVER = Snapshot(600.0, (Position("BTC/USD", 4.0, 100.0),))
TIMEOUT = shipped_cap_policy().trim_timeout_seconds


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    init_db("sqlite://")
    yield
    Trade.session.remove()


def order(side: str, amount: float, price: float, *, filled: float, status: str,
          tag: str | None = None, at: datetime = PLACED) -> Order:
    is_open = status == "open"
    return Order(ft_order_side=side, ft_pair="", ft_is_open=is_open, ft_amount=amount,
                 ft_price=price, order_id=f"o-{side}-{amount}-{filled}-{at.timestamp()}",
                 status=status, side=side, order_type="limit", amount=amount, price=price,
                 average=price if filled else None, filled=filled, remaining=amount - filled,
                 cost=filled * price, order_date=at,
                 order_filled_date=None if is_open else at, ft_order_tag=tag)


def trade(pair: str, amount: float, open_rate: float, *extra: Order) -> Trade:
    """A trade bought at ``open_rate`` (its cost basis), with ``extra`` orders after it."""
    row = Trade(pair=pair, base_currency=pair.split("/")[0], stake_currency="USD",
                exchange="coinbase", is_open=True, open_date=PLACED - timedelta(hours=1),
                open_rate=open_rate, amount=amount, stake_amount=amount * open_rate,
                fee_open=0.0, fee_close=0.0, amount_precision=1e-8, price_precision=1e-2,
                precision_mode=4, leverage=1.0)
    for item in (order("buy", amount, open_rate, filled=amount, status="closed",
                       at=PLACED - timedelta(hours=1)), *extra):
        item.ft_pair = pair
        row.orders.append(item)
    Trade.session.add(row)
    row.recalc_trade_from_orders()
    Trade.commit()
    return row


class Writes:
    """The controller's persistence: counts the writes, answers ``ok``."""

    def __init__(self) -> None:
        self.count = 0
        self.ok = True

    def __call__(self) -> bool:
        self.count += 1
        return self.ok


def executor() -> tuple[TrimExecutor, list[float], Writes]:
    controller = CapController(shipped_cap_policy(), "USD", cycle_seconds=5.0)
    writes = Writes()
    controller.on_change = writes
    controller.evaluate(OVER, 1.0, now=PLACED.timestamp() - 5)
    latencies: list[float] = []
    return TrimExecutor(controller, latencies.append), latencies, writes


def placed(executor_: TrimExecutor, pair: str = "BTC/USD") -> None:
    row = trade(pair, 4.0, 100.0)
    assert executor_.trim(row, PLACED) is not None


# ------------------------------------------------------------------ adjust_trade_position


@pytest.mark.parametrize(("open_rate", "stake"), [
    (100.0, -170.0),  # cost basis = mark: the order's $170
    (50.0, -85.0),    # bought at half the mark: 1.7 BTC is $85 of the trade's stake
])
def test_the_rounds_trim_is_a_negative_stake_at_cost_basis_written_ahead(
        open_rate: float, stake: float) -> None:
    trims, _, writes = executor()
    before = writes.count
    row = trade("BTC/USD", 4.0, open_rate)
    assert trims.trim(row, PLACED) == (pytest.approx(stake), TRIM_TAG)
    (pair, trim), = trims.controller.trim_state.open_trims.items()
    assert pair == "BTC/USD"
    assert trim.placed_at == PLACED.timestamp() and trim.stake == pytest.approx(170.0)
    assert writes.count == before + 1  # written ahead of the order
    assert trims.trim(row, PLACED) is None  # handed out once per round


def test_a_pair_without_a_trim_this_round_is_left_alone() -> None:
    trims, _, _ = executor()
    assert trims.trim(trade("ETH/USD", 1.0, 100.0), PLACED) is None
    assert trims.controller.trim_state.open_trims == {}


def test_a_trade_with_an_open_order_gets_no_trim_and_none_is_recorded() -> None:
    trims, _, writes = executor()
    before = writes.count
    row = trade("BTC/USD", 4.0, 100.0,
                order("sell", 1.0, 110.0, filled=0.0, status="open"))
    assert row.has_open_orders
    assert trims.trim(row, PLACED) is None
    assert trims.controller.trim_state.open_trims == {} and writes.count == before


def test_a_trim_whose_state_cannot_be_written_is_not_placed_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    trims, _, writes = executor()
    writes.ok = False
    assert trims.trim(trade("BTC/USD", 4.0, 100.0), PLACED) is None
    assert trims.controller.trim_state.open_trims == {}
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "TRIM_SKIPPED: pair=BTC/USD reason=state_not_persisted (re-planned in a "
                          "later round)")]


# ------------------------------------------------------------------ order_filled


@pytest.mark.parametrize(("filled", "status", "counts"), [
    (1.7, "closed", (1, 0)),    # all of it: filled
    (0.85, "canceled", (0, 1)),  # half of an IOC sell: partial, the rest re-planned
])
def test_a_trim_fill_records_its_latency_and_outcome(
        caplog: pytest.LogCaptureFixture, filled: float, status: str,
        counts: tuple[int, int]) -> None:
    trims, latencies, _ = executor()
    placed(trims)
    caplog.set_level(logging.INFO)
    fill = order("sell", 1.7, 100.0, filled=filled, status=status, tag=TRIM_TAG)
    trims.order_filled("BTC/USD", fill, PLACED + timedelta(seconds=3.4))
    assert latencies == [pytest.approx(3.4)]
    state = trims.controller.trim_state
    assert (state.filled, state.partial) == counts and state.open_trims == {}
    assert "trim filled: pair=BTC/USD latency=3.4s" in [r.getMessage() for r in caplog.records
                                                          if r.levelno == logging.INFO]


def test_fills_of_other_orders_and_of_unknown_trims_record_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    trims, latencies, _ = executor()
    placed(trims)
    caplog.set_level(logging.INFO)
    exit_fill = order("sell", 1.7, 100.0, filled=1.7, status="closed", tag="exit_signal")
    trims.order_filled("BTC/USD", exit_fill, PLACED + timedelta(seconds=3))
    assert "BTC/USD" in trims.controller.trim_state.open_trims  # not this trim's fill
    trim_fill = order("sell", 1.0, 100.0, filled=1.0, status="closed", tag=TRIM_TAG)
    trims.order_filled("ETH/USD", trim_fill, PLACED + timedelta(seconds=3))  # no open trim
    assert latencies == [] and caplog.records == []
    assert trims.controller.trim_state.filled == 0


# ------------------------------------------------------------------ settle (bot_loop_start)


def test_settle_rejects_a_trim_freqtrade_never_created_an_order_for(
        caplog: pytest.LogCaptureFixture) -> None:
    trims, _, _ = executor()
    placed(trims)
    row = Trade.get_open_trades()[0]  # its orders: the entry only
    trims.settle([row], PLACED + timedelta(seconds=2))
    state = trims.controller.trim_state
    assert state.open_trims == {} and state.episode_rejected == {"BTC/USD"}
    assert "TRIM_REJECTED: pair=BTC/USD no order was created for the trim placed 2s ago" \
        in caplog.text


def test_settle_reads_a_filled_trim_from_the_orders_table() -> None:
    trims, latencies, _ = executor()
    placed(trims)
    row = Trade.get_open_trades()[0]
    row.orders.append(order("sell", 1.7, 100.0, filled=1.7, status="closed", tag=TRIM_TAG,
                            at=PLACED + timedelta(seconds=1)))
    Trade.commit()
    trims.settle([row], PLACED + timedelta(seconds=4))
    assert trims.controller.trim_state.filled == 1
    assert trims.controller.trim_latencies == [pytest.approx(4.0)]
    assert latencies == []  # the latency metric is fed by order_filled only


# ------------------------------------------------------------------ check_exit_timeout


@pytest.mark.parametrize(("age", "cancelled"), [
    (TIMEOUT - 1, False),
    (TIMEOUT, False),       # exactly the timeout still waits
    (TIMEOUT + 1, True),    # one second over: cancelled
])
def test_a_trim_order_is_cancelled_only_after_the_timeout(
        caplog: pytest.LogCaptureFixture, age: float, cancelled: bool) -> None:
    trims, _, _ = executor()
    placed(trims)
    resting = order("sell", 1.7, 100.0, filled=0.0, status="open", tag=TRIM_TAG)
    assert trims.timed_out("BTC/USD", resting, PLACED + timedelta(seconds=age)) is cancelled
    state = trims.controller.trim_state
    assert ("BTC/USD" in state.open_trims) is not cancelled
    assert state.failed == int(cancelled)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ([f"trim timed out: pair=BTC/USD after {age:.0f}s, cancelling and "
                         "re-planning"] if cancelled else [])


def test_an_old_order_that_is_not_a_trim_is_not_ours_to_cancel() -> None:
    trims, _, _ = executor()
    placed(trims)
    old_exit = order("sell", 1.7, 100.0, filled=0.0, status="open", tag="exit_signal")
    assert trims.timed_out("BTC/USD", old_exit, PLACED + timedelta(hours=5)) is False
    assert "BTC/USD" in trims.controller.trim_state.open_trims


@pytest.mark.parametrize("age", [TIMEOUT + 1, 10.0])  # a younger one: freqtrade's replacement
def test_a_trim_order_whose_trim_the_planner_expired_is_cancelled_without_a_write(
        caplog: pytest.LogCaptureFixture, age: float) -> None:
    trims, _, writes = executor()
    placed(trims)
    trims.controller.trim_cancelled("BTC/USD")  # the planner expired it this iteration
    before = (writes.count, trims.controller.trim_state)
    resting = order("sell", 1.7, 100.0, filled=0.0, status="open", tag=TRIM_TAG)
    caplog.clear()
    assert trims.timed_out("BTC/USD", resting, PLACED + timedelta(seconds=age)) is True
    assert (writes.count, trims.controller.trim_state) == before  # counted failed once
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"trim timed out: pair=BTC/USD after {age:.0f}s, cancelling and re-planning (its trim "
        "had expired)"]
