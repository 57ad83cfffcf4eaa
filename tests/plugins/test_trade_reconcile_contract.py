"""``adapters.trade_reconcile`` on freqtrade's own ``Trade`` / ``Order`` rows (in-memory SQLite):
which orders make a trade's amount, and which trades start-up reconciliation touches.

``held_by_orders`` must agree with freqtrade's ``recalc_trade_from_orders`` (the amount a trade
gets once its orders are applied): otherwise the reconciliation would rewrite consistent
trades at every start, or miss the ones a kill left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from freqtrade.persistence import Order, Trade, init_db

from trader247.adapters.trade_reconcile import held_by_orders, reconcile_open_trades

OPENED = datetime(2025, 6, 1, tzinfo=UTC)

# (side, amount, filled, status) of one order
Fill = tuple[str, float, float, str]


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    init_db("sqlite://")
    yield
    Trade.session.remove()


def make_trade(pair: str, orders: list[Fill], *, amount: float | None = None,
               precision: float | None = 1e-8, contract_size: float | None = None) -> Trade:
    """A trade whose amount freqtrade last set to ``amount`` (default: the first order's)."""
    first = orders[0]
    row = Trade(pair=pair, base_currency=pair.split("/")[0], stake_currency="USD",
                exchange="coinbase", is_open=True, open_date=OPENED, open_rate=100.0,
                amount=first[1] if amount is None else amount, stake_amount=first[1] * 100.0,
                fee_open=0.0, fee_close=0.0, amount_precision=precision, price_precision=1e-2,
                precision_mode=4, leverage=1.0, contract_size=contract_size)
    for i, (side, size, filled, status) in enumerate(orders):
        row.orders.append(Order(
            ft_order_side=side, ft_pair=pair, ft_is_open=status == "open", ft_amount=size,
            ft_price=100.0 + i, order_id=f"{pair}-{i}", status=status, side=side,
            order_type="limit", amount=size, price=100.0 + i,
            average=100.0 + i if filled else None, filled=filled, remaining=size - filled,
            cost=filled * (100.0 + i), order_date=OPENED + timedelta(minutes=i),
            order_filled_date=OPENED + timedelta(minutes=i) if filled else None))
    Trade.session.add(row)
    Trade.commit()
    return row


def ours(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "trader247.adapters.trade_reconcile"]


@pytest.mark.parametrize(("orders", "held"), [
    ([("buy", 1.0, 1.0, "closed"), ("sell", 0.4, 0.4, "closed")], 0.6),
    # a cancelled exit that filled nothing, then one that filled: only the fill counts
    ([("buy", 1.0, 1.0, "closed"), ("sell", 1.0, 0.0, "canceled"),
      ("sell", 0.4, 0.4, "closed")], 0.6),
    # an exit still open with half filled: freqtrade applies it when it closes
    ([("buy", 1.0, 1.0, "closed"), ("sell", 1.0, 0.5, "open")], 1.0),
    # a DCA entry partly filled, then cancelled: its filled part is held
    ([("buy", 1.0, 1.0, "closed"), ("buy", 0.5, 0.2, "canceled")], 1.2),
    # sub-precision digits are cut as the exchange's amount precision cuts them
    ([("buy", 0.123456789, 0.123456789, "closed")], 0.12345678),
])
def test_held_is_what_freqtrade_makes_of_the_filled_orders(orders: list[Fill],
                                                           held: float) -> None:
    row = make_trade("ETH/USD", orders)
    assert held_by_orders(row) == pytest.approx(held, rel=1e-12)
    row.recalc_trade_from_orders()
    assert row.amount == pytest.approx(held, rel=1e-12)


def test_every_open_trade_is_judged_whatever_comes_before_it(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    make_trade("SOL/USD", [("buy", 2.0, 2.0, "closed"), ("sell", 1.0, 0.0, "open")])  # in flight
    make_trade("BTC/USD", [("buy", 1.0, 1.0, "closed")])  # consistent
    make_trade("ETH/USD", [("buy", 1.0, 1.0, "closed"), ("sell", 0.4, 0.4, "closed")])
    make_trade("ADA/USD", [("buy", 5.0, 5.0, "closed"), ("sell", 5.0, 5.0, "closed")])
    assert reconcile_open_trades(Trade.get_open_trades()) == ["ETH/USD", "ADA/USD"]
    assert ours(caplog) == [
        "TRADE_RECONCILED: pair=ETH/USD trade_id=3 amount_before=1 amount_after=0.6",
        "TRADE_RECONCILED: pair=ADA/USD trade_id=4 amount_before=5 amount_after=0 closed=true"]
    Trade.session.remove()  # committed: read back from the database
    rows = {t.pair: t for t in Trade.get_trades([]).all()}
    assert rows["ETH/USD"].amount == pytest.approx(0.6) and rows["ETH/USD"].is_open
    assert not rows["ADA/USD"].is_open and rows["ADA/USD"].close_rate == pytest.approx(101.0)
    assert (rows["SOL/USD"].amount, rows["BTC/USD"].amount) == (2.0, 1.0)


def test_a_full_exit_is_closed_at_the_last_filled_exits_price() -> None:
    """Two exits filled (the second unapplied), a third cancelled unfilled after them."""
    make_trade("ADA/USD", [("buy", 5.0, 5.0, "closed"), ("sell", 2.0, 2.0, "closed"),
                           ("sell", 3.0, 3.0, "closed"), ("sell", 1.0, 0.0, "canceled")],
               amount=3.0)
    assert reconcile_open_trades(Trade.get_open_trades()) == ["ADA/USD"]
    (row,) = Trade.get_trades([]).all()
    assert not row.is_open and row.close_rate == pytest.approx(102.0)


def test_a_consistent_trade_is_left_alone_and_nothing_is_said(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    make_trade("BTC/USD", [("buy", 1.0, 1.0, "closed"), ("sell", 0.4, 0.4, "closed")],
               amount=0.6)
    assert reconcile_open_trades(Trade.get_open_trades()) == []
    assert ours(caplog) == []


def test_an_entry_that_never_filled_closes_the_trade_at_its_open_rate() -> None:
    """A kill after the entry's cancel was committed but before freqtrade removed the trade:
    nothing is held, no exit exists: the trade is closed at its open rate."""
    make_trade("ADA/USD", [("buy", 5.0, 0.0, "canceled")])
    assert reconcile_open_trades(Trade.get_open_trades()) == ["ADA/USD"]
    (row,) = Trade.get_trades([]).all()
    assert not row.is_open and row.close_rate == 100.0


def test_held_counts_whole_contracts_as_freqtrade_does() -> None:
    """A market traded in contracts of 0.1 with a precision of one contract: 0.25 is two
    contracts (0.2), not a precision of one unit (0)."""
    row = make_trade("ETH/USD", [("buy", 0.25, 0.25, "closed")], precision=1.0,
                     contract_size=0.1)
    held = held_by_orders(row)
    row.recalc_trade_from_orders()
    assert held == row.amount == pytest.approx(0.2)


@pytest.mark.parametrize(("orders", "amount"), [
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floats: summed exactly, as freqtrade sums, nothing is held
    # (the float sum kept this trade open and reconciled it again at every start)
    ([("buy", 0.1, 0.1, "closed"), ("buy", 0.2, 0.2, "closed"), ("sell", 0.3, 0.3, "closed")],
     0.3),
    # a trade left with float dust whose orders hold nothing is closed too
    ([("buy", 1.0, 1.0, "closed"), ("sell", 1.0, 1.0, "closed")], 1e-13),
])
def test_orders_that_hold_nothing_close_the_trade_without_float_noise(
        orders: list[Fill], amount: float, caplog: pytest.LogCaptureFixture) -> None:
    make_trade("ETH/USD", orders, amount=amount, precision=None)
    assert reconcile_open_trades(Trade.get_open_trades()) == ["ETH/USD"]
    assert ours(caplog) == [f"TRADE_RECONCILED: pair=ETH/USD trade_id=1 amount_before={amount:.10g}"
                            " amount_after=0 closed=true"]
    (row,) = Trade.get_trades([]).all()
    assert not row.is_open and row.close_rate == pytest.approx(100.0 + len(orders) - 1)
    assert reconcile_open_trades(Trade.get_open_trades()) == []  # the next start: nothing
