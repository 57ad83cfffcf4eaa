from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from tests.shipped import shipped_universe_rules

from trader247.core import volume
from trader247.core.universe import Reason
from trader247.core.volume import (
    NO_USD_PRICE,
    TickerSnapshot,
    UsdPriceIndex,
    UsdVolume,
    parse_amount,
    parse_price,
    ticker_from_ccxt,
)

BTC_USD = 60_000.0
SHIPPED = shipped_universe_rules()  # liquidity: of config/policy.yaml (pegged USDC/USDT, 100x)


def usd_volume(ticker: TickerSnapshot, price_of: Any, **changes: Any) -> UsdVolume:
    """``volume.usd_volume`` with the shipped liquidity settings, ``changes`` applied."""
    settings = {"pegged_quotes": SHIPPED.pegged_quotes, "source": SHIPPED.volume_source,
                "suspect_ratio": SHIPPED.suspect_ratio, **changes}
    return volume.usd_volume(ticker, price_of, **settings)


def build_usd_price_index(tickers: Any, pegged_quotes: Any = SHIPPED.pegged_quotes) -> UsdPriceIndex:
    return volume.build_usd_price_index(tickers, pegged_quotes)

# Coinbase's BTC-USD product as ccxt returns it (seed: production fixes 2025-11-15, fix 2).
SEED_BTC_CCXT: dict[str, Any] = {
    "symbol": "BTC/USD",
    "timestamp": None,
    "last": 95_250.0,
    "close": 95_250.0,
    "baseVolume": 5928.37,
    "quoteVolume": None,
    "info": {
        "product_id": "BTC-USD",
        "price": "95250",
        "volume_24h": "5928.37",
        "approximate_quote_24h_volume": "564677608",
    },
}


def snap(
    pair: str,
    last: float | None = None,
    quote_volume: float | None = None,
    base_volume: float | None = None,
    timestamp: float | None = None,
) -> TickerSnapshot:
    base, quote = pair.split("/")
    return TickerSnapshot(pair, base, quote, last, quote_volume, base_volume, timestamp)


# Exchanges hand over numbers as strings; the snapshot is typed float but must cope.
_STRINGS: Any = ("2.0", "2500000")
STRING_TICKER = TickerSnapshot("XRP/USD", "XRP", "USD", _STRINGS[0], None, _STRINGS[1])


def no_prices(_: str) -> float | None:
    return None


def btc_priced(currency: str) -> float | None:
    return {"BTC": BTC_USD, "ETH": 3_000.0}.get(currency)


def test_no_usd_price_spelling_matches_reason_enum() -> None:
    assert NO_USD_PRICE == Reason.NO_USD_PRICE


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("5928.37", 5928.37),
        (" 564677608 ", 564677608.0),
        (5928.37, 5928.37),
        (7, 7.0),
        (Decimal("1.5"), 1.5),
        (0, 0.0),
        ("0", 0.0),
        (None, None),
        ("", None),
        ("abc", None),
        ("1,000", None),  # ambiguous thousands separator: refuse rather than guess
        (float("nan"), None),
        ("nan", None),
        (float("inf"), None),
        (-1.0, None),
        ("-5", None),
        (True, None),
        ([1.0], None),
    ],
)
def test_parse_amount(raw: object, expected: float | None) -> None:
    assert parse_amount(raw) == expected


@pytest.mark.parametrize("raw, expected", [(0, None), ("0", None), ("95250", 95250.0), (-1, None)])
def test_parse_price_rejects_zero(raw: object, expected: float | None) -> None:
    assert parse_price(raw) == expected


@pytest.mark.parametrize(
    "ticker, price_of, usd, method",
    [
        pytest.param(
            snap("BTC/USD", 95_250.0, 564_677_608.0, 5928.37),
            no_prices,
            564_677_608.0,
            "quote_volume",
            id="usd-quote-as-is",
        ),
        pytest.param(
            snap("SOL/USDC", 150.0, 10_000_000.0, None),
            no_prices,
            10_000_000.0,
            "quote_volume",
            id="usdc-pegged-1to1",
        ),
        pytest.param(
            snap("BTC/USDT", 60_000.0, 40_000_000.0, None),
            no_prices,
            40_000_000.0,
            "quote_volume",
            id="usdt-pegged-1to1",
        ),
        pytest.param(
            snap("ETH/BTC", 0.05, 100.0, None),
            btc_priced,
            100.0 * BTC_USD,
            "quote_volume",
            id="btc-quote-times-btc-price",
        ),
        pytest.param(
            snap("DOGE/USD", 0.15, None, 300_000_000.0),
            no_prices,
            45_000_000.0,
            "base_times_last",
            id="missing-quote-base-x-last",
        ),
        pytest.param(
            snap("ETH/BTC", 0.05, None, 2_000.0),
            btc_priced,
            2_000.0 * 0.05 * BTC_USD,
            "base_times_last",
            id="base-x-last-x-btc",
        ),
        pytest.param(
            snap("DOGE/USD", 0.15, float("nan"), 300_000_000.0),
            no_prices,
            45_000_000.0,
            "base_times_last",
            id="nan-quote-falls-back",
        ),
        pytest.param(
            snap("DOGE/USD", 0.15, -5.0, 300_000_000.0),
            no_prices,
            45_000_000.0,
            "base_times_last",
            id="negative-quote-falls-back",
        ),
        pytest.param(
            STRING_TICKER, no_prices, 5_000_000.0, "base_times_last", id="numeric-strings"
        ),
        pytest.param(
            snap("XRP/USD", 2.0, 0.0, 0.0),
            no_prices,
            0.0,
            "quote_volume",
            id="zero-volume-is-zero-dollars",
        ),
    ],
)
def test_usd_volume_methods(ticker: TickerSnapshot, price_of: Any, usd: float, method: str) -> None:
    result = usd_volume(ticker, price_of)
    assert result.usd == pytest.approx(usd, rel=1e-12)
    assert result.method == method
    assert result.reason is None


@pytest.mark.parametrize(
    "ticker, price_of",
    [
        pytest.param(snap("BTC/USD", 95_250.0, None, None), no_prices, id="both-missing"),
        pytest.param(snap("BTC/USD", None, None, 5928.37), no_prices, id="no-last"),
        pytest.param(snap("BTC/USD", 0.0, None, 5928.37), no_prices, id="zero-last"),
        pytest.param(snap("BTC/USD", float("nan"), None, 5928.37), no_prices, id="nan-last"),
        pytest.param(snap("ETH/BTC", 0.05, 100.0, 2000.0), no_prices, id="quote-unpriced"),
        pytest.param(snap("ETH/BTC", 0.05, 100.0, 2000.0), lambda _: 0.0, id="quote-price-zero"),
        pytest.param(snap("ETH/EUR", 2800.0, 1e6, None), btc_priced, id="unknown-quote"),
    ],
)
def test_usd_volume_unpriceable(ticker: TickerSnapshot, price_of: Any) -> None:
    result = usd_volume(ticker, price_of)
    assert result.usd is None
    assert result.reason == NO_USD_PRICE
    assert result.method == "none"


def test_seed_btc_base_units_never_read_as_dollars() -> None:
    ticker = ticker_from_ccxt("BTC/USD", SEED_BTC_CCXT, {"base": "BTC", "quote": "USD"})
    result = usd_volume(ticker, no_prices)
    assert result.usd == 564_677_608.0
    assert not result.suspect  # 5928.37 BTC x 95250 = $564.7M: both figures agree

    # Even when only the base-unit figure is available, it is priced, not taken as dollars.
    base_only = usd_volume(ticker, no_prices, source="base_times_price")
    assert base_only.usd == pytest.approx(5928.37 * 95_250.0)
    assert base_only.usd != 5928.37


# base x last = 100 x 10_000 = 1_000_000 in every row; only the quote volume moves.
@pytest.mark.parametrize(
    "quote_volume, suspect",
    [
        (100_000_000.0, False),  # exactly 100x: still plausible
        (100_000_001.0, True),  # just over 100x
        (10_000.0, False),  # exactly 1/100x
        (9_999.99, True),  # base units sitting in the quote field: the original bug
        (1_000_000.0, False),
        (0.0, True),  # zero against a real base x last is infinitely off
    ],
)
def test_suspect_ratio_boundary(quote_volume: float, suspect: bool) -> None:
    result = usd_volume(snap("AAA/USD", 10_000.0, quote_volume, 100.0), no_prices)
    assert result.suspect is suspect
    assert result.usd == quote_volume  # suspect is a flag, not a different answer
    assert ("suspect:" in result.detail) is suspect


def test_suspect_needs_both_figures_and_respects_custom_ratio() -> None:
    assert not usd_volume(snap("AAA/USD", 10_000.0, 1e12, None), no_prices).suspect
    assert not usd_volume(snap("AAA/USD", 1.0, 0.0, 0.0), no_prices).suspect
    t = snap("AAA/USD", 1.0, 11.0, 1.0)
    assert usd_volume(t, no_prices, suspect_ratio=10.0).suspect
    assert not usd_volume(t, no_prices, suspect_ratio=11.0).suspect


@pytest.mark.parametrize(
    "source, ticker, usd, reason",
    [
        ("quote", snap("XRP/USD", 2.0, 80e6, 50e6), 80e6, None),
        ("quote", snap("XRP/USD", 2.0, None, 50e6), None, NO_USD_PRICE),
        ("base_times_price", snap("XRP/USD", 2.0, 80e6, 50e6), 100e6, None),
        ("base_times_price", snap("XRP/USD", 2.0, 80e6, None), None, NO_USD_PRICE),
        ("quote_first", snap("XRP/USD", 2.0, 80e6, 50e6), 80e6, None),
    ],
)
def test_volume_source_switches(
    source: Any, ticker: TickerSnapshot, usd: float | None, reason: str | None
) -> None:
    result = usd_volume(ticker, no_prices, source=source)
    assert result.usd == usd
    assert result.reason == reason


def test_unknown_volume_source_is_an_error() -> None:
    with pytest.raises(ValueError, match="volume source"):
        bad: Any = "base"
        usd_volume(snap("XRP/USD", 2.0, 1.0, 1.0), no_prices, source=bad)


def test_pegged_quotes_are_configurable() -> None:
    t = snap("SOL/USDT", 150.0, 10e6, None)
    assert usd_volume(t, no_prices, pegged_quotes=frozenset({"USDC"})).usd is None
    assert (
        usd_volume(t, lambda c: 0.5 if c == "USDT" else None, pegged_quotes=frozenset({"USDC"})).usd
        == 5e6
    )


def test_price_index_prefers_usd_then_pegged_then_one_hop() -> None:
    index = build_usd_price_index(
        [
            snap("BTC/USDC", 60_100.0),
            snap("BTC/USD", 60_000.0),
            snap("ETH/USDT", 3_001.0),
            snap("SOL/BTC", 0.0025),
            snap("USDT/USD", 0.998),  # pegged means $1, whatever this says
            snap("ADA/USD", 0.0),  # zero price: unusable
            snap("DOGE/USD", None),
            snap("NEW/ZZZ", 5.0),  # quote not priceable: no entry
        ]
    )
    assert index("BTC") == 60_000.0
    assert index("btc") == 60_000.0
    assert index("ETH") == 3_001.0
    assert index("SOL") == pytest.approx(0.0025 * 60_000.0)
    assert index("USD") == 1.0
    assert index("USDT") == 1.0
    assert index("USDC") == 1.0
    assert index("ADA") is None
    assert index("DOGE") is None
    assert index("NEW") is None


def test_price_index_unpegged_currency_uses_its_market() -> None:
    index = build_usd_price_index({"USDT/USD": snap("USDT/USD", 0.998)}, pegged_quotes=["USDC"])
    assert index("USDT") == 0.998


def test_eth_btc_priced_from_same_ticker_batch() -> None:
    tickers = [snap("BTC/USD", BTC_USD, 500e6, None), snap("ETH/BTC", 0.05, 100.0, 2_000.0)]
    result = usd_volume(tickers[1], build_usd_price_index(tickers))
    assert result.usd == pytest.approx(6_000_000.0)


@pytest.mark.parametrize(
    "ccxt_ticker, expected",
    [
        pytest.param(SEED_BTC_CCXT, (95_250.0, 564_677_608.0, 5928.37, None), id="seed-coinbase"),
        pytest.param(
            {
                "last": 2.0,
                "quoteVolume": 80e6,
                "baseVolume": 40e6,
                "info": {"approximate_quote_24h_volume": "81000000"},
            },
            (2.0, 81e6, 40e6, None),
            id="info-field-beats-ccxt-quoteVolume",
        ),
        pytest.param(
            {
                "last": 2.0,
                "quoteVolume": 80e6,
                "baseVolume": None,
                "info": {"approximate_quote_24h_volume": "", "volume_24h": "40000000"},
            },
            (2.0, 80e6, 40e6, None),
            id="empty-info-falls-through",
        ),
        pytest.param(
            {"last": None, "close": 3.0, "info": {"price": "4"}},
            (3.0, None, None, None),
            id="close-when-no-last",
        ),
        pytest.param(
            {"last": "0", "info": {"price": "4"}},
            (4.0, None, None, None),
            id="info-price-when-last-zero",
        ),
        pytest.param(
            {"last": 1.0, "timestamp": 1_700_000_000_000, "info": None},
            (1.0, None, None, 1_700_000_000.0),
            id="timestamp-ms-to-s",
        ),
        pytest.param(
            {"last": 1.0, "datetime": "2023-11-14T22:13:20Z"},
            (1.0, None, None, 1_700_000_000.0),
            id="datetime-fallback",
        ),
        pytest.param(
            {"last": 1.0, "datetime": "2023-11-14T22:13:20"},
            (1.0, None, None, 1_700_000_000.0),
            id="naive-datetime-is-utc",
        ),
        pytest.param(
            {"last": 1.0, "datetime": "yesterday"}, (1.0, None, None, None), id="bad-datetime"
        ),
    ],
)
def test_ticker_from_ccxt(ccxt_ticker: dict[str, Any], expected: tuple[float | None, ...]) -> None:
    t = ticker_from_ccxt("BTC/USD", ccxt_ticker, None)
    assert (t.last, t.quote_volume, t.base_volume, t.timestamp) == expected
    assert (t.pair, t.base, t.quote) == ("BTC/USD", "BTC", "USD")


def test_ticker_from_ccxt_uses_market_currencies_and_normalises_pair() -> None:
    t = ticker_from_ccxt("eth-btc", {"last": 0.05}, {"base": "eth", "quote": "btc"})
    assert (t.pair, t.base, t.quote) == ("ETH/BTC", "ETH", "BTC")
    fallback = ticker_from_ccxt("ETH/BTC", {"last": 0.05}, {"base": None})
    assert (fallback.base, fallback.quote) == ("ETH", "BTC")


def test_detail_keeps_cents() -> None:
    result = usd_volume(snap("XRP/USD", 2.0, 4_999_999.99, None), no_prices)
    assert "quote_volume=4999999.99" in result.detail
    assert math.isclose(result.usd or 0.0, 4_999_999.99)
