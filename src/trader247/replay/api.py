"""The replay exchange: builds its parts, routes requests, checks keys, injects faults.

``ReplayExchange.handle`` turns one HTTP request into a ``Response`` without touching sockets,
so it is tested directly; the server only adds delays and writes bytes. The answers come from
the parts, each built here from the pieces it needs and never from the exchange itself:
``PublicApi`` (market data), ``PrivateApi`` (accounts and orders, over the ``Brokerage``),
``ControlApi`` (``/_replay/``), all sharing one ``ScenarioState`` (faults, price scripts,
product overrides, book shape) and one ``ReplayMarket``.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from trader247.replay.auth import AuthError, KeyRing, KeysError
from trader247.replay.brokerage import Brokerage
from trader247.replay.catalog import Catalog, ExchangeMarket
from trader247.replay.clock import Clock, ReplayClock
from trader247.replay.control import ControlApi
from trader247.replay.faults import ScenarioError
from trader247.replay.feed import Feed
from trader247.replay.market import ReplayMarket
from trader247.replay.private import PrivateApi
from trader247.replay.protocol import ApiError, Request, RequestCounter, Response, dumps
from trader247.replay.public import PublicApi
from trader247.replay.scenario import Scenario
from trader247.replay.state import ScenarioState, named_pairs

log = logging.getLogger(__name__)

_HTML_5XX = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
)
_GRPC_CODES = {500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Temporarily Unavailable",
            504: "Gateway Time-out"}


Handler = Callable[[Request], Any]


class ReplayExchange:
    """Everything behind the HTTP server: the composition root and the request pipeline."""

    def __init__(self, feed: Feed, *, clock: Clock = time.time, speed: float = 1.0,
                 scenario: Scenario | None = None, start_offset_candles: int = 1000,
                 start_at: float | None = None, keys: KeyRing | None = None) -> None:
        scenario = scenario or Scenario()
        desired = feed.history_start(start_offset_candles) if start_at is None else start_at
        self.clock = ReplayClock(clock, desired_start=desired, data_end=feed.end, speed=speed)
        for product_id in sorted(named_pairs(scenario) - set(feed.pairs)):
            # kept (a later data set may have it) but worth a word: usually a typo
            log.warning("scenario names %s, which the data directory does not have", product_id)
        self.scenario = ScenarioState(scenario)
        self.market = ReplayMarket(feed, self.clock, self.scenario)
        self.catalog = Catalog(self.market, self.scenario)
        self.keys = keys or KeyRing()
        self.brokerage = Brokerage(ExchangeMarket(self.market, self.catalog),
                                   volume_share=scenario.volume_share)
        for name, setup in [*self.keys.accounts.items(), *scenario.accounts.items()]:
            self.brokerage.open_account(name, setup.balances, self.clock.now(), setup.fee_tier)
        self.requests = RequestCounter()
        self.public = PublicApi(self.market, self.catalog)
        self.private = PrivateApi(self.brokerage, self.market)
        self.control = ControlApi(self.scenario, self.catalog, self.brokerage, self.keys,
                                  self.requests)
        self._routes: list[tuple[str, re.Pattern[str], str, Handler, bool]] = []
        self._add_routes()

    # -- routing ---------------------------------------------------------------------------
    def _route(self, method: str, pattern: str, endpoint: str, handler: Handler,
               private: bool = False) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), endpoint, handler, private))

    def _add_routes(self) -> None:
        for method, path, endpoint, handler, signed in self.public.routes():
            self._route(method, path, endpoint, handler, signed)
        for method, path, endpoint, handler in self.private.routes():
            self._route(method, path, endpoint, handler, True)
        for method, path, handler in self.control.routes():
            self._route(method, path, "replay", handler)

    def state(self, now: float | None = None) -> dict[str, Any]:
        return self.control.state(now)

    def request_counts(self) -> dict[str, int]:
        return self.requests.snapshot()

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
        self.requests.add(endpoint)
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
            request.fired = self.scenario.faults.select(endpoint, pair.upper() if pair else None,
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
