"""Live price tape: tickers and order books freqtrade fetched anyway, reused as marks.

The live half of the cap's marks (``cap_marks.LiveMarks`` reads it), so the cap marks
positions without requests of its own.

Freqtrade prices every open trade on every iteration (``exit_positions`` and, with position
adjustment on, ``process_open_trade_positions`` call ``get_rate(..., refresh=True)``): from the
order book when ``exit_pricing.use_order_book`` is on (our config), else from the ticker.
Marking the same trades again from ``bot_loop_start`` with a ticker each doubled those requests:
10-20 ms per iteration with 10 trades on the loopback replay exchange, 0.5-2 s on the real
Coinbase API.

The tape wraps the exchange object's ``fetch_ticker`` and ``fetch_l2_order_book`` (the instance,
not the class: nothing of freqtrade is edited and other exchange objects are untouched) and keeps
each pair's last price and when it arrived: a ticker's ``last``, or an order book's mid price
(best bid + best ask) / 2, the nearest to ``last`` a book gives. The cap reuses a price only if
it arrived since the previous iteration began and within ``MAX_AGE_SECONDS``; otherwise it
fetches a ticker, as before.

Why not freqtrade's own rate cache (``Exchange.get_rate(pair, refresh=False, side="exit")``,
public, filled by the same ``exit_positions`` calls)? Measured (``bench/rate_cache_freshness.py``,
dry-run bot on the replay, 4 trades, 40 iterations): it is as fresh in steady state (160 of 160
marks, at most 1.9 s old at ``process_throttle_secs`` 2) but it is freqtrade's exit-side price
(the bid with our ``exit_pricing``), not the mid or ``last`` (every mark would move by half the
spread), and it keeps no arrival time for its 300 s TTL: after ``/stop``, 90 s, ``/start`` it
served 4 of 4 prices 92 s old where the tape refused them and the cap fetched tickers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

MAX_AGE_SECONDS = 60.0
"""A bot stopped with /stop and started again must not mark with prices from before the stop."""

clock: Callable[[], float] = time.monotonic


def _ticker_price(ticker: Any) -> float | None:
    last = ticker.get("last") if ticker else None
    return float(last) if last else None


def _book_price(book: Any) -> float | None:
    try:
        bid, ask = float(book["bids"][0][0]), float(book["asks"][0][0])
    except (TypeError, KeyError, IndexError, ValueError):
        return None  # a one-sided or empty book says nothing about the price
    return (bid + ask) / 2.0 if bid > 0 and ask > 0 else None


class PriceTape:
    """Each pair's last price seen in a ticker or an order book the exchange object fetched."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, float]] = {}

    def record(self, pair: str, price: float | None) -> None:
        if price is not None:
            self._seen[pair] = (price, clock())

    def price(self, pair: str, fresh_since: float) -> float | None:
        """The last price seen for ``pair`` if it arrived at or after ``fresh_since``."""
        seen = self._seen.get(pair)
        if seen is None:
            return None
        price, at = seen
        if at < fresh_since or clock() - at > MAX_AGE_SECONDS:
            return None
        return price

    def _recording(self, fetch: Callable[..., Any],
                   price_of: Callable[[Any], float | None]) -> Callable[..., Any]:
        def fetch_and_record(pair: str, *args: Any, **kwargs: Any) -> Any:
            result = fetch(pair, *args, **kwargs)
            self.record(pair, price_of(result))
            return result

        fetch_and_record._trader247_tape = self  # type: ignore[attr-defined]
        return fetch_and_record

    @classmethod
    def install(cls, exchange: Any) -> PriceTape:
        """The exchange's tape, installed on first use (once per exchange object)."""
        current = getattr(getattr(exchange, "fetch_ticker", None), "_trader247_tape", None)
        if isinstance(current, cls):
            return current
        tape = cls()
        for name, price_of in (("fetch_ticker", _ticker_price),
                               ("fetch_l2_order_book", _book_price)):
            fetch = getattr(exchange, name, None)
            if fetch is not None:
                setattr(exchange, name, tape._recording(fetch, price_of))
        return tape
