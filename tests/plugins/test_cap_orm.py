"""The cap's adapter parts on freqtrade's own ``Trade`` / ``Order`` rows (issue [R] item 6).

An in-memory database (``init_db("sqlite://")``) holds real trades with open entry orders, open
exit orders, partial fills and DCA orders, so what freqtrade's ORM says (``open_orders``,
``nr_of_successful_entries``, ``safe_remaining``, ``has_open_orders``, ``PairLocks``) is what the
cap reads: nothing that measures exposure is stubbed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from freqtrade.enums import RunMode
from freqtrade.persistence import Order, PairLocks, Trade, init_db
from tests.shipped import shipped_cap_policy
from tests.strategy_double import StrategyDouble

from trader247.adapters.cap_exposure import ExposureReader, position_of
from trader247.adapters.cap_locks import LOCK_PREFIX
from trader247.core.exposure import CapState, measure
from trader247.strategy import ExposureCapMixin

from .test_cap_mixin import REPO

OPENED = datetime(2025, 6, 1, tzinfo=UTC)
NOW = OPENED + timedelta(hours=2)


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    init_db("sqlite://")
    PairLocks.use_db = True
    PairLocks.timeframe = "1h"  # what FreqtradeBot sets from the config
    yield
    PairLocks.timeframe = ""
    Trade.session.remove()


def order(side: str, amount: float, price: float, *, filled: float, is_open: bool,
          tag: str | None = None, kind: str = "limit") -> Order:
    """An order as freqtrade stores it; ``filled`` of ``amount`` done."""
    return Order(ft_order_side=side, ft_pair="", ft_is_open=is_open, ft_amount=amount,
                 ft_price=price, order_id=f"o-{side}-{amount}-{price}-{filled}",
                 status="open" if is_open else "closed", side=side, order_type=kind,
                 amount=amount, price=price, average=price if filled else None, filled=filled,
                 remaining=amount - filled, cost=filled * price, order_date=OPENED,
                 order_filled_date=None if is_open else OPENED, ft_order_tag=tag)


def trade(pair: str, *orders: Order) -> Trade:
    """A trade opened by its first order, with freqtrade's own amounts recalculated."""
    first = orders[0]
    row = Trade(pair=pair, base_currency=pair.split("/")[0], stake_currency="USD",
                exchange="coinbase", is_open=True, open_date=OPENED, open_rate=first.ft_price,
                amount=first.ft_amount, stake_amount=first.ft_amount * first.ft_price,
                fee_open=0.0, fee_close=0.0, amount_precision=1e-8, price_precision=1e-2,
                precision_mode=4, leverage=1.0)
    for item in orders:
        item.ft_pair = pair
        row.orders.append(item)
    Trade.session.add(row)
    if row.nr_of_successful_entries:
        row.recalc_trade_from_orders()
    Trade.commit()
    return row


class FixedMarks:
    def __init__(self, price: float) -> None:
        self.price_ = price

    def begin_iteration(self) -> None:
        return None

    def refresh(self) -> None:
        return None

    def price(self, pair: str, open_rate: float, now: datetime | None) -> float:
        return self.price_


def reader(balance: float, mark: float) -> ExposureReader:
    wallets = SimpleNamespace(get_total=lambda _currency: balance)
    return ExposureReader("USD", FixedMarks(mark), wallets, False, None)


def buy(amount: float, price: float, filled: float | None = None, is_open: bool = False) -> Order:
    return order("buy", amount, price, filled=amount if filled is None else filled,
                 is_open=is_open)


# (orders of one BTC/USD trade, mark 120) -> (filled amount, open entry stake). The orders are
# made per test: an ``Order`` row added to a trade belongs to it, and a second run of the test in
# the same process (`make mutation` runs the suite several times in one) would find it taken.
CASES = {
    "filled entry": (lambda: [buy(1.0, 100.0)], 1.0, 0.0),
    "filled entry, open trim not yet filled": (
        lambda: [buy(1.0, 100.0), order("sell", 0.5, 110.0, filled=0.0, is_open=True,
                                        tag="trim")],
        1.0, 0.0),
    "filled entry, open exit signal half filled": (
        lambda: [buy(1.0, 100.0), order("sell", 1.0, 110.0, filled=0.5, is_open=True)], 1.0, 0.0),
    "open entry, nothing filled": (lambda: [buy(2.0, 50.0, filled=0.0, is_open=True)], 0.0, 100.0),
    "open entry, partly filled": (lambda: [buy(1.0, 100.0, filled=0.4, is_open=True)], 0.0, 100.0),
    "filled entry, open DCA entry": (
        lambda: [buy(1.0, 100.0), buy(0.5, 90.0, filled=0.0, is_open=True)], 1.0, 45.0),
    "filled entry, stop on the exchange": (
        lambda: [buy(1.0, 100.0), order("stoploss", 1.0, 80.0, filled=0.0, is_open=True,
                                        kind="stop_loss")], 1.0, 0.0),
}


@pytest.mark.parametrize("case", CASES)
def test_a_trades_exposure_is_its_holding_plus_its_open_entry_orders(case: str) -> None:
    orders, filled, entering = CASES[case]
    row = trade("BTC/USD", *orders())
    position = position_of(row, 120.0)
    assert position.amount == pytest.approx(filled)
    assert position.open_entry_stake == pytest.approx(entering)
    exposure = measure(reader(1000.0, 120.0).snapshot([row], NOW), shipped_cap_policy())
    assert exposure.at_risk == pytest.approx(filled * 120.0 + entering)


def test_the_snapshot_reads_every_open_trade_freqtrade_returns() -> None:
    trade("BTC/USD", buy(1.0, 100.0))
    trade("ETH/USD", buy(2.0, 50.0, filled=0.0, is_open=True))
    closed = trade("SOL/USD", buy(1.0, 10.0))
    closed.is_open = False
    Trade.commit()
    snapshot = reader(700.0, 100.0).snapshot(Trade.get_open_trades(), NOW)
    assert sorted(p.pair for p in snapshot.positions) == ["BTC/USD", "ETH/USD"]
    exposure = measure(snapshot, shipped_cap_policy())
    assert exposure.at_risk == pytest.approx(100.0 + 100.0)
    assert exposure.equity == pytest.approx(700.0 + 100.0)


# ---------------------------------------------------------------- the whole adapter, dry-run
class Probe(ExposureCapMixin, StrategyDouble):
    """IStrategy's defaults the mixin calls through ``super()``."""

    def ft_bot_start(self, **kwargs: Any) -> None:
        return None

    def ft_bot_cleanup(self) -> None:
        return None


def dry_run_strategy(balance: float, marks: dict[str, float]) -> Probe:
    strategy = Probe()
    strategy.config = {"stake_currency": "USD", "dry_run": True, "runmode": RunMode.DRY_RUN,
                       "config_files": [str(REPO / "config" / "config.json")],
                       "internals": {"process_throttle_secs": 5}}
    sent: list[str] = []
    strategy.dp = SimpleNamespace(
        ticker=lambda pair: {"last": marks[pair]}, send_msg=lambda text, **_k: sent.append(text),
        get_analyzed_dataframe=lambda *_a: (pd.DataFrame(), NOW))
    strategy.wallets = SimpleNamespace(get_total=lambda _currency: balance)
    strategy.timeframe, strategy.stoploss = "1h", -0.1
    strategy.ft_bot_start()
    return strategy


def our_locks() -> list[Any]:
    return [lock for lock in PairLocks.get_pair_locks("*", NOW)
            if (lock.reason or "").startswith(LOCK_PREFIX)]


@pytest.mark.parametrize(("eth_amount", "state"), [
    (1.0, CapState.ACTIVE),        # 100 held + 100 entering = 200 of 800: exactly the cap
    (1.0001, CapState.REDUCING),   # one cent more of open entry stake: over it
])
def test_an_open_entry_order_counts_against_the_cap_and_the_lock_follows(
    eth_amount: float, state: CapState,
) -> None:
    trade("BTC/USD", buy(1.0, 100.0))
    eth = trade("ETH/USD", buy(eth_amount, 100.0, filled=0.0, is_open=True))
    strategy = dry_run_strategy(700.0, {"BTC/USD": 100.0, "ETH/USD": 100.0})
    strategy.bot_loop_start(current_time=NOW)
    assert strategy.cap.state is state
    assert len(our_locks()) == (1 if state is CapState.REDUCING else 0)
    assert strategy.confirm_trade_entry(pair="SOL/USD", current_time=NOW) is (
        state is CapState.ACTIVE)

    # The entry order is cancelled unfilled: nothing enters, the lock is lifted.
    eth.orders[0].ft_is_open, eth.orders[0].status = False, "canceled"
    Trade.commit()
    strategy.bot_loop_start(current_time=NOW + timedelta(seconds=5))
    assert our_locks() == []
    assert strategy.cap.state is CapState.ACTIVE


def test_an_open_exit_order_neither_adds_nor_removes_exposure_until_it_fills() -> None:
    btc = trade("BTC/USD", buy(2.0, 100.0))  # 200 of 800 (balance 600): at the cap
    strategy = dry_run_strategy(600.0, {"BTC/USD": 100.0})
    strategy.bot_loop_start(current_time=NOW)
    assert strategy.cap.state is CapState.ACTIVE
    btc.orders.append(order("sell", 1.0, 100.0, filled=0.0, is_open=True))
    Trade.commit()
    strategy.bot_loop_start(current_time=NOW + timedelta(seconds=5))
    exposure = strategy.cap.last_exposure
    assert exposure is not None and exposure.at_risk == pytest.approx(200.0)
    assert strategy.cap.state is CapState.ACTIVE


def test_a_trim_is_a_partial_exit_at_cost_basis_and_waits_for_open_orders() -> None:
    btc = trade("BTC/USD", buy(3.0, 100.0))  # 300 of 1000: over the cap, target 23 %
    strategy = dry_run_strategy(700.0, {"BTC/USD": 100.0})
    strategy.bot_loop_start(current_time=NOW)
    assert strategy.cap.state is CapState.REDUCING
    btc.orders.append(order("sell", 0.1, 100.0, filled=0.0, is_open=True))
    Trade.commit()
    assert btc.has_open_orders
    # freqtrade would refuse a second order on the trade: the round's trim is not placed.
    assert strategy.adjust_trade_position(trade=btc, current_time=NOW) is None
    assert "BTC/USD" not in strategy.cap.trim_state.open_trims

    btc.orders[-1].ft_is_open, btc.orders[-1].status = False, "canceled"
    Trade.commit()
    result = None
    for second in range(5, 300, 5):  # the next trim round (trim_interval_cycles)
        now = NOW + timedelta(seconds=second)
        strategy.bot_loop_start(current_time=now)
        result = strategy.adjust_trade_position(trade=btc, current_time=now)
        if result is not None:
            break
    assert result is not None
    stake, tag = result
    assert tag == "trim" and -300.0 < stake < 0.0
    assert "BTC/USD" in strategy.cap.trim_state.open_trims
    # Cost basis 100 = the mark: the sale takes the book from $300 of $1000 to the 23 % target.
    assert (300.0 + stake) / 1000.0 * 100 == pytest.approx(23.0, abs=0.01)


def test_a_forced_increase_reaches_freqtrade_with_the_clamped_stake() -> None:
    """``/forceenter`` on a held pair: freqtrade's ``execute_entry`` (wrapped by the
    ``execute_entry_gate`` patch) receives the stake the cap allows, not the one asked for."""
    import functools

    from freqtrade.freqtradebot import FreqtradeBot

    from trader247.patches import execute_entry_gate

    btc = trade("BTC/USD", buy(1.0, 100.0))  # 100 of 1000: 10 %, target 23 %: $130 headroom
    strategy = dry_run_strategy(900.0, {"BTC/USD": 100.0})
    strategy.bot_loop_start(current_time=NOW)
    received: list[float] = []

    @functools.wraps(FreqtradeBot.execute_entry)
    def execute_entry(self: Any, pair: str, stake_amount: float, *args: Any,
                      **kwargs: Any) -> bool:
        received.append(stake_amount)
        return True

    bot_class = type("Bot", (), {"execute_entry": execute_entry})
    execute_entry_gate.install(bot_class)
    bot = bot_class()
    bot.strategy = strategy
    assert bot.execute_entry("BTC/USD", 500.0, trade=btc, mode="pos_adjust") is True
    assert received == [pytest.approx(130.0)]


def test_trims_filled_before_a_restart_are_read_from_freqtrades_orders() -> None:
    from dataclasses import replace

    from trader247.adapters.cap_controller import CapController
    from trader247.adapters.cap_persistence import trim_fills
    from trader247.core.trims import OpenTrim

    def trim(amount: float, filled_at: datetime) -> Order:
        row = order("sell", amount, 100.0, filled=amount, is_open=False, tag="trim")
        row.order_filled_date = filled_at
        return row

    placed = OPENED.timestamp()
    # BTC: its trim filled 30 s after it was placed (the kill came before our state write).
    trade("BTC/USD", buy(3.0, 100.0), trim(0.7, OPENED + timedelta(seconds=30)))
    # ETH: only an earlier round's trim filled; the open one is still working.
    trade("ETH/USD", buy(3.0, 100.0), trim(0.2, OPENED - timedelta(hours=1)))
    # SOL: a full-exit trim closed the trade.
    sol = trade("SOL/USD", buy(1.0, 100.0), trim(1.0, OPENED + timedelta(seconds=10)))
    sol.is_open = False
    Trade.commit()
    fills = trim_fills(["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD"])
    assert fills == {"BTC/USD": placed + 30, "ETH/USD": placed - 3600, "SOL/USD": placed + 10}

    controller = CapController(shipped_cap_policy(), "USD", cycle_seconds=5.0)
    controller.trim_state = replace(controller.trim_state, open_trims={
        pair: OpenTrim(placed_at=placed, stake=50.0, cycle=1)
        for pair in ("BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD")})
    assert controller.reconcile_fills(fills) == ["BTC/USD", "SOL/USD"]
    assert sorted(controller.trim_state.open_trims) == ["ADA/USD", "ETH/USD"]
