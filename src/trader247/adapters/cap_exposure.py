"""What the cap measures, read from freqtrade's trades, orders and wallet.

:func:`position_of` is the one definition of a trade's exposure (``trader247.core.exposure``):
the filled amount at the mark, plus the stake of the trade's OPEN ENTRY orders. Open
exit orders (a trim, a stop, an exit signal) reduce nothing until they fill and add nothing
either: freqtrade's ``trade.amount`` is what is still held. Tests drive it with real freqtrade
``Trade`` / ``Order`` rows in an in-memory database (tests/plugins/test_cap_orm.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trader247.adapters.cap_marks import MarkSource
from trader247.core.exposure import Position, Snapshot
from trader247.core.symbols import asset_of


def open_entry_stake(trade: Any) -> float:
    """Stake of the trade's open entry orders: their whole amount (filled part + remaining) x
    price. Freqtrade applies an entry order's fills to ``trade.amount`` only once the order
    closes, so the part of an open order that already filled is in neither ``trade.amount`` nor
    the remaining amount: counting only the remaining part under-measured a partly filled
    entry (found with real ``Order`` rows, tests/plugins/test_cap_orm.py)."""
    return sum((float(order.safe_filled) + float(order.safe_remaining)) * float(order.safe_price)
               for order in trade.open_orders if order.ft_order_side == trade.entry_side)


def position_of(trade: Any, mark: float) -> Position:
    # Before its first fill freqtrade's trade.amount is the requested amount, not a holding.
    filled = float(trade.amount) if trade.nr_of_successful_entries > 0 else 0.0
    return Position(trade.pair, filled, mark, open_entry_stake(trade))


@dataclass
class ExposureReader:
    """A :class:`Snapshot` of the bot: open trades at ``marks``, the stake balance of
    ``wallets`` (freqtrade's ``Wallets``) and, with ``count_external``, the other wallet assets
    valued at ``ticker`` (None in backtesting: no tickers there)."""

    stake_currency: str
    marks: MarkSource
    wallets: Any
    count_external: bool
    ticker: Callable[[str], Any] | None

    def snapshot(self, trades: Iterable[Any], now: datetime | None) -> Snapshot:
        positions = tuple(position_of(trade, self.marks.price(trade.pair, trade.open_rate, now))
                          for trade in trades)
        balance = float(self.wallets.get_total(self.stake_currency)) if self.wallets else 0.0
        external = 0.0
        if self.count_external and self.wallets:
            external = self._external_value({asset_of(p.pair) for p in positions})
        return Snapshot(stake_balance=balance, positions=positions,
                        external_holdings_value=external)

    def _external_value(self, bot_bases: set[str]) -> float:
        """Wallet holdings the bot did not open, valued at their ``<asset>/<stake>`` ticker."""
        value = 0.0
        for asset, balance in self.wallets.get_all_balances().items():
            if asset in (self.stake_currency, *bot_bases) or not balance.total:
                continue
            ticker = self.ticker(f"{asset}/{self.stake_currency}") if self.ticker else None
            if ticker and ticker.get("last"):
                value += float(balance.total) * float(ticker["last"])
        return value


def exchange_min_stakes(exchange: Any, stoploss: Callable[[], float],
                        ) -> Callable[[Snapshot], dict[str, float]]:
    """Each position's minimum stake on ``exchange`` (freqtrade's ``get_min_pair_stake_amount``);
    0 without an exchange. ``stoploss()`` is read per call: hyperopt changes it per epoch."""

    def min_stakes(snapshot: Snapshot) -> dict[str, float]:
        result: dict[str, float] = {}
        for position in snapshot.positions:
            minimum = None
            if exchange is not None:
                minimum = exchange.get_min_pair_stake_amount(
                    position.pair, position.mark_price, stoploss())
            result[position.pair] = float(minimum or 0.0)
        return result

    return min_stakes


def exchange_increase_min_stake(exchange: Any) -> Callable[[str, float], float | None]:
    """The minimum stake of one more entry order on a held pair at ``price``, as freqtrade
    computes it for a position adjustment (``get_min_pair_stake_amount`` with stoploss 0); None
    without an exchange or a market limit."""

    def minimum(pair: str, price: float) -> float | None:
        if exchange is None:
            return None
        value = exchange.get_min_pair_stake_amount(pair, price, 0.0)
        return None if value is None else float(value)

    return minimum
