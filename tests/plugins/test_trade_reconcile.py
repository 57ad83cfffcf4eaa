"""Start-up reconciliation of trades with their filled orders, on SQLite and PostgreSQL.

The trades are freqtrade's own ``Trade`` / ``Order`` rows in a real database, left in the state
a kill -9 between freqtrade's fill commit and its fill processing leaves them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from trader247.adapters.trade_reconcile import reconcile_open_trades

OPENED = datetime(2025, 6, 1, tzinfo=UTC)


def trade_with_orders(pair: str, fills: list[tuple[str, float, float, bool]]) -> object:
    """``fills``: (side, amount, price, open) per order, in order."""
    from freqtrade.persistence import Order, Trade

    entry_amount, entry_price = fills[0][1], fills[0][2]
    trade = Trade(pair=pair, base_currency=pair.split("/")[0], stake_currency="USD",
                  exchange="coinbase", is_open=True, open_date=OPENED, open_rate=entry_price,
                  amount=entry_amount, stake_amount=entry_amount * entry_price,
                  fee_open=0.006, fee_close=0.006, amount_precision=1e-8,
                  price_precision=1e-2, precision_mode=4, leverage=1.0)
    for i, (side, amount, price, is_open) in enumerate(fills):
        trade.orders.append(Order(
            ft_order_side=side, ft_pair=pair, ft_is_open=is_open, ft_amount=amount,
            ft_price=price, order_id=f"{pair}-{i}", status="open" if is_open else "closed",
            side=side, order_type="market", amount=amount, price=price, average=price,
            filled=0.0 if is_open else amount, remaining=amount if is_open else 0.0,
            cost=amount * price, order_date=OPENED + timedelta(minutes=i),
            order_filled_date=None if is_open else OPENED + timedelta(minutes=i),
            ft_order_tag="trim" if side == "sell" else None))
    Trade.session.add(trade)
    Trade.commit()
    return trade


@pytest.fixture
def database(db_url: str) -> str:
    from freqtrade.persistence import init_db

    init_db(db_url)
    return db_url


def test_an_exit_fill_committed_but_not_applied_is_applied_at_start(
    database: str, caplog: pytest.LogCaptureFixture,
) -> None:
    from freqtrade.persistence import Trade

    caplog.set_level(logging.INFO)
    # 1.0 bought, 0.4 sold (order closed), but the trade still says 1.0.
    trade_with_orders("ETH/USD", [("buy", 1.0, 2000.0, False), ("sell", 0.4, 2100.0, False)])
    trade_with_orders("BTC/USD", [("buy", 0.01, 60000.0, False)])
    trade_with_orders("SOL/USD", [("buy", 2.0, 150.0, False), ("sell", 1.0, 151.0, True)])

    fixed = reconcile_open_trades(Trade.get_open_trades())
    assert fixed == ["ETH/USD"]
    assert ("TRADE_RECONCILED: pair=ETH/USD trade_id=1 amount_before=1 amount_after=0.6"
            in caplog.text)
    Trade.session.remove()  # read back from the database, not the session's objects
    rows = {t.pair: t for t in Trade.get_trades([]).all()}
    assert rows["ETH/USD"].amount == pytest.approx(0.6, rel=1e-12)
    assert rows["ETH/USD"].realized_profit > 0  # the sale at 2100 is in the profit now
    assert rows["BTC/USD"].amount == 0.01  # consistent: untouched
    assert rows["SOL/USD"].amount == 2.0  # an exit in flight: freqtrade settles it
    assert caplog.text.count("TRADE_RECONCILED") == 1


def test_an_unapplied_full_exit_closes_the_trade(
    database: str, caplog: pytest.LogCaptureFixture,
) -> None:
    from freqtrade.persistence import Trade

    trade_with_orders("ADA/USD", [("buy", 100.0, 0.5, False), ("sell", 100.0, 0.6, False)])
    assert reconcile_open_trades(Trade.get_open_trades()) == ["ADA/USD"]
    assert "amount_before=100 amount_after=0 closed=true" in caplog.text
    Trade.session.remove()
    (trade,) = Trade.get_trades([]).all()
    assert not trade.is_open and trade.close_rate == pytest.approx(0.6)
    assert trade.close_profit_abs == pytest.approx(100 * 0.6 * 0.994 - 100 * 0.5 * 1.006)
    assert Trade.get_open_trades() == []
