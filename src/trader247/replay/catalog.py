"""The products as Coinbase lists them: the replayed market seen through the scenario's overrides.

``Catalog`` answers which products are listed, renders a product as Coinbase's JSON and gives the
matching engine a product's trading rules (``ProductSpec``); ``ExchangeMarket`` is the
brokerage's view of the market (``brokerage.MarketView``). Both are built from the market and the
``ScenarioState``, never from the ``ReplayExchange``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from trader247.replay.engine import Level, Segment
from trader247.replay.market import ReplayMarket
from trader247.replay.names import name_of
from trader247.replay.orders import ProductSpec
from trader247.replay.protocol import ApiError, number
from trader247.replay.scenario import HIDDEN
from trader247.replay.state import ScenarioState

# Coinbase prints the 24 h changes with 14 decimals, trailing zeros dropped (ccxt's recorded
# markets: "-0.31484054621308", "0.9966348916013").
PCT_DECIMALS = 14


def pct_text(percent: float) -> str:
    return number(percent, PCT_DECIMALS)


def pct_change(now: float, before: float | None) -> str:
    return pct_text((now / before - 1.0) * 100.0) if before else "0"


def quote_volume_text(volume_24h: str, price: str, price_decimals: int) -> str:
    """``approximate_quote_24h_volume`` as Coinbase computes it: the product of the two printed
    figures, to the quote increment (every recorded product obeys it, e.g. BTC-USDC
    9035.28731773 x 103459.11 = 934782784.49)."""
    return number(Decimal(volume_24h) * Decimal(price), price_decimals)


class Catalog:
    def __init__(self, market: ReplayMarket, state: ScenarioState) -> None:
        self.market = market
        self.state = state

    def listed(self, now: float) -> list[str]:
        return [pid for pid in self.market.listed(now) if not self.state.hidden(pid)]

    def known(self, product_id: str, now: float) -> str:
        """``product_id`` (upper case) if it is listed now, else Coinbase's 404."""
        product_id = product_id.upper()
        if (product_id not in self.market.feed.pairs or self.state.hidden(product_id)
                or self.market.price(product_id, now) is None):
            raise ApiError(404, "NOT_FOUND", "ProductID is invalid")
        return product_id

    def spec(self, product_id: str, now: float) -> ProductSpec | None:
        """The trading rules of a listed product, overrides applied (None: not tradable)."""
        meta = self.market.meta.get(product_id)
        overrides = self.state.overrides_of(product_id)
        if meta is None or overrides.get(HIDDEN) or self.market.price(product_id, now) is None:
            return None
        status = str(overrides.get("status", "online")).lower()
        return ProductSpec(
            product_id, meta.base, meta.quote,
            base_increment=Decimal(meta.base_increment),
            quote_increment=Decimal(meta.quote_increment),
            base_min_size=Decimal(str(overrides.get("base_min_size", meta.base_min_size))),
            base_max_size=Decimal(str(overrides.get("base_max_size", meta.base_max_size))),
            quote_min_size=Decimal(str(overrides.get("quote_min_size", meta.quote_min_size))),
            quote_max_size=Decimal(str(overrides.get("quote_max_size", meta.quote_max_size))),
            trading_disabled=bool(overrides.get("trading_disabled", False))
            or bool(overrides.get("is_disabled", False)) or status not in ("online", ""),
            cancel_only=bool(overrides.get("cancel_only", False)),
            limit_only=bool(overrides.get("limit_only", False)),
            post_only=bool(overrides.get("post_only", False)),
        )

    def product(self, product_id: str, now: float,
                missing: Mapping[str | None, tuple[str, ...]] | None = None) -> dict[str, Any]:
        """A product as Coinbase's products endpoints answer it; ``missing`` drops fields (the
        ``missing_volume`` fault)."""
        values = self._fields(product_id, now)
        for key, value in self.state.overrides_of(product_id).items():
            if key == HIDDEN:
                continue
            # Coinbase sends numbers as strings; YAML numbers in overrides become strings too
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            values[key] = str(value) if is_number else value
        if missing:
            for key in missing.get(None, ()) + missing.get(product_id, ()):
                values.pop(key, None)
        return values

    def _fields(self, product_id: str, now: float) -> dict[str, Any]:
        market = self.market
        meta = market.meta[product_id]
        price = number(market.price(product_id, now) or 0.0, meta.price_decimals)
        stats = market.stats(product_id, now)
        volume = number(stats.volume_24h, meta.size_decimals)
        alias = market.alias.get(product_id, "")
        return {
            "product_id": product_id,
            "price": price,
            "price_percentage_change_24h": pct_change(float(price), stats.open_24h),
            "volume_24h": volume,
            "volume_percentage_change_24h": pct_change(stats.volume_24h, stats.volume_prev_24h),
            "base_increment": meta.base_increment,
            "quote_increment": meta.quote_increment,
            "quote_min_size": meta.quote_min_size,
            "quote_max_size": meta.quote_max_size,
            "base_min_size": meta.base_min_size,
            "base_max_size": meta.base_max_size,
            "base_name": name_of(meta.base),
            "quote_name": name_of(meta.quote),
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": "online",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": meta.quote,
            "base_currency_id": meta.base,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            "alias": alias,
            "alias_to": list(market.alias_to.get(product_id, [])),
            "base_display_symbol": meta.base,
            # an alias shows the book it trades on: BTC-USDC displays as BTC-USD
            "quote_display_symbol": market.meta[alias].quote if alias else meta.quote,
            "view_only": False,
            "price_increment": meta.quote_increment,
            "display_name": product_id,
            "product_venue": "CBE",
            "approximate_quote_24h_volume": quote_volume_text(volume, price, meta.price_decimals),
            "new_at": "2023-01-01T00:00:00Z",
        }


class ExchangeMarket:
    """The brokerage's view of the replayed market (``brokerage.MarketView``)."""

    def __init__(self, market: ReplayMarket, catalog: Catalog) -> None:
        self.market = market
        self.catalog = catalog

    def spec(self, product_id: str, now: float) -> ProductSpec | None:
        return self.catalog.spec(product_id, now)

    def book(self, product_id: str, now: float) -> tuple[Sequence[Level], Sequence[Level]]:
        ladder = self.market.ladder(product_id, now)
        if ladder is None:
            return [], []
        return ladder.levels("bids"), ladder.levels("asks")

    def path(self, product_id: str, t0: float, t1: float) -> list[Segment]:
        return [Segment(*piece) for piece in self.market.segments(product_id, t0, t1)]

    def half_spread(self, product_id: str, now: float) -> float:
        ladder = self.market.ladder(product_id, now, 1)
        if ladder is None:  # not listed at that moment: no book, no spread to cross
            return 0.0
        tick = 10.0 ** -ladder.price_decimals
        return (ladder.best_ask - ladder.best_bid) * tick / 2

    def usd_price(self, currency: str, now: float) -> float | None:
        return self.market.usd_price(currency, now)
