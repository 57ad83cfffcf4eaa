"""Coinbase Advanced Trade responses and request routing (incl. fault injection).

``ReplayExchange.handle`` turns one HTTP request into a ``Response`` without touching sockets,
so it is tested directly; the server only adds delays and writes bytes. Response shapes follow
what ccxt 4.5's ``coinbase`` class parses (see README for the field list).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from trader247.replay.auth import AuthError, KeyRing, KeysError
from trader247.replay.book import Ladder, auto_spread_bps, ladder
from trader247.replay.brokerage import Brokerage
from trader247.replay.clock import Clock, ReplayClock
from trader247.replay.control import ControlApi
from trader247.replay.faults import FaultEngine, ScenarioError
from trader247.replay.feed import GRANULARITIES, Feed
from trader247.replay.market import ReplayMarket
from trader247.replay.names import CRYPTO, FIAT, is_fiat, name_of
from trader247.replay.pricescript import PriceScripts
from trader247.replay.private import ExchangeMarket, PrivateApi
from trader247.replay.protocol import ApiError, Request, Response, dumps, iso
from trader247.replay.scenario import HIDDEN, Scenario

log = logging.getLogger(__name__)

MAX_CANDLES = 300
# Coinbase rejects candle ranges longer than this many candles.
MAX_CANDLE_RANGE = 350
MAX_TICKER_TRADES = 100
_V3 = "/api/v3/brokerage"
_HTML_5XX = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
)
_GRPC_CODES = {500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Temporarily Unavailable",
            504: "Gateway Time-out"}


def number(value: float, decimals: int) -> str:
    """A decimal string as Coinbase prints product figures: rounded, no trailing zeros."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _pct(now: float, before: float | None) -> str:
    if not before:
        return "0"
    return f"{(now / before - 1.0) * 100.0:.14g}"


Handler = Callable[[Request], Any]


class ReplayExchange:
    """Everything behind the HTTP server: feed, clock, faults, overrides, counters."""

    def __init__(self, feed: Feed, *, clock: Clock = time.time, speed: float = 1.0,
                 scenario: Scenario | None = None, start_offset_candles: int = 1000,
                 start_at: float | None = None, keys: KeyRing | None = None) -> None:
        scenario = scenario or Scenario()
        desired = feed.history_start(start_offset_candles) if start_at is None else start_at
        self.clock = ReplayClock(clock, desired_start=desired, data_end=feed.end, speed=speed)
        self.scripts = PriceScripts(scenario.price_scripts)
        self.market = ReplayMarket(feed, self.clock, self.scripts)
        self.faults = FaultEngine(scenario.faults, seed=scenario.seed)
        self.book = scenario.book
        self.overrides: dict[str, dict[str, Any]] = dict(scenario.products)
        named = set(self.overrides) | {f.pair for f in scenario.faults if f.pair} | {
            s.pair for s in scenario.price_scripts if s.pair} | set(scenario.book.pairs)
        for product_id in sorted(named - set(feed.pairs)):
            # kept (a later data set may have it) but worth a word: usually a typo
            log.warning("scenario names %s, which the data directory does not have", product_id)
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self._routes: list[tuple[str, re.Pattern[str], str, Handler, bool]] = []
        self.keys = keys or KeyRing()
        self.brokerage = Brokerage(ExchangeMarket(self), volume_share=scenario.volume_share)
        for name, setup in self.keys.accounts.items():
            self.brokerage.open_account(name, setup.balances, self.clock.now(), setup.fee_tier)
        for name, setup in scenario.accounts.items():
            self.brokerage.open_account(name, setup.balances, self.clock.now(), setup.fee_tier)
        self.private = PrivateApi(self, self.brokerage)
        self.control = ControlApi(self)
        self._add_routes()

    # -- routing ---------------------------------------------------------------------------
    def _route(self, method: str, pattern: str, endpoint: str, handler: Handler,
               private: bool = False) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), endpoint, handler, private))

    def _add_routes(self) -> None:
        pid = r"(?P<product_id>[A-Za-z0-9]+-[A-Za-z0-9]+)"
        self._route("GET", f"{_V3}/market/products", "products", self._products)
        self._route("GET", f"{_V3}/market/products/{pid}", "product", self._product)
        self._route("GET", f"{_V3}/market/products/{pid}/candles", "candles", self._candles)
        self._route("GET", f"{_V3}/market/products/{pid}/ticker", "ticker", self._ticker)
        self._route("GET", f"{_V3}/market/product_book", "book", self._book)
        self._route("GET", f"{_V3}/time", "time", self._time_v3)
        self._route("GET", "/v2/time", "time", self._time_v2)
        self._route("GET", "/v2/currencies", "currencies", self._fiat)
        self._route("GET", "/v2/currencies/crypto", "currencies", self._crypto)
        self._route("GET", "/v2/exchange-rates", "currencies", self._rates)
        self._route("GET", f"/v2/prices/{pid}/(?P<kind>spot|buy|sell)", "ticker", self._v2_price)
        # the signed twins of the market endpoints (ccxt's usePrivate, fetch_bids_asks)
        self._route("GET", f"{_V3}/products", "products", self._products, True)
        self._route("GET", f"{_V3}/products/{pid}", "product", self._product, True)
        self._route("GET", f"{_V3}/products/{pid}/candles", "candles", self._candles, True)
        self._route("GET", f"{_V3}/products/{pid}/ticker", "ticker", self._ticker, True)
        self._route("GET", f"{_V3}/product_book", "book", self._book, True)
        self._route("GET", f"{_V3}/best_bid_ask", "book", self._best_bid_ask, True)
        for method, path, endpoint, handler in self.private.routes():
            self._route(method, path, endpoint, handler, True)
        for method, path, handler in self.control.routes():
            self._route(method, path, "replay", handler)

    def state(self, now: float | None = None) -> dict[str, Any]:
        return self.control.state(now)

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.requests)

    def handle(self, method: str, target: str, body: bytes = b"",
               headers: Mapping[str, str] | None = None) -> Response:
        now = self.clock.now()
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        request = Request(method, path, parse_qs(parts.query), body, now,
                          self.clock.elapsed(now))
        endpoint, handler, path_ok, private = "unknown", None, False, False
        for route_method, pattern, name, candidate, signed in self._routes:
            match = pattern.match(path)
            if match:
                path_ok = True
                if route_method == method:
                    endpoint, handler, request.params = name, candidate, match.groupdict()
                    private = signed
                    break
        with self._lock:
            self.requests[endpoint] += 1
        if handler is None:
            if path_ok:
                return self._error(path, ApiError(405, "METHOD_NOT_ALLOWED", "Method Not Allowed"))
            return self._error(path, ApiError(404, "NOT_FOUND", "Not Found"))
        if private:
            denied = self._authenticate(request, headers or {})
            if denied is not None:
                return denied
        if endpoint != "replay":
            pair = request.params.get("product_id") or request.arg("product_id")
            if private and pair is None:
                pair = self.private.product_of(endpoint, request)
            request.fired = self.faults.select(endpoint, pair.upper() if pair else None,
                                               request.rel)
            early = self._terminal(request, handler)
            if early is not None:
                return early
        return self._answer(request, path, handler)

    def _answer(self, request: Request, path: str, handler: Handler) -> Response:
        try:
            data = handler(request)
        except ApiError as exc:
            response = self._error(path, exc)
        except (ScenarioError, KeysError) as exc:
            response = Response(400, dumps({"error": "invalid_scenario", "message": str(exc)}))
        else:
            payload = dumps(data)
            if request.fired.malformed:
                # keep the leading "{" so clients try, and fail, to parse it as JSON
                payload = payload[: max(1, len(payload) // 2)]
            response = Response(200, payload)
        response.delay_s = request.fired.latency_s
        terminal = request.fired.terminal
        if terminal is not None and terminal.kind == "timeout":
            # the normal answer, sent after the hang: a patient client still gets data (and a
            # create or cancel has been carried out: the ambiguous outcome of a time-out)
            response.hang_s = terminal.hang_s
        return response

    def _authenticate(self, request: Request, headers: Mapping[str, str]) -> Response | None:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = auth.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise AuthError("no bearer token")
            request.account = self.keys.account_of(token.strip(), request.method, request.path,
                                                   request.now)
        except AuthError as exc:
            log.info("401 for %s %s: %s", request.method, request.path, exc)
            if request.path.startswith("/v2/"):
                return Response(401, dumps({"errors": [{
                    "id": "authentication_error", "message": "invalid api key"}]}))
            # what Coinbase's Advanced Trade gateway answers to a bad or missing JWT
            return Response(401, b"Unauthorized\n", "text/plain")
        if request.account not in self.brokerage.accounts:
            self.brokerage.open_account(request.account, {}, request.now)
        return None

    def _terminal(self, request: Request, handler: Handler) -> Response | None:
        fault = request.fired.terminal
        if fault is None or fault.kind == "timeout":
            return None
        if fault.kind == "http_5xx" and fault.after_accept:
            # the ambiguous create/cancel: carried out, then the answer is lost
            self._answer(request, request.path, handler)
        if fault.kind == "rate_limit_429":
            response = self._error(request.path, ApiError(429, "rate_limit_exceeded",
                                                          "Too many requests"))
            response.headers["Retry-After"] = str(math.ceil(fault.retry_after_s))
        elif fault.body == "html":
            reason = _REASONS.get(fault.status, "Server Error")
            html = _HTML_5XX.format(code=fault.status, reason=reason)
            response = Response(fault.status, html.encode(), "text/html")
        else:
            code = _GRPC_CODES.get(fault.status, "INTERNAL")
            v2_code = "internal_server_error"
            response = self._error(request.path, ApiError(
                fault.status, v2_code if request.path.startswith("/v2/") else code,
                "Internal server error"))
        response.delay_s = request.fired.latency_s
        return response

    @staticmethod
    def _error(path: str, exc: ApiError) -> Response:
        if path.startswith("/v2/"):
            body: dict[str, Any] = {"errors": [{"id": exc.code.lower(), "message": exc.message}]}
        else:
            body = {"error": exc.code, "error_details": exc.message, "message": exc.message}
        return Response(exc.status, dumps(body))

    # -- products --------------------------------------------------------------------------
    def listed(self, now: float) -> list[str]:
        return [pid for pid in self.market.listed(now)
                if not self.overrides.get(pid, {}).get(HIDDEN)]

    def product(self, product_id: str, now: float,
                missing: Mapping[str | None, tuple[str, ...]] | None = None) -> dict[str, Any]:
        market = self.market
        meta = market.meta[product_id]
        price = market.price(product_id, now) or 0.0
        stats = market.stats(product_id, now)
        overrides = self.overrides.get(product_id, {})
        alias = market.alias.get(product_id, "")
        p, v = meta.price_decimals, meta.size_decimals
        values: dict[str, Any] = {
            "product_id": product_id,
            "price": number(price, p),
            "price_percentage_change_24h": _pct(price, stats.open_24h),
            "volume_24h": number(stats.volume_24h, v),
            "volume_percentage_change_24h": _pct(stats.volume_24h, stats.volume_prev_24h),
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
            # Coinbase: volume_24h x price, in quote currency, to the quote increment
            "approximate_quote_24h_volume": number(stats.volume_24h * price, p),
            "new_at": "2023-01-01T00:00:00Z",
        }
        for key, value in overrides.items():
            if key == HIDDEN:
                continue
            # Coinbase sends numbers as strings; YAML numbers in overrides become strings too
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            values[key] = str(value) if is_number else value
        if missing:
            for key in missing.get(None, ()) + missing.get(product_id, ()):
                values.pop(key, None)
        return values

    def _known(self, request: Request) -> str:
        product_id = request.params["product_id"].upper()
        if (product_id not in self.market.feed.pairs
                or self.overrides.get(product_id, {}).get(HIDDEN)
                or self.market.price(product_id, request.now) is None):
            raise ApiError(404, "NOT_FOUND", "ProductID is invalid")
        return product_id

    def _products(self, request: Request) -> dict[str, Any]:
        product_type = (request.arg("product_type") or "").upper()
        if product_type == "FUTURE":  # no derivatives here; ccxt asks for them in load_markets
            return {"products": [], "num_products": "0"}
        ids = [pid.upper() for value in request.query.get("product_ids", [])
               for pid in value.split(",") if pid]
        listed = self.listed(request.now)
        if ids:
            wanted = set(ids)
            listed = [pid for pid in listed if pid in wanted]
        offset = request.int_arg("offset", 0) or 0
        limit = request.int_arg("limit", 0) or len(listed)
        page = listed[offset:offset + limit]
        products = [self.product(pid, request.now, request.fired.missing_fields) for pid in page]
        # Coinbase sends the count as a string too (ccxt's recorded answer: num_products: '646')
        return {"products": products, "num_products": str(len(products))}

    def _product(self, request: Request) -> dict[str, Any]:
        return self.product(self._known(request), request.now, request.fired.missing_fields)

    # -- candles ---------------------------------------------------------------------------
    def _candles(self, request: Request) -> dict[str, Any]:
        product_id = self._known(request)
        granularity = request.arg("granularity", "ONE_MINUTE") or ""
        timeframe = GRANULARITIES.get(granularity.upper())
        if timeframe is None:
            raise ApiError(400, "INVALID_ARGUMENT",
                           f"Unsupported granularity {granularity!r}; expected one of "
                           f"{', '.join(GRANULARITIES)}")
        now = request.now
        if request.fired.stale_since_s is not None:
            now = min(now, self.clock.t0 + request.fired.stale_since_s)
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
    def ladder(self, product_id: str, now: float, limit: int | None = None) -> Ladder:
        """The book now (``limit`` levels a side); the public JSON and the matching engine
        both read it."""
        market = self.market
        meta = market.meta[product_id]
        price = market.price(product_id, now)
        if price is None:
            raise ApiError(404, "NOT_FOUND", "ProductID is invalid")
        shape = self.book.for_pair(product_id)
        if shape.spread_bps is None and market.source(product_id) != product_id:
            shape = self.book.for_pair(market.source(product_id))
        quote_volume = market.quote_volume(product_id, now)
        spread = shape.spread_bps
        if spread is None:
            usd = quote_volume * (market.usd_price(meta.quote, now) or 0.0)
            spread = auto_spread_bps(usd)
        level_quote = (shape.level_quote_size if shape.level_quote_size is not None
                       else max(100.0, quote_volume / 20_000))
        depth = shape.depth_levels if not limit else min(limit, shape.depth_levels)
        return ladder(price, price_decimals=meta.price_decimals,
                      size_decimals=meta.size_decimals, spread_bps=spread,
                      step_bps=shape.step_bps, depth=depth, level_quote=level_quote)

    def order_book(self, product_id: str, now: float,
                   limit: int | None = None) -> dict[str, Any]:
        book = self.ladder(product_id, now, limit)
        meta = self.market.meta[product_id]
        price = self.market.price(product_id, now) or 0.0
        p, s = meta.price_decimals, meta.size_decimals
        tick = 10.0 ** -p

        def rows(side: list[tuple[int, int]]) -> list[dict[str, str]]:
            return [{"price": f"{Decimal(t).scaleb(-p):f}", "size": f"{Decimal(u).scaleb(-s):f}"}
                    for t, u in side]

        mid = (book.best_bid + book.best_ask) / 2 * tick
        return {
            "pricebook": {"product_id": product_id, "bids": rows(book.bids),
                          "asks": rows(book.asks), "time": iso(now)},
            "last": f"{price:.{p}f}",
            "mid_market": f"{mid:.{p + 1}f}",
            "spread_bps": f"{(book.best_ask - book.best_bid) * tick / mid * 1e4:.6g}",
            "spread_absolute": f"{(book.best_ask - book.best_bid) * tick:.{p}f}",
        }

    def _book(self, request: Request) -> dict[str, Any]:
        product_id = request.arg("product_id")
        if not product_id:
            raise ApiError(400, "INVALID_ARGUMENT", "product_id is required")
        request.params["product_id"] = product_id
        return self.order_book(self._known(request), request.now, request.int_arg("limit"))

    def _best_bid_ask(self, request: Request) -> dict[str, Any]:
        wanted = [pid.upper() for value in request.query.get("product_ids", [])
                  for pid in value.split(",") if pid] or self.listed(request.now)
        books = []
        for product_id in wanted:
            request.params["product_id"] = product_id
            book = self.order_book(self._known(request), request.now, 1)["pricebook"]
            books.append(book)
        return {"pricebooks": books}

    def _ticker(self, request: Request) -> dict[str, Any]:
        product_id = self._known(request)
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
                "price": f"{price:.{meta.price_decimals}f}",
                "size": f"{size:.{meta.size_decimals}f}",
                "time": iso(at),
                "side": "BUY" if int(at) % 2 else "SELL",
                "bid": "",
                "ask": "",
            })
        return {"trades": trades, "best_bid": book["bids"][0]["price"],
                "best_ask": book["asks"][0]["price"]}

    def _v2_price(self, request: Request) -> dict[str, Any]:
        product_id = self._known(request)
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

    def _fiat(self, request: Request) -> dict[str, Any]:
        codes = dict.fromkeys([*FIAT, *[c for c in self._codes() if is_fiat(c)]])
        return {"data": [{"id": c, "name": name_of(c), "min_size": "0.01"} for c in codes]}

    def _crypto(self, request: Request) -> dict[str, Any]:
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

    def _rates(self, request: Request) -> dict[str, Any]:
        currency = (request.arg("currency", "USD") or "USD").upper()
        base_usd = self.market.usd_price(currency, request.now)
        if base_usd is None:
            raise ApiError(400, "invalid_request", "Currency is invalid")
        rates: dict[str, str] = {}
        for code in dict.fromkeys(["USD", *self._codes()]):
            usd = self.market.usd_price(code, request.now)
            if usd:
                rates[code] = f"{base_usd / usd:.10g}"
        return {"data": {"currency": currency, "rates": rates}}

    def _time_v2(self, request: Request) -> dict[str, Any]:
        return {"data": {"iso": iso(request.now)[:19] + "Z", "epoch": int(request.now)}}

    def _time_v3(self, request: Request) -> dict[str, Any]:
        return {"iso": iso(request.now), "epochSeconds": str(int(request.now)),
                "epochMillis": str(int(request.now * 1000))}
