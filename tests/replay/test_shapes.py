"""Every endpoint the replay serves answers with the field names and JSON types of Coinbase's
real, recorded answers (``fixtures/coinbase_recorded_shapes.json``, with its provenance).

Not recorded anywhere we know of, so not compared: ``/v2/prices/*``, ``/v2/exchange-rates``,
``key_permissions``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.replay.conftest import KeySet, get, sign
from trader247.replay.api import ReplayExchange

RECORDED = json.loads((Path(__file__).parent / "fixtures" /
                       "coinbase_recorded_shapes.json").read_text())["endpoints"]
V3 = "/api/v3/brokerage"
JSON_TYPES = {str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}


def mismatches(recorded: Any, ours: Any, path: str = "") -> list[str]:
    if recorded == "null":  # the recording held null: its type is unknown
        return []
    if recorded == "object":
        return [] if isinstance(ours, dict) else [f"{path}: expected an object"]
    if isinstance(recorded, dict):
        if not isinstance(ours, dict):
            return [f"{path}: expected an object, got {type(ours).__name__}"]
        required = {k for k in recorded if not k.startswith("?")}
        optional = {k[1:] for k in recorded if k.startswith("?")}
        problems = [f"{path}.{k}: missing" for k in sorted(required - set(ours))]
        problems += [f"{path}.{k}: not in Coinbase's answer" for k in sorted(
            set(ours) - required - optional)]
        for key, value in recorded.items():
            name = key.lstrip("?")
            if name in ours:
                problems += mismatches(value, ours[name], f"{path}.{name}")
        return problems
    if isinstance(recorded, list):
        if not isinstance(ours, list):
            return [f"{path}: expected a list"]
        if recorded and ours:
            return [p for item in ours for p in mismatches(recorded[0], item, f"{path}[]")]
        return []
    found = JSON_TYPES[type(ours)]
    return [] if found in recorded.split("|") else [f"{path}: {found}, Coinbase sends {recorded}"]


def test_the_comparison_catches_names_and_types() -> None:
    shape = {"a": "string", "?b": "number", "c": ["boolean"], "d": "string|null"}
    assert mismatches(shape, {"a": "x", "c": [True], "d": None}) == []
    assert mismatches(shape, {"a": 1, "c": [True], "d": "x"}) == [
        ".a: number, Coinbase sends string"]
    assert mismatches(shape, {"a": "x", "c": ["no"], "d": "", "e": 1}) == [
        ".e: not in Coinbase's answer", ".c[]: string, Coinbase sends boolean"]
    assert mismatches(shape, {"c": []}) == [".a: missing", ".d: missing"]


@pytest.fixture
def answers(make_exchange: Callable[..., ReplayExchange], keyset: KeySet) -> dict[str, Any]:
    """One answer of every endpoint, from an account with a filled and a resting order."""
    exchange = make_exchange(keys=keyset.ring)
    now = exchange.clock.now()

    def private(method: str, path: str, body: Any = None) -> Any:
        status, data = get(exchange, path, method, body,
                           sign(keyset, "acct-1", method, path.split("?")[0], now))
        assert status == 200, data
        return data

    def public(path: str) -> Any:
        status, data = get(exchange, path)
        assert status == 200, data
        return data

    def order(cid: str, config: dict[str, Any]) -> Any:
        return private("POST", f"{V3}/orders", {"client_order_id": cid, "product_id": "BTC-USD",
                                                "side": "BUY", "order_configuration": config})

    price = exchange.market.price("BTC-USD", now) or 0.0
    filled = order("m", {"market_market_ioc": {"quote_size": "100"}})
    resting = order("r", {"limit_limit_gtc": {"base_size": "0.001",
                                             "limit_price": f"{price * 0.5:.2f}"}})
    return {
        "products": public(f"{V3}/market/products"),
        "product": public(f"{V3}/market/products/BTC-USD"),
        "candles": public(f"{V3}/market/products/BTC-USD/candles?granularity=ONE_HOUR"
                          f"&start={int(now) - 36000}&end={int(now)}"),
        "ticker": public(f"{V3}/market/products/BTC-USD/ticker?limit=3"),
        "product_book": public(f"{V3}/market/product_book?product_id=BTC-USD&limit=5"),
        "best_bid_ask": private("GET", f"{V3}/best_bid_ask?product_ids=BTC-USD"),
        "time_v2": public("/v2/time"),
        "time_v3": public(f"{V3}/time"),
        "currencies_fiat": public("/v2/currencies"),
        "currencies_crypto": public("/v2/currencies/crypto"),
        "accounts_v2": private("GET", "/v2/accounts?limit=250"),
        "accounts_v3": private("GET", f"{V3}/accounts?limit=250"),
        "transaction_summary": private("GET", f"{V3}/transaction_summary"),
        "create_order": filled,
        "create_order_failure": order("f", {"market_market_ioc": {"quote_size": "99999"}}),
        "order": private("GET", f"{V3}/orders/historical/{filled['order_id']}"),
        "orders": private("GET", f"{V3}/orders/historical/batch"),
        "fills": private("GET", f"{V3}/orders/historical/fills"),
        "batch_cancel": private("POST", f"{V3}/orders/batch_cancel",
                                {"order_ids": [resting["order_id"]]}),
    }


def recorded(name: str) -> Any:
    if name == "product":
        return RECORDED["products"]["shape"]["products"][0]
    if name == "order":
        return {"order": RECORDED["orders"]["shape"]["orders"][0]}
    return RECORDED[name]["shape"]


ENDPOINTS = [*RECORDED, "product", "order"]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_answers_have_coinbases_field_names_and_types(answers: dict[str, Any],
                                                      name: str) -> None:
    assert answers[name], name
    assert mismatches(recorded(name), answers[name], name) == []
