"""The matching engine's pure decisions: sweeps, resting fills, fee tiers, pre-trade checks."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trader247.replay.engine import (
    Level,
    Segment,
    Side,
    crossed_volume,
    fee_tier,
    resting_fill,
    sweep,
)
from trader247.replay.orders import Balances, OrderRequest, ProductSpec, immediate_fills, validate

ASKS = [Level(D("100.00"), D("1")), Level(D("100.01"), D("2")), Level(D("100.05"), D("5"))]
BIDS = [Level(D("99.99"), D("1")), Level(D("99.98"), D("2")), Level(D("99.90"), D("5"))]
SPEC = ProductSpec("X-USD", "X", "USD", base_increment=D("0.001"), quote_increment=D("0.01"),
                   base_min_size=D("0.001"), base_max_size=D("1000"), quote_min_size=D("1"),
                   quote_max_size=D("1000000"))
TAKER = D("0.012")


@pytest.mark.parametrize(("volume", "tier", "taker", "maker"), [
    ("0", "Advanced 1", "0.012", "0.006"),
    ("999.99", "Advanced 1", "0.012", "0.006"),
    ("1000", "Advanced 2", "0.0075", "0.0035"),
    ("9999.99", "Advanced 2", "0.0075", "0.0035"),
    ("10000", "Advanced 3", "0.004", "0.0025"),
    ("1000000", "VIP 3", "0.0018", "0.0008"),
    ("400000000", "VIP 7", "0.0005", "0"),
])
def test_fee_tier_boundaries(volume: str, tier: str, taker: str, maker: str) -> None:
    found = fee_tier(D(volume))
    assert (found.pricing_tier, found.taker, found.maker) == (tier, D(taker), D(maker))


def test_base_sized_sweep_fills_across_levels_and_slips() -> None:
    fills = sweep(Side.BUY, ASKS, base_increment=D("0.001"), fee_rate=TAKER, base_size=D("2.5"))
    assert [(f.price, f.size) for f in fills] == [(D("100.00"), D("1")), (D("100.01"), D("1.5"))]
    sells = sweep(Side.SELL, BIDS, base_increment=D("0.001"), fee_rate=TAKER, base_size=D("4"))
    assert [(f.price, f.size) for f in sells] == [
        (D("99.99"), D("1")), (D("99.98"), D("2")), (D("99.90"), D("1"))]


def test_sweep_stops_at_the_limit_and_at_the_end_of_the_book() -> None:
    limited = sweep(Side.BUY, ASKS, base_increment=D("0.001"), fee_rate=TAKER,
                    base_size=D("10"), limit_price=D("100.01"))
    assert sum(f.size for f in limited) == D("3")  # 100.05 is beyond the limit
    exhausted = sweep(Side.BUY, ASKS, base_increment=D("0.001"), fee_rate=TAKER,
                      base_size=D("100"))
    assert sum(f.size for f in exhausted) == D("8")


@pytest.mark.parametrize("budget", ["100", "150", "251.37", "1"])
def test_quote_sized_buy_spends_at_most_its_budget_including_fees(budget: str) -> None:
    fills = sweep(Side.BUY, ASKS, base_increment=D("0.001"), fee_rate=TAKER,
                  quote_budget=D(budget))
    spent = sum(f.value for f in fills) * (1 + TAKER)
    assert spent <= D(budget)
    # what is left would not buy one more increment, even at the book's worst price
    assert D(budget) - spent < D("0.001") * ASKS[-1].price * (1 + TAKER)


@pytest.mark.parametrize(("p0", "p1", "threshold", "side", "expected"), [
    (100.0, 101.0, 99.0, Side.BUY, 0.0),  # never at or below the buy's threshold
    (100.0, 98.0, 101.0, Side.BUY, 10.0),  # always through
    (100.0, 98.0, 99.0, Side.BUY, 5.0),  # through for the second half
    (98.0, 100.0, 99.0, Side.BUY, 5.0),  # through for the first half
    (100.0, 102.0, 101.0, Side.SELL, 5.0),
    (100.0, 100.0, 100.0, Side.SELL, 10.0),  # exactly at the limit counts
])
def test_crossed_volume_is_the_time_share_through_the_threshold(
        p0: float, p1: float, threshold: float, side: Side, expected: float) -> None:
    assert crossed_volume([Segment(p0, p1, 10.0)], side, threshold) == pytest.approx(expected)


def test_resting_fill_takes_a_share_and_carries_the_remainder() -> None:
    size, credit = resting_fill(D("1"), D("0"), 4.0, D("0.1"), D("0.001"))
    assert (size, credit) == (D("0.4"), D("0"))
    size, credit = resting_fill(D("1"), D("0"), 0.0125, D("0.1"), D("0.001"))
    assert size == D("0.001") and credit == D("0.00025")  # 0.00125: one increment + a rest
    size, credit = resting_fill(D("0.5"), D("0"), 100.0, D("0.1"), D("0.001"))
    assert (size, credit) == (D("0.5"), D("0"))  # never more than the order's remainder


def request(**fields: object) -> OrderRequest:
    base: dict[str, object] = {"client_order_id": "c1", "product_id": "X-USD",
                               "side": Side.BUY, "config_key": "limit_limit_gtc",
                               "configuration": {}, "base_size": D("1"),
                               "limit_price": D("99.00")}
    base.update(fields)
    return OrderRequest(**base)  # type: ignore[arg-type]


RICH = Balances(base=D("1000"), quote=D("1000000"))


@pytest.mark.parametrize(("fields", "free", "preview"), [
    ({}, RICH, None),
    ({"limit_price": D("99.001")}, RICH, "PREVIEW_INVALID_PRICE_PRECISION"),
    ({"base_size": D("1.0001")}, RICH, "PREVIEW_INVALID_SIZE_PRECISION"),
    # notional exactly the 1 USD minimum passes, one cent less does not
    ({"base_size": D("0.01"), "limit_price": D("100.00")}, RICH, None),
    ({"base_size": D("0.01"), "limit_price": D("99.99")}, RICH,
     "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
    ({"base_size": D("2000")}, RICH, "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"),
    # funds: exactly the worst cost (size x price x (1 + taker)) passes, a cent less fails
    ({}, Balances(quote=D("100.188")), None),
    ({}, Balances(quote=D("100.178")), "PREVIEW_INSUFFICIENT_FUND"),
    ({"side": Side.SELL, "limit_price": D("101.00")}, Balances(base=D("0.999")),
     "PREVIEW_INSUFFICIENT_FUND"),
    ({"post_only": True, "limit_price": D("100.00")}, RICH,
     "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"),
    ({"config_key": "market_market_ioc", "base_size": None, "quote_size": D("0.99"),
      "limit_price": None}, RICH, "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
])
def test_pre_trade_checks(fields: dict[str, object], free: Balances,
                          preview: str | None) -> None:
    req = request(**fields)
    opposite = ASKS if req.side is Side.BUY else BIDS
    rejection = validate(req, SPEC, opposite, free, TAKER)
    assert (rejection.preview if rejection else None) == preview


def test_rejections_carry_coinbase_error_codes() -> None:
    funds = validate(request(), SPEC, ASKS, Balances(), TAKER)
    assert funds is not None and (funds.error, funds.message) == (
        "INSUFFICIENT_FUND", "Insufficient balance in source account")
    unknown = validate(request(), None, ASKS, RICH, TAKER)
    assert unknown is not None and unknown.new_order == "INVALID_PRODUCT_ID"
    disabled = validate(request(), ProductSpec(**{**SPEC.__dict__, "trading_disabled": True}),
                        ASKS, RICH, TAKER)
    assert disabled is not None and disabled.new_order == "ORDER_ENTRY_DISABLED"


def test_immediate_fills_for_limit_fok_post_only_and_partial_caps() -> None:
    marketable = request(limit_price=D("100.01"), base_size=D("5"))
    assert sum(f.size for f in immediate_fills(marketable, ASKS, D("0.001"), TAKER)) == D("3")
    fok = request(config_key="limit_limit_fok", limit_price=D("100.01"), base_size=D("5"))
    assert immediate_fills(fok, ASKS, D("0.001"), TAKER) == []
    post = request(post_only=True, limit_price=D("100.01"))
    assert immediate_fills(post, ASKS, D("0.001"), TAKER) == []
    market = request(config_key="market_market_ioc", limit_price=None, base_size=D("2"))
    half = immediate_fills(market, ASKS, D("0.001"), TAKER, max_fraction=D("0.5"))
    assert sum(f.size for f in half) == D("1")
