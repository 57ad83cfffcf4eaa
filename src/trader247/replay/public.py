"""Coinbase's market data endpoints (Advanced Trade v3 and the v2 ones ccxt reads) on the replay.

Built from the market and the catalog; the shapes follow what ccxt 4.5's ``coinbase`` class
parses and Coinbase's recorded answers (see the README's endpoint table).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from trader247.replay.catalog import Catalog
from trader247.replay.feed import GRANULARITIES
from trader247.replay.market import ReplayMarket
from trader247.replay.names import CRYPTO, FIAT, is_fiat, name_of
from trader247.replay.protocol import ApiError, Request, dec, iso, number

MAX_CANDLES = 300
# Coinbase rejects candle ranges longer than this many candles.
MAX_CANDLE_RANGE = 350
MAX_TICKER_TRADES = 100
# exchange rates: significant digits, printed as plain decimals like Coinbase's ("103.163942")
RATE_DIGITS = 10
V3 = "/api/v3/brokerage"
PID = r"(?P<product_id>[A-Za-z0-9]+-[A-Za-z0-9]+)"

Handler = Callable[[Request], Any]
Route = tuple[str, str, str, Handler, bool]  # method, path pattern, endpoint name, handler, signed


def _ids(request: Request) -> list[str]:
    return [pid.upper() for value in request.query.get("product_ids", [])
            for pid in value.split(",") if pid]


class PublicApi:
    def __init__(self, market: ReplayMarket, catalog: Catalog) -> None:
        self.market = market
        self.catalog = catalog

    def routes(self) -> list[Route]:
        market = [
            ("products", "products", self.products),
            (f"products/{PID}", "product", self.product),
            (f"products/{PID}/candles", "candles", self.candles),
            (f"products/{PID}/ticker", "ticker", self.ticker),
            ("product_book", "book", self.book),
        ]
        return [
            *[("GET", f"{V3}/market/{path}", name, handler, False)
              for path, name, handler in market],
            ("GET", f"{V3}/time", "time", self.time_v3, False),
            ("GET", "/v2/time", "time", self.time_v2, False),
            ("GET", "/v2/currencies", "currencies", self.fiat, False),
            ("GET", "/v2/currencies/crypto", "currencies", self.crypto, False),
            ("GET", "/v2/exchange-rates", "currencies", self.rates, False),
            ("GET", f"/v2/prices/{PID}/(?P<kind>spot|buy|sell)", "ticker", self.v2_price, False),
            # the signed twins of the market endpoints (ccxt's usePrivate, fetch_bids_asks)
            *[("GET", f"{V3}/{path}", name, handler, True) for path, name, handler in market],
            ("GET", f"{V3}/best_bid_ask", "book", self.best_bid_ask, True),
        ]

    # -- products --------------------------------------------------------------------------
    def products(self, request: Request) -> dict[str, Any]:
        product_type = (request.arg("product_type") or "").upper()
        if product_type == "FUTURE":  # no derivatives here; ccxt asks for them in load_markets
            return {"products": [], "num_products": "0"}
        listed = self.catalog.listed(request.now)
        ids = _ids(request)
        if ids:
            wanted = set(ids)
            listed = [pid for pid in listed if pid in wanted]
        offset = request.int_arg("offset", 0) or 0
        limit = request.int_arg("limit", 0) or len(listed)
        page = listed[offset:offset + limit]
        products = [self.catalog.product(pid, request.now, request.fired.missing_fields)
                    for pid in page]
        # Coinbase sends the count as a string too (ccxt's recorded answer: num_products: '646')
        return {"products": products, "num_products": str(len(products))}

    def product(self, request: Request) -> dict[str, Any]:
        product_id = self.catalog.known(request.params["product_id"], request.now)
        return self.catalog.product(product_id, request.now, request.fired.missing_fields)

    # -- candles ---------------------------------------------------------------------------
    def candles(self, request: Request) -> dict[str, Any]:
        product_id = self.catalog.known(request.params["product_id"], request.now)
        granularity = request.arg("granularity", "ONE_MINUTE") or ""
        timeframe = GRANULARITIES.get(granularity.upper())
        if timeframe is None:
            raise ApiError(400, "INVALID_ARGUMENT",
                           f"Unsupported granularity {granularity!r}; expected one of "
                           f"{', '.join(GRANULARITIES)}")
        now = request.now
        if request.fired.stale_since_s is not None:
            now = min(now, self.market.clock.t0 + request.fired.stale_since_s)
        end = request.int_arg("end")
        if end is None:
            end = int(request.now)
        start = request.int_arg("start")
        if start is None:
            start = end - MAX_CANDLES * timeframe
        if end < start:
            raise ApiError(400, "INVALID_ARGUMENT", "start must be before end")
        if (end - start) / timeframe > MAX_CANDLE_RANGE:
            raise ApiError(400, "INVALID_ARGUMENT",
                           "start and end argument is invalid - number of candles requested "
                           f"should be less than {MAX_CANDLE_RANGE}")
        limit = min(request.int_arg("limit", MAX_CANDLES) or MAX_CANDLES, MAX_CANDLES)
        meta = self.market.meta[product_id]
        p, v = meta.price_decimals, meta.size_decimals
        candles = self.market.candles(product_id, timeframe, start, end, now, limit)
        return {"candles": [
            {"start": str(c.start), "low": f"{c.low:.{p}f}", "high": f"{c.high:.{p}f}",
             "open": f"{c.open:.{p}f}", "close": f"{c.close:.{p}f}",
             "volume": f"{c.volume:.{v}f}"}
            for c in candles
        ]}

    # -- ticker and order book -------------------------------------------------------------
    def order_book(self, product_id: str, now: float,
                   limit: int | None = None) -> dict[str, Any]:
        book = self.market.ladder(product_id, now, limit)
        if book is None:
            raise ApiError(404, "NOT_FOUND", "ProductID is invalid")
        meta = self.market.meta[product_id]
        price = self.market.price(product_id, now) or 0.0
        p, s = meta.price_decimals, meta.size_decimals
        tick = 10.0 ** -p

        def rows(side: list[tuple[int, int]]) -> list[dict[str, str]]:
            # plain, no trailing zeros: Coinbase's recorded books ("0.115", "386.1", "672")
            return [{"price": dec(Decimal(t).scaleb(-p)), "size": dec(Decimal(u).scaleb(-s))}
                    for t, u in side]

        mid = (book.best_bid + book.best_ask) / 2 * tick
        return {
            "pricebook": {"product_id": product_id, "bids": rows(book.bids),
                          "asks": rows(book.asks), "time": iso(now)},
            "last": number(price, p),
            "mid_market": number(mid, p + 1),
            "spread_bps": f"{(book.best_ask - book.best_bid) * tick / mid * 1e4:.6g}",
            "spread_absolute": number((book.best_ask - book.best_bid) * tick, p),
        }

    def book(self, request: Request) -> dict[str, Any]:
        product_id = request.arg("product_id")
        if not product_id:
            raise ApiError(400, "INVALID_ARGUMENT", "product_id is required")
        request.params["product_id"] = product_id
        known = self.catalog.known(product_id, request.now)
        return self.order_book(known, request.now, request.int_arg("limit"))

    def best_bid_ask(self, request: Request) -> dict[str, Any]:
        wanted = _ids(request) or self.catalog.listed(request.now)
        return {"pricebooks": [
            self.order_book(self.catalog.known(pid, request.now), request.now, 1)["pricebook"]
            for pid in wanted]}

    def ticker(self, request: Request) -> dict[str, Any]:
        product_id = self.catalog.known(request.params["product_id"], request.now)
        count = min(max(request.int_arg("limit", 1) or 1, 1), MAX_TICKER_TRADES)
        book = self.order_book(product_id, request.now, 1)["pricebook"]
        meta = self.market.meta[product_id]
        trades = []
        for k in range(count):
            at = request.now - k
            price = self.market.price(product_id, at) or 0.0
            # sizes vary but repeat for the same second, so a test sees stable values
            size = (int(at) * 2654435761 % 1000 + 1) / 1000 * float(book["bids"][0]["size"])
            trades.append({
                "trade_id": str(int(at * 1000)),
                "product_id": product_id,
                "price": number(price, meta.price_decimals),
                # at least one unit: a trade of size 0 does not happen
                "size": number(max(size, 10.0 ** -meta.size_decimals), meta.size_decimals),
                "time": iso(at),
                "side": "BUY" if int(at) % 2 else "SELL",
                "bid": "",
                "ask": "",
            })
        return {"trades": trades, "best_bid": book["bids"][0]["price"],
                "best_ask": book["asks"][0]["price"]}

    def v2_price(self, request: Request) -> dict[str, Any]:
        product_id = self.catalog.known(request.params["product_id"], request.now)
        book = self.order_book(product_id, request.now, 1)
        meta = self.market.meta[product_id]
        kind = request.params["kind"]
        amount = {"spot": book["last"], "buy": book["pricebook"]["asks"][0]["price"],
                  "sell": book["pricebook"]["bids"][0]["price"]}[kind]
        return {"data": {"base": meta.base, "currency": meta.quote, "amount": amount}}

    # -- currencies and time ---------------------------------------------------------------
    def _codes(self) -> list[str]:
        codes: dict[str, None] = {}
        for meta in self.market.meta.values():
            codes[meta.base] = None
            codes[meta.quote] = None
        return list(codes)

    def fiat(self, request: Request) -> dict[str, Any]:
        codes = dict.fromkeys([*FIAT, *[c for c in self._codes() if is_fiat(c)]])
        return {"data": [{"id": c, "name": name_of(c), "min_size": "0.01"} for c in codes]}

    def crypto(self, request: Request) -> dict[str, Any]:
        data = []
        crypto = [c for c in self._codes() if not is_fiat(c)]
        for index, code in enumerate(crypto):
            data.append({
                "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-asset:{code}")),
                "code": code,
                "name": name_of(code),
                "color": "#0052FF",
                "sort_index": str(100 + index * 10 if code not in CRYPTO else 100 + list(
                    CRYPTO).index(code)),
                "exponent": "8",
                "type": "crypto",
                "address_regex": "^.+$",
            })
        return {"data": data}

    def rates(self, request: Request) -> dict[str, Any]:
        currency = (request.arg("currency", "USD") or "USD").upper()
        base_usd = self.market.usd_price(currency, request.now)
        if base_usd is None:
            raise ApiError(400, "invalid_request", "Currency is invalid")
        rates: dict[str, str] = {}
        for code in dict.fromkeys(["USD", *self._codes()]):
            usd = self.market.usd_price(code, request.now)
            if usd:
                rates[code] = rate_text(base_usd / usd)
        return {"data": {"currency": currency, "rates": rates}}

    def time_v2(self, request: Request) -> dict[str, Any]:
        return {"data": {"iso": iso(request.now)[:19] + "Z", "epoch": int(request.now)}}

    def time_v3(self, request: Request) -> dict[str, Any]:
        # whole seconds in "iso", like the v2 one (ccxt's recorded answer: "2024-02-27T03:37:14Z")
        return {"iso": iso(request.now)[:19] + "Z", "epochSeconds": str(int(request.now)),
                "epochMillis": str(int(request.now * 1000))}


def rate_text(rate: float) -> str:
    """An exchange rate as Coinbase writes it: a plain decimal ("0.00000949", never
    "9.49e-06"), ``RATE_DIGITS`` significant digits."""
    return dec(Decimal(f"{rate:.{RATE_DIGITS}g}"))
