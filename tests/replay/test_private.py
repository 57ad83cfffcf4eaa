"""Private endpoints without sockets: auth, orders, fills, holds, order faults, reconciliation.

Requests are signed by ccxt's own JWT signer at the fake clock's time; the fixtures check after
every test that each account's deposits + fills equal its balances.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest

from tests.replay.conftest import FakeClock, KeySet, get, sign
from trader247.replay.api import ReplayExchange

V3 = "/api/v3/brokerage"


class Client:
    def __init__(self, exchange: ReplayExchange, keyset: KeySet, label: str = "acct-1") -> None:
        self.exchange, self.keyset, self.label = exchange, keyset, label

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = sign(self.keyset, self.label, method, path.split("?")[0],
                       self.exchange.clock.now())
        return get(self.exchange, path, method, body, headers)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.call(method, path, body)
        assert status == 200, data
        return data

    def order(self, product: str, side: str, config: dict[str, Any], cid: str) -> Any:
        return self.ok("POST", f"{V3}/orders", {"client_order_id": cid, "product_id": product,
                                                "side": side, "order_configuration": config})

    def balances(self) -> dict[str, tuple[D, D]]:
        accounts = self.ok("GET", f"{V3}/accounts?limit=250")["accounts"]
        return {a["currency"]: (D(a["available_balance"]["value"]), D(a["hold"]["value"]))
                for a in accounts}


@pytest.fixture
def exchange(make_exchange: Callable[..., ReplayExchange], keyset: KeySet) -> ReplayExchange:
    return make_exchange(keys=keyset.ring)


def test_requests_without_valid_auth_get_coinbases_401(exchange: ReplayExchange,
                                                       keyset: KeySet) -> None:
    response = exchange.handle("GET", f"{V3}/accounts")
    assert (response.status, response.body, response.content_type) == (
        401, b"Unauthorized\n", "text/plain")
    v2 = exchange.handle("GET", "/v2/accounts")
    assert v2.status == 401 and json.loads(v2.body)["errors"][0]["id"] == "authentication_error"
    now = exchange.clock.now()
    for headers in (
        sign(keyset, "acct-1", "GET", f"{V3}/orders/historical/batch", now),  # another path
        sign(keyset, "acct-1", "POST", f"{V3}/accounts", now),  # another method
        sign(keyset, "acct-1", "GET", f"{V3}/accounts", now - 300),  # expired
        {"Authorization": "Bearer not-a-jwt"},
    ):
        assert exchange.handle("GET", f"{V3}/accounts", b"", headers).status == 401
    # a token signed with another key's private key but naming this key
    name, _ = keyset.secret("acct-1")
    forged = sign(keyset, "other-1", "GET", f"{V3}/accounts", now)["Authorization"]
    header, payload, signature = forged.removeprefix("Bearer ").split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = name
    head = json.loads(base64.urlsafe_b64decode(header + "=="))
    head["kid"] = name

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    token = f"{b64(head)}.{b64(claims)}.{signature}"
    assert exchange.handle("GET", f"{V3}/accounts", b"",
                           {"Authorization": f"Bearer {token}"}).status == 401
    assert Client(exchange, keyset).call("GET", f"{V3}/accounts")[0] == 200


def test_keys_of_one_account_share_it_and_accounts_are_separate(
        exchange: ReplayExchange, keyset: KeySet) -> None:
    one, two, other = (Client(exchange, keyset, label) for label in ("acct-1", "acct-3",
                                                                       "other-1"))
    assert one.balances()["USD"] == two.balances()["USD"] == (D("10000"), D(0))
    assert other.balances()["USD"] == (D("1000"), D(0))
    one.order("BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "1000"}}, "c1")
    usd, held = two.balances()["USD"]
    assert abs(usd - D("9000")) < D("1e-12") and held == 0  # the budget, fees included
    assert other.balances()["USD"] == (D("1000"), D(0))
    assert one.ok("GET", f"{V3}/orders/historical/batch")["orders"][0]["client_order_id"] == "c1"
    assert other.ok("GET", f"{V3}/orders/historical/batch")["orders"] == []


def test_market_buy_fills_against_the_book_with_fees_and_client_id_is_idempotent(
        exchange: ReplayExchange, keyset: KeySet) -> None:
    client = Client(exchange, keyset)
    body = {"market_market_ioc": {"quote_size": "5000"}}
    first = client.order("BTC-USD", "BUY", body, "same-id")
    assert first["success"] is True and first["success_response"]["client_order_id"] == "same-id"
    again = client.order("BTC-USD", "BUY", body, "same-id")
    assert again["order_id"] == first["order_id"]  # a retry returns the first order
    order = client.ok("GET", f"{V3}/orders/historical/{first['order_id']}")["order"]
    assert order["status"] == "FILLED" and order["size_in_quote"] is True
    value, fees = D(order["filled_value"]), D(order["total_fees"])
    # the budget is spent to the 16th decimal, the fee being Advanced 1's 1.2 % taker rate
    assert D("5000") - D("1e-12") < value + fees <= D("5000")
    assert abs(fees - value * D("0.012")) < D("1e-15")
    assert D(order["total_value_after_fees"]) == value + fees
    fills = client.ok("GET", f"{V3}/orders/historical/fills?order_id={first['order_id']}")
    assert len(fills["fills"]) == int(order["number_of_fills"]) >= 1
    assert {f["liquidity_indicator"] for f in fills["fills"]} == {"TAKER"}
    balances = client.balances()
    assert balances["BTC"][0] == D(order["filled_size"])
    assert balances["USD"][0] == D("10000") - value - fees
    assert len(client.ok("GET", f"{V3}/orders/historical/batch")["orders"]) == 1


def test_a_large_market_order_sweeps_several_levels_and_slips(
        make_exchange: Callable[..., ReplayExchange], keyset: KeySet) -> None:
    exchange = make_exchange({"book": {"level_quote_size": 1000, "spread_bps": 0}},
                             keys=keyset.ring)
    client = Client(exchange, keyset)
    asks = exchange.public.order_book("BTC-USD", exchange.clock.now(), 10)["pricebook"]["asks"]
    created = client.order("BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "5000"}}, "b")
    order = client.ok("GET", f"{V3}/orders/historical/{created['order_id']}")["order"]
    assert int(order["number_of_fills"]) >= 4  # ~1000 USD per level
    assert D(order["average_filled_price"]) > D(asks[0]["price"])


def test_limit_orders_rest_hold_funds_and_fill_partially_as_the_price_crosses(
        make_exchange: Callable[..., ReplayExchange], keyset: KeySet, clock: FakeClock) -> None:
    exchange = make_exchange({"matching": {"volume_share": 0.01}}, keys=keyset.ring)
    client = Client(exchange, keyset)
    price = exchange.market.price("BTC-USD", clock())
    limit = f"{price * 0.99:.2f}"
    created = client.order("BTC-USD", "BUY", {"limit_limit_gtc": {
        "base_size": "0.1", "limit_price": limit, "post_only": False}}, "rest")
    order_id = created["order_id"]
    available, hold = client.balances()["USD"]
    assert hold == D("0.1") * D(limit) * D("1.012") and available == D("10000") - hold
    # the price falls 3 % within 10 minutes and holds there
    get(exchange, "/_replay/price_script", "POST", {"pair": "BTC/USD", "duration_s": 600,
                                                    "to_multiplier": 0.97})
    clock.advance(150)  # -0.75 %: the ask is still above the limit
    order = client.ok("GET", f"{V3}/orders/historical/{order_id}")["order"]
    assert (order["status"], order["filled_size"]) == ("OPEN", "0")
    clock.advance(1050)
    order = client.ok("GET", f"{V3}/orders/historical/{order_id}")["order"]
    # 2.5 BTC trade per 15 m candle; the order may take 1 %: a partial fill, at its price
    assert order["status"] == "OPEN" and D("0") < D(order["filled_size"]) < D("0.1")
    fills = client.ok("GET", f"{V3}/orders/historical/fills?order_id={order_id}")["fills"]
    assert {f["price"] for f in fills} == {limit} and {f["liquidity_indicator"] for f in fills} == {
        "MAKER"}
    assert D(fills[0]["commission"]) == D(fills[0]["size"]) * D(limit) * D("0.006")
    clock.advance(2 * 3600)
    order = client.ok("GET", f"{V3}/orders/historical/{order_id}")["order"]
    assert order["status"] == "FILLED" and order["filled_size"] == "0.1"
    assert client.balances()["USD"][1] == 0  # the hold is released


def test_cancel_results_for_open_filled_cancelled_and_unknown_orders(
        exchange: ReplayExchange, keyset: KeySet) -> None:
    client = Client(exchange, keyset)
    price = exchange.market.price("BTC-USD", exchange.clock.now())
    resting = client.order("BTC-USD", "BUY", {"limit_limit_gtc": {
        "base_size": "0.01", "limit_price": f"{price * 0.5:.2f}"}}, "r")["order_id"]
    filled = client.order("BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "100"}},
                          "m")["order_id"]
    results = client.ok("POST", f"{V3}/orders/batch_cancel",
                        {"order_ids": [resting, filled, "nope"]})["results"]
    assert [(r["success"], r["failure_reason"]) for r in results] == [
        (True, "UNKNOWN_CANCEL_FAILURE_REASON"), (False, "ORDER_IS_FULLY_FILLED"),
        (False, "UNKNOWN_CANCEL_ORDER")]
    again = client.ok("POST", f"{V3}/orders/batch_cancel", {"order_ids": [resting]})
    assert again["results"][0]["failure_reason"] == "DUPLICATE_CANCEL_REQUEST"
    status = client.ok("GET", f"{V3}/orders/historical/batch?order_status=CANCELLED")
    assert [o["order_id"] for o in status["orders"]] == [resting]


@pytest.mark.parametrize(("config", "side", "preview", "error"), [
    ({"market_market_ioc": {"quote_size": "20000"}}, "BUY", "PREVIEW_INSUFFICIENT_FUND",
     "INSUFFICIENT_FUND"),
    ({"market_market_ioc": {"quote_size": "0.99"}}, "BUY", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
     "UNKNOWN_FAILURE_REASON"),
    ({"limit_limit_gtc": {"base_size": "0.001", "limit_price": "100.001"}}, "BUY",
     "PREVIEW_INVALID_PRICE_PRECISION", "INVALID_PRICE_PRECISION"),
    ({"market_market_ioc": {"base_size": "0.1"}}, "SELL", "PREVIEW_INSUFFICIENT_FUND",
     "INSUFFICIENT_FUND"),
    ({"stop_limit_stop_limit_gtc": {"base_size": "1", "limit_price": "1", "stop_price": "1"}},
     "BUY", "PREVIEW_INVALID_ORDER_CONFIG", "UNSUPPORTED_ORDER_CONFIGURATION"),
])
def test_rejected_orders_answer_200_with_coinbases_error_response(
        exchange: ReplayExchange, keyset: KeySet, config: dict[str, Any], side: str,
        preview: str, error: str) -> None:
    answer = Client(exchange, keyset).order("BTC-USD", side, config, "x")
    assert answer["success"] is False and answer["order_id"] == ""
    assert answer["error_response"]["preview_failure_reason"] == preview
    assert answer["error_response"]["error"] == error
    assert answer["order_configuration"] == config
    assert exchange.brokerage.orders == {}


def test_unknown_product_and_bad_requests(exchange: ReplayExchange, keyset: KeySet) -> None:
    client = Client(exchange, keyset)
    answer = client.order("NOPE-USD", "BUY", {"market_market_ioc": {"quote_size": "10"}}, "u")
    assert answer["error_response"]["new_order_failure_reason"] == "INVALID_PRODUCT_ID"
    status, body = client.call("POST", f"{V3}/orders", {"product_id": "BTC-USD"})
    assert status == 400 and body["error"] == "INVALID_ARGUMENT"
    status, body = client.call("GET", f"{V3}/orders/historical/no-such-order")
    assert status == 404 and "orderID was not found" in body["message"]


def test_ambiguous_create_is_carried_out_and_a_retry_does_not_duplicate(
        exchange: ReplayExchange, keyset: KeySet) -> None:
    client = Client(exchange, keyset)
    get(exchange, "/_replay/faults", "POST", {"kind": "http_5xx", "endpoint": "create_order",
                                              "after_accept": True, "max_hits": 1})
    body = {"client_order_id": "amb", "product_id": "BTC-USD", "side": "BUY",
            "order_configuration": {"market_market_ioc": {"quote_size": "100"}}}
    status, _ = client.call("POST", f"{V3}/orders", body)
    assert status == 503
    orders = client.ok("GET", f"{V3}/orders/historical/batch")["orders"]
    assert len(orders) == 1 and orders[0]["status"] == "FILLED"
    retried = client.ok("POST", f"{V3}/orders", body)
    assert retried["order_id"] == orders[0]["order_id"]
    assert len(client.ok("GET", f"{V3}/orders/historical/batch")["orders"]) == 1


def test_rate_limit_and_timeout_on_order_endpoints(exchange: ReplayExchange,
                                                   keyset: KeySet) -> None:
    client = Client(exchange, keyset)
    get(exchange, "/_replay/faults", "POST", [
        {"kind": "rate_limit_429", "endpoint": "create_order", "max_hits": 1},
        {"kind": "rate_limit_429", "endpoint": "cancel_orders", "max_hits": 1}])
    body = {"client_order_id": "rl", "product_id": "BTC-USD", "side": "BUY",
            "order_configuration": {"market_market_ioc": {"quote_size": "100"}}}
    assert client.call("POST", f"{V3}/orders", body)[0] == 429
    assert exchange.brokerage.orders == {}  # refused before it was accepted
    assert client.call("POST", f"{V3}/orders/batch_cancel", {"order_ids": ["x"]})[0] == 429
    get(exchange, "/_replay/faults", "POST", {"kind": "timeout", "endpoint": "create_order",
                                              "hang_s": 5, "max_hits": 1})
    headers = sign(keyset, "acct-1", "POST", f"{V3}/orders", exchange.clock.now())
    response = exchange.handle("POST", f"{V3}/orders", json.dumps(body).encode(), headers)
    assert response.hang_s == 5 and len(exchange.brokerage.orders) == 1  # accepted, then hung


def test_fill_on_cancel_and_partial_fill_faults(exchange: ReplayExchange,
                                                keyset: KeySet) -> None:
    client = Client(exchange, keyset)
    price = exchange.market.price("BTC-USD", exchange.clock.now())
    config = {"limit_limit_gtc": {"base_size": "0.02", "limit_price": f"{price * 0.9:.2f}"}}
    first = client.order("BTC-USD", "BUY", config, "a")["order_id"]
    second = client.order("BTC-USD", "BUY", config, "b")["order_id"]
    get(exchange, "/_replay/faults", "POST", {"kind": "fill_on_cancel", "max_hits": 1})
    result = client.ok("POST", f"{V3}/orders/batch_cancel", {"order_ids": [first]})["results"]
    assert result[0]["failure_reason"] == "ORDER_IS_FULLY_FILLED"
    get(exchange, "/_replay/faults", "POST", {"kind": "fill_on_cancel", "fraction": 0.5,
                                              "max_hits": 1})
    result = client.ok("POST", f"{V3}/orders/batch_cancel", {"order_ids": [second]})["results"]
    assert result[0]["success"] is True
    order = client.ok("GET", f"{V3}/orders/historical/{second}")["order"]
    assert (order["status"], order["filled_size"]) == ("CANCELLED", "0.01")
    get(exchange, "/_replay/faults", "POST", {"kind": "partial_fill", "fraction": 0.25,
                                              "max_hits": 1})
    market = client.order("BTC-USD", "SELL", {"market_market_ioc": {"base_size": "0.02"}}, "s")
    order = client.ok("GET", f"{V3}/orders/historical/{market['order_id']}")["order"]
    assert (order["status"], order["filled_size"]) == ("CANCELLED", "0.005")


def test_list_filters_paging_fee_tier_and_control_accounts(exchange: ReplayExchange,
                                                           keyset: KeySet) -> None:
    client = Client(exchange, keyset)
    assert client.ok("GET", f"{V3}/transaction_summary")["fee_tier"]["pricing_tier"] == (
        "Advanced 1")
    for i in range(3):
        client.order("ETH-USD", "BUY", {"market_market_ioc": {"quote_size": "400"}}, f"e{i}")
    client.order("BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "100"}}, "b0")
    summary = client.ok("GET", f"{V3}/transaction_summary")
    assert summary["fee_tier"]["pricing_tier"] == "Advanced 2"  # > $1,000 in 30 days
    eth = client.ok("GET", f"{V3}/orders/historical/batch?product_id=ETH-USD&limit=2")
    assert len(eth["orders"]) == 2 and eth["has_next"] is True
    rest = client.ok("GET", f"{V3}/orders/historical/batch?product_id=ETH-USD&limit=2"
                            f"&cursor={eth['cursor']}")
    assert len(rest["orders"]) == 1 and rest["has_next"] is False
    assert [o["client_order_id"] for o in eth["orders"] + rest["orders"]] == ["e2", "e1", "e0"]
    fills = client.ok("GET", f"{V3}/orders/historical/fills?product_id=BTC-USD")["fills"]
    assert {f["product_id"] for f in fills} == {"BTC-USD"}
    status, state = get(exchange, "/_replay/accounts", "POST",
                        {"acct": {"balances": {"USD": "50000"}}})
    assert status == 200 and state["reconcile"] == []
    assert state["accounts"]["acct"]["balances"]["USD"] == "50000"
    assert client.balances()["USD"][0] == D("50000")
    v2 = client.ok("GET", "/v2/accounts?limit=250")
    usd = next(a for a in v2["data"] if a["currency"]["code"] == "USD")
    assert usd["balance"] == {"amount": "50000.00", "currency": "USD"} and usd["type"] == "fiat"
