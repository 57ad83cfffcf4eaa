from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping

import numpy as np
import pytest
from tests.shipped import shipped_universe_rules

from trader247.core.universe import (
    MarketInfo,
    PairDecision,
    Reason,
    TierRule,
    UniverseResult,
    UniverseRules,
    UniverseState,
    evaluate_universe,
    exit_floor,
    format_force_eligible_line,
    format_usd,
    market_from_ccxt,
    tier_of,
)
from trader247.core.universe_series import eligible_series, rolling_usd_volume
from trader247.core.volume import TickerSnapshot, VolumeSource, ticker_from_ccxt

NOW = 1_700_000_000.0
MAX_TICKER_AGE_S = 300.0  # TieredLiquidityPairList's default max_ticker_age_s
NONE: frozenset[str] = frozenset()
CORE = frozenset({"BTC-USD", "ETH-USD", "SOL-USD"})
TIER_2 = frozenset(
    f"{b}-USD" for b in ["ADA", "XRP", "DOGE", "AVAX", "LINK", "LTC", "DOT", "POL", "NEAR", "ATOM"]
)
TIER_3 = frozenset(f"{b}-USD" for b in ["UNI", "XLM", "AAVE", "ICP", "FIL", "GRT", "ALGO", "SUI"])


# The rules under test are the shipped ones (config/policy.yaml + config/universe.yaml after
# the 2025-11-15 fixes), built through the config models: tests.shipped.
production_rules = shipped_universe_rules


def test_the_shipped_rules_are_the_fixed_production_rules(universe_rules: UniverseRules) -> None:
    rules = universe_rules
    assert [(t.name, t.symbols, t.floor_usd, t.force_eligible) for t in rules.tiers] == [
        ("tier_1_core", to_pairs(CORE), 10_000_000, to_pairs(CORE)),
        ("tier_2_rotational", to_pairs(TIER_2), 5_000_000, frozenset()),
        ("tier_3_event_driven", to_pairs(TIER_3), 2_000_000, frozenset()),
    ]
    assert (rules.global_floor_usd, rules.never_trade, rules.exit_band, rules.min_universe_size) \
        == (3_000_000, {"BONK/USD"}, 0.10, 7)


def to_pairs(symbols: Iterable[str]) -> frozenset[str]:
    return frozenset(s.replace("-", "/") for s in symbols)


def without_force(rules: UniverseRules, tier1_floor: float = 10_000_000) -> UniverseRules:
    tiers = (TierRule("tier_1_core", CORE, tier1_floor, frozenset()), *rules.tiers[1:])
    return dataclasses.replace(rules, tiers=tiers)


def quote_ticker(
    pair: str,
    usd: float | None,
    *,
    age_s: float | None = 0.0,
    last: float = 1.0,
    base_volume: float | None = None,
) -> TickerSnapshot:
    base, quote = pair.split("/")
    ts = None if age_s is None else NOW - age_s
    return TickerSnapshot(pair, base, quote, last, usd, base_volume, ts)


def market(pair: str, active: bool = True) -> MarketInfo:
    base, quote = pair.split("/")
    return MarketInfo(pair, base, quote, active)


def run(
    volumes: Mapping[str, float | None],
    rules: UniverseRules | None = None,
    previous: UniverseState | None = None,
    *,
    inactive: Iterable[str] = (),
    tickers: Mapping[str, TickerSnapshot] | None = None,
    now: float = NOW,
) -> UniverseResult:
    off = set(inactive)
    markets = [market(p, p not in off) for p in volumes]
    if tickers is None:
        tickers = {p: quote_ticker(p, v) for p, v in volumes.items()}
    return evaluate_universe(markets, tickers, rules or production_rules(), previous, max_ticker_age_s=MAX_TICKER_AGE_S, now=now)


def decision(result: UniverseResult, pair: str) -> PairDecision:
    return result.by_pair[pair]


# --------------------------------------------------------------------------- floors


@pytest.mark.parametrize(
    "pair, usd, eligible, reason",
    [
        ("BTC/USD", 10_000_000, True, Reason.ELIGIBLE),
        ("BTC/USD", 9_999_999.99, False, Reason.BELOW_TIER_FLOOR),
        ("XRP/USD", 5_000_000, True, Reason.ELIGIBLE),
        ("XRP/USD", 4_999_999.99, False, Reason.BELOW_TIER_FLOOR),
        ("UNI/USD", 2_000_000, True, Reason.ELIGIBLE),
        ("UNI/USD", 1_999_999.99, False, Reason.BELOW_TIER_FLOOR),
        ("SHIB/USD", 3_000_000, True, Reason.ELIGIBLE),
        ("SHIB/USD", 2_999_999.99, False, Reason.BELOW_GLOBAL_FLOOR),
        ("UNI/USD", 2_500_000, True, Reason.ELIGIBLE),  # tier floor replaces the global one
        ("XRP/USD", 4_000_000, False, Reason.BELOW_TIER_FLOOR),  # ...in both directions
    ],
)
def test_floor_boundaries(pair: str, usd: float, eligible: bool, reason: Reason) -> None:
    rules = without_force(production_rules())  # BTC must face its floor here
    d = decision(run({pair: usd}, rules), pair)
    assert (d.eligible, d.reason, d.usd_volume) == (eligible, reason, usd)


def test_decision_format_is_stable() -> None:
    d = decision(run({"XRP/USD": 4_999_999.99}), "XRP/USD")
    assert d.format() == (
        "BELOW_TIER_FLOOR: pair=XRP/USD tier=tier_2_rotational usd_volume=4999999.99 floor=5000000"
    )
    d = decision(run({"PEPE/USD": None, "BTC/USD": 1.0}), "PEPE/USD")
    assert d.format() == "NO_USD_PRICE: pair=PEPE/USD tier=none usd_volume=unknown floor=3000000"


def test_seed_btc_case_force_eligible_with_exact_log_line() -> None:
    ccxt_ticker = {
        "symbol": "BTC/USD",
        "last": 95_250.0,
        "baseVolume": 5928.37,
        "quoteVolume": None,
        "info": {"volume_24h": "5928.37", "approximate_quote_24h_volume": "564677608"},
    }
    btc = ticker_from_ccxt("BTC/USD", ccxt_ticker, {"base": "BTC", "quote": "USD"})
    result = run({"BTC/USD": None}, tickers={"BTC/USD": btc})
    d = decision(result, "BTC/USD")
    assert (d.eligible, d.reason, d.usd_volume) == (True, Reason.FORCE_ELIGIBLE, 564_677_608.0)
    assert d.format() == (
        "FORCE_ELIGIBLE: pair=BTC/USD tier=tier_1_core usd_volume=564677608 floor=10000000"
    )
    assert format_force_eligible_line(d) == (
        "✅ FORCE ELIGIBLE: BTC/USD bypasses liquidity checks "
        "(tier_1_core, usd_volume=$564.7M, floor=$10.0M)"
    )
    # Fix 2 alone (no force list) already makes BTC eligible on real USD volume.
    plain = run({"BTC/USD": None}, without_force(production_rules()), tickers={"BTC/USD": btc})
    assert decision(plain, "BTC/USD").reason is Reason.ELIGIBLE


def test_force_line_with_unknown_volume() -> None:
    d = decision(run({"BTC/USD": None, "XRP/USD": 80e6}), "BTC/USD")
    assert d.reason is Reason.FORCE_ELIGIBLE
    assert format_force_eligible_line(d) == (
        "✅ FORCE ELIGIBLE: BTC/USD bypasses liquidity checks "
        "(tier_1_core, usd_volume=unknown, floor=$10.0M)"
    )


@pytest.mark.parametrize(
    "amount, text",
    [
        (564_677_608, "$564.7M"),
        (10_000_000, "$10.0M"),
        (950_000, "$950.0K"),
        (2_000_000, "$2.0M"),
        (999_950, "$1.0M"),  # rounds up into the next unit, never "$1000.0K"
        (1_500_000_000, "$1.5B"),
        (12.5, "$12.50"),
        (None, "unknown"),
        (float("nan"), "unknown"),
    ],
)
def test_format_usd(amount: float | None, text: str) -> None:
    assert format_usd(amount) == text


# --------------------------------------------------------------------------- pricing paths


def test_missing_quote_volume_uses_base_times_price() -> None:
    doge = TickerSnapshot("DOGE/USD", "DOGE", "USD", 0.15, None, 300_000_000.0, NOW)
    d = decision(run({"DOGE/USD": None}, tickers={"DOGE/USD": doge}), "DOGE/USD")
    assert d.eligible
    assert d.usd_volume == pytest.approx(45_000_000.0)


def test_both_volumes_missing_is_no_usd_price() -> None:
    d = decision(run({"XRP/USD": None, "DOGE/USD": 45e6}), "XRP/USD")
    assert (d.eligible, d.reason, d.usd_volume) == (False, Reason.NO_USD_PRICE, None)


@pytest.mark.parametrize(
    "pair, quote_volume, with_btc_price, eligible, reason",
    [
        ("LINK/BTC", 100.0, True, True, Reason.ELIGIBLE),  # 100 BTC x $60k = $6M >= $3M global
        ("ADA/BTC", 15.0, True, False, Reason.BELOW_GLOBAL_FLOOR),  # $0.9M
        ("ADA/BTC", 15.0, False, False, Reason.NO_USD_PRICE),
        ("LINK/USDC", 10_000_000.0, False, True, Reason.ELIGIBLE),
        ("LINK/USDC", 2_999_999.99, False, False, Reason.BELOW_GLOBAL_FLOOR),  # not in a tier
    ],
)
def test_other_quotes(
    pair: str, quote_volume: float, with_btc_price: bool, eligible: bool, reason: Reason
) -> None:
    tickers = {pair: quote_ticker(pair, quote_volume)}
    if with_btc_price:  # priced from the batch, not a candidate itself
        tickers["BTC/USD"] = quote_ticker("BTC/USD", 500e6, last=60_000.0)
    d = decision(run({pair: quote_volume}, tickers=tickers), pair)
    assert (d.eligible, d.reason) == (eligible, reason)


@pytest.mark.parametrize("pair", ["ETH/BTC", "SOL/BTC", "BTC/USDC", "ETH/USDT"])
def test_force_eligible_assets_are_forced_whatever_the_quote(
    pair: str, universe_rules: UniverseRules
) -> None:
    # BTC-USD / ETH-USD / SOL-USD are force-eligible: the asset is, even with no USD price.
    assert universe_rules._classify(pair).forced
    d = decision(run({pair: 0.0}), pair)
    assert (d.eligible, d.reason) == (True, Reason.FORCE_ELIGIBLE)


def test_asset_not_force_eligible_on_another_quote_is_not_forced(
    universe_rules: UniverseRules
) -> None:
    assert not universe_rules._classify("ADA/BTC").forced
    assert not universe_rules._classify("XRP/USD").forced


def test_volume_suspect_is_flagged_on_the_decision() -> None:
    bad = TickerSnapshot("XRP/USD", "XRP", "USD", 2.0, 40_000.0, 40_000_000.0, NOW)
    result = run(
        {"XRP/USD": None, "DOGE/USD": 45e6},
        tickers={"XRP/USD": bad, "DOGE/USD": quote_ticker("DOGE/USD", 45e6)},
    )
    assert decision(result, "XRP/USD").volume_suspect
    assert result.suspect_pairs == ("XRP/USD",)


# --------------------------------------------------------------------------- static checks


def test_inactive_market_is_never_eligible_even_when_forced() -> None:
    result = run(
        {"BTC/USD": 600e6, "XRP/USD": 80e6, "DOGE/USD": 45e6}, inactive={"BTC/USD", "XRP/USD"}
    )
    btc, xrp = decision(result, "BTC/USD"), decision(result, "XRP/USD")
    assert (btc.eligible, btc.reason, btc.force_listed) == (False, Reason.INACTIVE_MARKET, True)
    assert (xrp.eligible, xrp.reason, xrp.force_listed) == (False, Reason.INACTIVE_MARKET, False)
    assert result.errors == ("FORCE_ELIGIBLE_INACTIVE: pair=BTC/USD tier=tier_1_core",)
    assert result.whitelist == ("DOGE/USD",)


@pytest.mark.parametrize(
    "exclude, eligible, reason",
    [(True, False, Reason.STABLECOIN), (False, True, Reason.ELIGIBLE)],
)
def test_stablecoin_base(exclude: bool, eligible: bool, reason: Reason) -> None:
    rules = production_rules(exclude_stablecoin_bases=exclude)
    d = decision(run({"USDT/USD": 50e6}, rules), "USDT/USD")
    assert (d.eligible, d.reason) == (eligible, reason)


@pytest.mark.parametrize("spelling", ["BONK-USD", "BONK/USD", "BONK", "bonk"])
def test_never_trade(spelling: str) -> None:
    rules = production_rules(never_trade=frozenset({spelling}))
    d = decision(run({"BONK/USD": 3.2e6}, rules), "BONK/USD")
    assert (d.eligible, d.reason) == (False, Reason.EXCLUDED)


def test_never_trade_beats_force() -> None:
    rules = production_rules(never_trade=frozenset({"BTC"}))
    d = decision(run({"BTC/USD": 600e6}, rules), "BTC/USD")
    assert (d.eligible, d.reason, d.force_listed) == (False, Reason.EXCLUDED, True)


def test_bare_base_rules_and_exact_pair_precedence() -> None:
    rules = production_rules(
        tiers=(
            TierRule(
                "wide", frozenset({"BTC", "ETH"}), 1_000_000, force_eligible=frozenset({"ETH"})
            ),
            TierRule("narrow", frozenset({"BTC-USD"}), 50_000_000, frozenset()),
        )
    )
    assert tier_of("BTC-USD", rules) is rules.tiers[1]  # exact pair wins over an earlier bare
    assert tier_of("BTC/USDC", rules) is rules.tiers[0]
    assert tier_of("ETH/BTC", rules) is rules.tiers[0]
    assert tier_of("DOGE/USD", rules) is None
    result = run({"BTC/USD": 40e6, "BTC/USDC": 1e6, "ETH/USDC": 0.0}, rules)
    assert decision(result, "BTC/USD").reason is Reason.BELOW_TIER_FLOOR
    assert decision(result, "BTC/USDC").reason is Reason.ELIGIBLE
    assert decision(result, "ETH/USDC").reason is Reason.FORCE_ELIGIBLE
    assert result.tiers == {"BTC/USD": "narrow", "BTC/USDC": "wide", "ETH/USDC": "wide"}


# --------------------------------------------------------------------------- hysteresis


@pytest.mark.parametrize(
    "pair, usd, was_eligible, eligible, reason",
    [
        ("XRP/USD", 4_999_999.99, False, False, Reason.BELOW_TIER_FLOOR),
        ("XRP/USD", 5_000_000, False, True, Reason.ELIGIBLE),
        ("XRP/USD", 4_800_000, False, False, Reason.BELOW_TIER_FLOOR),
        ("XRP/USD", 4_800_000, True, True, Reason.ELIGIBLE),
        ("XRP/USD", 4_500_000, True, True, Reason.ELIGIBLE),
        ("XRP/USD", 4_499_999.99, True, False, Reason.BELOW_TIER_FLOOR),
        ("BTC/USD", 9_000_000, True, True, Reason.ELIGIBLE),
        ("BTC/USD", 8_999_999.99, True, False, Reason.BELOW_TIER_FLOOR),
        ("SHIB/USD", 2_700_000, True, True, Reason.ELIGIBLE),
        ("SHIB/USD", 2_699_999.99, True, False, Reason.BELOW_GLOBAL_FLOOR),
    ],
)
def test_hysteresis(
    pair: str, usd: float, was_eligible: bool, eligible: bool, reason: Reason
) -> None:
    rules = without_force(production_rules())
    others = {"DOGE/USD": 45e6}
    previous = run({pair: 100e6 if was_eligible else 1.0, **others}, rules).state
    assert (pair in previous.eligible) is was_eligible
    d = decision(run({pair: usd, **others}, rules, previous), pair)
    assert (d.eligible, d.reason) == (eligible, reason)
    in_band = d.eligible and d.floor is not None and usd < d.floor
    assert ("within exit band" in d.detail) is in_band


def test_exit_floor_is_exact_cents() -> None:
    assert exit_floor(5_000_000, 0.1) == 4_500_000
    assert exit_floor(10_000_000, 0.1) == 9_000_000
    assert exit_floor(3_000_000, 0.0) == 3_000_000


# --------------------------------------------------------------------------- faults


def good_previous() -> UniverseState:
    result = run(
        {
            "BTC/USD": 600e6,
            "ETH/USD": 300e6,
            "SOL/USD": 100e6,
            "XRP/USD": 80e6,
            "DOGE/USD": 45e6,
            "UNI/USD": 3.5e6,
            "OP/USD": 1e6,
        },
        now=NOW - 300,
    )
    assert result.whitelist == ("BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "DOGE/USD", "UNI/USD")
    return result.state


PAIRS = ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "DOGE/USD", "UNI/USD", "OP/USD"]


@pytest.mark.parametrize(
    "name, tickers, reason",
    [
        ("empty", {}, "reason=no_tickers"),
        (
            "all-stale",
            {p: quote_ticker(p, 1.0, age_s=301) for p in PAIRS},
            "reason=tickers_stale fresh=0/7 max_age_s=300",
        ),
        (
            "most-missing",
            {p: quote_ticker(p, 1.0) for p in PAIRS[:3]},
            "reason=tickers_missing fresh=3/7 max_age_s=300",
        ),
        (
            "most-without-volume",  # the exchange dropped the volume fields: 3 of 7 keep them
            {p: quote_ticker(p, 50e6 if i < 3 else None) for i, p in enumerate(PAIRS)},
            "reason=tickers_without_volume without=4/7",
        ),
    ],
)
def test_faults_keep_previous_whitelist_and_force_pairs(
    name: str, tickers: dict[str, TickerSnapshot], reason: str
) -> None:
    previous = good_previous()
    result = evaluate_universe(
        [market(p) for p in PAIRS], tickers, production_rules(), previous, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW
    )
    assert result.kept
    assert result.whitelist == previous.whitelist
    assert result.warnings[0] == f"UNIVERSE_KEPT: {reason} kept=6"
    for pair in PAIRS:
        d = decision(result, pair)
        expected = Reason.FORCE_ELIGIBLE if d.force_listed else Reason.STALE_DATA
        assert d.reason is expected, pair
        assert d.eligible is (pair in previous.whitelist)
    assert result.state.last_good_at == previous.last_good_at == NOW - 300
    assert result.state.timestamp == NOW
    assert result.force_changes == ()


def test_a_minority_without_volume_is_judged_pair_by_pair() -> None:
    # 4 of 7 with volume is above the 50 % coverage: no fault, the 3 others are NO_USD_PRICE.
    previous = good_previous()
    tickers = {p: quote_ticker(p, 50e6 if i < 4 else None) for i, p in enumerate(PAIRS)}
    result = evaluate_universe(
        [market(p) for p in PAIRS], tickers, production_rules(), previous, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW
    )
    assert not result.kept
    without = [d for d in result.decisions if d.pair in PAIRS[4:] and not d.force_listed]
    assert without and {d.reason for d in without} == {Reason.NO_USD_PRICE}


def test_result_that_would_empty_the_universe_is_treated_as_a_fault() -> None:
    # The original units bug: every volume tiny. Without force pairs nothing would survive.
    previous = good_previous()
    tickers = {p: quote_ticker(p, 6_000.0) for p in PAIRS}
    result = evaluate_universe(
        [market(p) for p in PAIRS], tickers, without_force(production_rules()), previous, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW
    )
    assert result.kept
    assert result.whitelist == previous.whitelist
    assert result.warnings[0] == "UNIVERSE_KEPT: reason=empty_result kept=6"
    assert {d.reason for d in result.decisions} == {Reason.STALE_DATA}
    assert decision(result, "XRP/USD").usd_volume == 6_000.0  # still reported for diagnosis


def test_ticker_exactly_at_max_age_is_fresh() -> None:
    previous = good_previous()
    tickers = {p: quote_ticker(p, 100e6, age_s=300) for p in PAIRS}
    result = evaluate_universe(
        [market(p) for p in PAIRS], tickers, production_rules(), previous, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW
    )
    assert not result.kept
    assert decision(result, "OP/USD").reason is Reason.ELIGIBLE


def test_fault_without_previous_keeps_force_pairs_only() -> None:
    result = evaluate_universe([market(p) for p in PAIRS], {}, production_rules(), None, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW)
    assert result.whitelist == ("BTC/USD", "ETH/USD", "SOL/USD")
    assert result.warnings == (
        "UNIVERSE_KEPT: reason=no_tickers kept=3 previous=none",
        "UNIVERSE_SMALL: eligible=3 min=7",
    )
    assert result.state.last_good_at is None


def test_fault_drops_pairs_whose_market_went_inactive() -> None:
    previous = good_previous()
    markets = [market(p, active=p not in {"SOL/USD", "XRP/USD"}) for p in PAIRS]
    result = evaluate_universe(markets, {}, production_rules(), previous, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW)
    assert result.whitelist == ("BTC/USD", "ETH/USD", "DOGE/USD", "UNI/USD")
    assert result.errors == ("FORCE_ELIGIBLE_INACTIVE: pair=SOL/USD tier=tier_1_core",)
    assert result.force_changes == ("SOL/USD",)


def test_no_markets_keeps_previous_whitelist_as_is() -> None:
    previous = good_previous()
    result = evaluate_universe([], {}, production_rules(), previous, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW)
    assert result.whitelist == previous.whitelist
    assert result.warnings[0] == "UNIVERSE_KEPT: reason=no_markets kept=6"


def test_single_missing_or_stale_ticker_holds_that_pairs_state() -> None:
    previous = good_previous()
    tickers = {p: quote_ticker(p, 100e6) for p in PAIRS if p not in {"XRP/USD", "OP/USD"}}
    tickers["OP/USD"] = quote_ticker("OP/USD", 100e6, age_s=3_600)
    result = evaluate_universe(
        [market(p) for p in PAIRS], tickers, production_rules(), previous, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW
    )
    assert not result.kept
    xrp, op = decision(result, "XRP/USD"), decision(result, "OP/USD")
    assert (xrp.reason, xrp.eligible, xrp.detail) == (
        Reason.STALE_DATA,
        True,
        "ticker missing; holding previous eligibility",
    )
    assert (op.reason, op.eligible) == (Reason.STALE_DATA, False)
    assert "XRP/USD" in result.whitelist and "OP/USD" not in result.whitelist


def test_tickers_without_timestamps_count_as_fresh() -> None:
    tickers = {p: quote_ticker(p, 100e6, age_s=None) for p in PAIRS}
    result = evaluate_universe(
        [market(p) for p in PAIRS], tickers, production_rules(), None, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW
    )
    assert not result.kept and len(result.whitelist) == 7


# ------------------------------------------------------------------ force changes / rollback


def test_force_changes_reported_only_on_change() -> None:
    vols = {"BTC/USD": 600e6, "ETH/USD": 300e6, "SOL/USD": 100e6, "XRP/USD": 80e6}
    first = run(vols)
    assert first.force_changes == ("BTC/USD", "ETH/USD", "SOL/USD")
    second = run(vols, previous=first.state)
    assert second.force_changes == ()
    third = run(vols, previous=second.state, inactive={"SOL/USD"})
    assert third.force_changes == ("SOL/USD",)
    fourth = run(vols, previous=third.state)
    assert fourth.force_changes == ("SOL/USD",)
    rollback = run(vols, without_force(production_rules()), previous=fourth.state)
    assert rollback.force_changes == ("BTC/USD", "ETH/USD", "SOL/USD")
    assert rollback.whitelist == ("BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD")


@pytest.mark.parametrize(
    "rules, eligible, reason",
    [
        (without_force(production_rules(), tier1_floor=50_000_000), False, Reason.BELOW_TIER_FLOOR),
        (
            production_rules(
                tiers=(TierRule("tier_1_core", CORE, 50_000_000, force_eligible=CORE),)
            ),
            True,
            Reason.FORCE_ELIGIBLE,
        ),
        (without_force(production_rules()), True, Reason.ELIGIBLE),  # empty force list, 10M floor
    ],
    ids=["old-50M-floor-no-force", "old-50M-floor-with-force", "empty-force-list"],
)
def test_rollback_tier1(rules: UniverseRules, eligible: bool, reason: Reason) -> None:
    d = decision(run({"BTC/USD": 40e6, "XRP/USD": 80e6}, rules), "BTC/USD")
    assert (d.eligible, d.reason) == (eligible, reason)


@pytest.mark.parametrize(
    "source, eligible, usd",
    [("quote_first", True, 6e6), ("quote", True, 6e6), ("base_times_price", False, 4e6)],
)
def test_rollback_volume_source(source: VolumeSource, eligible: bool, usd: float) -> None:
    xrp = TickerSnapshot("XRP/USD", "XRP", "USD", 2.0, 6e6, 2e6, NOW)
    d = decision(
        run({"XRP/USD": None}, production_rules(volume_source=source), tickers={"XRP/USD": xrp}),
        "XRP/USD",
    )
    assert (d.eligible, d.usd_volume) == (eligible, usd)


def test_volume_source_quote_without_quote_volume_is_no_usd_price() -> None:
    xrp = TickerSnapshot("XRP/USD", "XRP", "USD", 2.0, None, 4e6, NOW)
    d = decision(
        run(
            {"XRP/USD": None, "DOGE/USD": 45e6},
            production_rules(volume_source="quote"),
            tickers={"XRP/USD": xrp, "DOGE/USD": quote_ticker("DOGE/USD", 45e6)},
        ),
        "XRP/USD",
    )
    assert d.reason is Reason.NO_USD_PRICE


# --------------------------------------------------------------------------- whole catalog


CATALOG_USD = {
    "BTC/USD": 565e6,
    "ETH/USD": 300e6,
    "SOL/USD": 90e6,
    "ADA/USD": 30e6,
    "XRP/USD": 80e6,
    "DOGE/USD": 45e6,
    "AVAX/USD": 20e6,
    "LINK/USD": 15e6,
    "LTC/USD": 12e6,
    "DOT/USD": 8e6,
    "POL/USD": 6e6,
    "NEAR/USD": 5.05e6,
    "ATOM/USD": 4.95e6,
    "UNI/USD": 3.5e6,
    "XLM/USD": 2.8e6,
    "AAVE/USD": 2.5e6,
    "ICP/USD": 2.2e6,
    "FIL/USD": 2.02e6,
    "GRT/USD": 1.98e6,
    "ALGO/USD": 1.2e6,
    "SUI/USD": 7e6,
    "SHIB/USD": 9e6,
    "BONK/USD": 3.2e6,
    "ARB/USD": 3.05e6,
    "OP/USD": 2.95e6,
    "PEPE/USD": 2.9e6,
    "HBAR/USD": 4e6,
    "INJ/USD": 3.4e6,
    "FET/USD": 1.5e6,
    "SEI/USD": 0.8e6,
    "USDT/USD": 50e6,
    "BTC/USDC": 40e6,
    "ETH/USDC": 25e6,
    "SOL/USDC": 10e6,
}


def test_pair_catalog_at_target_volumes() -> None:
    result = run(CATALOG_USD)
    assert result.whitelist == (
        "BTC/USD",
        "ETH/USD",
        "SOL/USD",
        "BTC/USDC",
        "ETH/USDC",
        "SOL/USDC",  # force-eligible by asset whatever the quote, by volume
        "XRP/USD",
        "DOGE/USD",
        "ADA/USD",
        "AVAX/USD",
        "LINK/USD",
        "LTC/USD",
        "SHIB/USD",
        "DOT/USD",
        "SUI/USD",
        "POL/USD",
        "NEAR/USD",
        "HBAR/USD",
        "UNI/USD",
        "INJ/USD",
        "ARB/USD",
        "XLM/USD",
        "AAVE/USD",
        "ICP/USD",
        "FIL/USD",
    )
    reasons = {d.pair: d.reason for d in result.decisions if not d.eligible}
    assert reasons == {
        "ATOM/USD": Reason.BELOW_TIER_FLOOR,
        "GRT/USD": Reason.BELOW_TIER_FLOOR,
        "ALGO/USD": Reason.BELOW_TIER_FLOOR,
        "OP/USD": Reason.BELOW_GLOBAL_FLOOR,
        "PEPE/USD": Reason.BELOW_GLOBAL_FLOOR,
        "FET/USD": Reason.BELOW_GLOBAL_FLOOR,
        "SEI/USD": Reason.BELOW_GLOBAL_FLOOR,
        "BONK/USD": Reason.EXCLUDED,
        "USDT/USD": Reason.STABLECOIN,
    }
    assert result.warnings == ()
    assert result.tiers["FIL/USD"] == "tier_3_event_driven" and "SHIB/USD" not in result.tiers


def test_universe_small_warning() -> None:
    result = run({"BTC/USD": 1.0, "XRP/USD": 80e6, "OP/USD": 1.0})
    assert result.whitelist == ("BTC/USD", "XRP/USD")
    assert result.warnings == ("UNIVERSE_SMALL: eligible=2 min=7",)


def test_large_universe_smoke() -> None:
    markets = [market(f"C{i}/USD") for i in range(800)]
    tickers = {m.pair: quote_ticker(m.pair, float(i) * 10_000) for i, m in enumerate(markets)}
    result = evaluate_universe(markets, tickers, production_rules(), None, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW)
    assert len(result.decisions) == 800
    assert result.whitelist[0] == "C799/USD" and len(result.whitelist) == 500


# --------------------------------------------------------------------------- state


def test_state_round_trips_through_json() -> None:
    state = run(CATALOG_USD).state
    restored = UniverseState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    assert restored.whitelist[:3] == ("BTC/USD", "ETH/USD", "SOL/USD")


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 2},
        {
            "version": 1,
            "eligible": "BTC/USD",
            "force_eligible": [],
            "whitelist": [],
            "timestamp": 1.0,
        },
        {"version": 1, "eligible": [], "force_eligible": [], "whitelist": [1], "timestamp": 1.0},
        {"version": 1, "eligible": [], "force_eligible": [], "whitelist": [], "timestamp": None},
        {
            "version": 1,
            "eligible": [],
            "force_eligible": [],
            "whitelist": [],
            "timestamp": 1.0,
            "last_good_at": "x",
        },
    ],
)
def test_state_from_dict_rejects_malformed(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="universe state"):
        UniverseState.from_dict(data)


# --------------------------------------------------------------------------- rule validation


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: TierRule("t", frozenset({"BTC-USD"}), 1.0, frozenset({"ETH-USD"})),
            "force_eligible symbol ETH/USD",
        ),
        (lambda: TierRule("t", "BTC-USD", 1.0, NONE), "collection of symbols"),  # type: ignore[arg-type]
        (lambda: TierRule("t", frozenset({"BTC-"}), 1.0, NONE), "invalid symbol"),
        (
            lambda: production_rules(
                tiers=(TierRule("a", frozenset(), 1, NONE), TierRule("a", frozenset(), 2, NONE))
            ),
            "duplicate tier names",
        ),
        (
            lambda: production_rules(
                tiers=(
                    TierRule("a", frozenset({"BTC-USD"}), 1, NONE),
                    TierRule("b", frozenset({"BTC/USD"}), 2, NONE),
                )
            ),
            "listed in tiers a and b",
        ),
    ],
)
def test_rules_validation(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_rules_normalise_spellings() -> None:
    tier = TierRule("t", frozenset({"btc-usd", "ETH"}), 1, force_eligible=frozenset({"BTC/USD"}))
    assert tier.symbols == {"BTC/USD", "ETH"} and tier.force_eligible == {"BTC/USD"}
    rules = production_rules(
        tiers=(tier,),
        never_trade=frozenset({"bonk-usd"}),
        pegged_quotes=frozenset({"usdc"}),
        stablecoins=frozenset({"dai"}),
    )
    assert rules.never_trade == {"BONK/USD"}
    assert rules.pegged_quotes == {"USDC"} and rules.stablecoins == {"DAI"}


@pytest.mark.parametrize(
    "ccxt_market, expected",
    [
        ({"symbol": "BTC/USD", "base": "BTC", "quote": "USD", "active": True}, True),
        ({"symbol": "BTC/USD", "base": "BTC", "quote": "USD", "active": None}, True),
        ({"symbol": "BTC/USD", "base": "BTC", "quote": "USD", "active": False}, False),
        ({"symbol": "BTC/USD", "base": "BTC", "quote": "USD"}, True),
    ],
)
def test_market_from_ccxt(ccxt_market: dict[str, object], expected: bool) -> None:
    assert market_from_ccxt(ccxt_market) == MarketInfo("BTC/USD", "BTC", "USD", expected)


def test_unrecognised_market_symbol_is_excluded_not_fatal() -> None:
    markets = [market("XRP/USD"), MarketInfo("BTC/USD:USD", "BTC", "USD", True)]
    result = evaluate_universe(
        markets, {"XRP/USD": quote_ticker("XRP/USD", 80e6)}, production_rules(), None, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW
    )
    assert decision(result, "BTC/USD:USD").reason is Reason.EXCLUDED
    assert result.whitelist == ("XRP/USD",)


# --------------------------------------------------------------------------- backtesting


def test_rolling_usd_volume_trailing_window_includes_current_candle() -> None:
    out = rolling_usd_volume([1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 10.0, 10.0], 2)
    np.testing.assert_array_equal(out, [np.nan, 30.0, 50.0, 70.0])
    np.testing.assert_array_equal(rolling_usd_volume([2.0, 3.0], [1.0, 1.0], 1), [2.0, 3.0])
    np.testing.assert_array_equal(rolling_usd_volume([2.0], [1.0], 3), [np.nan])


def test_rolling_usd_volume_quote_rate_and_bad_rows() -> None:
    out = rolling_usd_volume(
        [0.05, 0.05, 0.05],
        [100.0, 100.0, 100.0],
        1,
        quote_to_usd=np.array([60_000.0, 0.0, 60_000.0]),
    )
    np.testing.assert_array_equal(out, [300_000.0, np.nan, 300_000.0])
    out = rolling_usd_volume([1.0, 0.0, 1.0, 1.0, 1.0], [1.0, 1.0, -1.0, np.nan, 1.0], 1)
    np.testing.assert_array_equal(out, [1.0, np.nan, np.nan, np.nan, 1.0])


@pytest.mark.parametrize("cut", [1, 23, 24, 25, 150, 299])
def test_rolling_usd_volume_has_no_look_ahead(cut: int) -> None:
    rng = np.random.default_rng(cut)
    close = rng.uniform(0.5, 2.0, 300) * 100
    volume = rng.uniform(0, 1e6, 300)
    full = rolling_usd_volume(close, volume, 24)
    prefix = rolling_usd_volume(close[:cut], volume[:cut], 24)
    np.testing.assert_array_equal(full[:cut], prefix)
    changed = volume.copy()
    changed[cut:] *= 1000  # rewriting the future must not move the past
    np.testing.assert_array_equal(rolling_usd_volume(close, changed, 24)[:cut], prefix)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"window_candles": 0}, "window_candles"), ({"window_candles": 2.5}, "window_candles")],
)
def test_rolling_usd_volume_rejects_bad_window(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rolling_usd_volume([1.0], [1.0], **kwargs)  # type: ignore[arg-type]


def test_rolling_usd_volume_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="equal length"):
        rolling_usd_volume([1.0, 2.0], [1.0], 1)


@pytest.mark.parametrize(
    "pair, values, expected",
    [
        (
            "XRP/USD",
            [np.nan, 4_999_999.99, 5e6, 4.6e6, 4.5e6, 4_499_999.99, 4.8e6, 5e6, np.nan, 4.6e6],
            [0, 0, 1, 1, 1, 0, 0, 1, 1, 1],
        ),
        ("SHIB/USD", [3e6, 2.7e6, 2_699_999.99, 2.9e6], [1, 1, 0, 0]),
        ("BTC/USD", [np.nan, 0.0, 1.0], [1, 1, 1]),  # force-eligible
        ("BONK/USD", [9e9, 9e9], [0, 0]),  # never_trade
        ("USDT/USD", [9e9, 9e9], [0, 0]),  # stablecoin
        ("XRP/USD", [], []),
    ],
)
def test_eligible_series(pair: str, values: list[float], expected: list[int]) -> None:
    out = eligible_series(pair, np.array(values, dtype=float), production_rules())
    assert out.dtype == np.bool_
    assert out.tolist() == [bool(x) for x in expected]


def test_eligible_series_inactive_and_initial_state() -> None:
    rules = production_rules()
    assert not eligible_series("BTC/USD", [1e9], rules, active=False).any()
    out = eligible_series("XRP/USD", [np.nan, 4.6e6, 4.4e6], rules, initially_eligible=True)
    assert out.tolist() == [True, True, False]


def test_eligible_series_matches_live_evaluation_step_by_step() -> None:
    rng = np.random.default_rng(247)
    rules = without_force(production_rules())
    pairs = ["BTC/USD", "XRP/USD", "UNI/USD", "SHIB/USD"]
    anchor = {"DOGE/USD": 45e6}  # keeps the live universe non-empty (no empty_result fallback)
    floors = {"BTC/USD": 10e6, "XRP/USD": 5e6, "UNI/USD": 2e6, "SHIB/USD": 3e6}
    series = {p: floors[p] * rng.uniform(0.8, 1.15, 200) for p in pairs}
    offline = {p: eligible_series(p, series[p], rules) for p in pairs}
    state: UniverseState | None = None
    for i in range(200):
        result = run({**anchor, **{p: float(series[p][i]) for p in pairs}}, rules, state)
        state = result.state
        for p in pairs:
            assert decision(result, p).eligible == offline[p][i], (p, i)


def test_markets_mapping_duplicates_and_injected_prices() -> None:
    markets = {"LINK/BTC": market("LINK/BTC"), "XRP/USD": market("XRP/USD")}
    tickers = {"LINK/BTC": quote_ticker("LINK/BTC", 100.0), "XRP/USD": quote_ticker("XRP/USD", 8e6)}
    result = evaluate_universe(
        [*markets.values(), market("XRP/USD")],  # a duplicate is evaluated once
        tickers,
        production_rules(),
        None,
        max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW,
        usd_price_of=lambda c: 50_000.0 if c == "BTC" else None,
    )
    assert [d.pair for d in result.decisions] == ["LINK/BTC", "XRP/USD"]
    assert decision(result, "LINK/BTC").usd_volume == 5_000_000.0
    by_mapping = evaluate_universe(markets, tickers, production_rules(), None, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW)
    assert decision(by_mapping, "LINK/BTC").reason is Reason.NO_USD_PRICE


def test_force_pairs_are_ordered_by_tier_then_volume() -> None:
    rules = production_rules(
        tiers=(
            TierRule("core", frozenset({"BTC", "ETH"}), 10e6, force_eligible=frozenset({"BTC"})),
            TierRule("alt", frozenset({"DOGE-USD"}), 5e6, force_eligible=frozenset({"DOGE-USD"})),
        )
    )
    result = run({"DOGE/USD": 900e6, "ETH/USD": 800e6, "BTC/USDC": 40e6, "BTC/USD": 500e6}, rules)
    assert result.whitelist == ("BTC/USD", "BTC/USDC", "DOGE/USD", "ETH/USD")


@pytest.mark.parametrize("tickers", [{}, {p: quote_ticker(p, 1.0, age_s=301) for p in PAIRS}])
def test_a_kept_whitelist_keeps_the_order_of_its_forced_pairs(
    tickers: dict[str, TickerSnapshot],
) -> None:
    # SOL out-traded BTC and ETH at the last good refresh, so it led the whitelist. Without volumes
    # the forced pairs would fall back to name order (BTC, ETH, SOL): freqtrade would see a new
    # whitelist and log a universe change although nothing changed.
    volumes = {"SOL/USD": 900e6, "ETH/USD": 700e6, "BTC/USD": 600e6, "XRP/USD": 80e6}
    previous = run(volumes, now=NOW - 300).state
    assert previous.whitelist == ("SOL/USD", "ETH/USD", "BTC/USD", "XRP/USD")
    result = evaluate_universe(
        [market(p) for p in volumes], tickers, production_rules(), previous,
        max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW,
    )
    assert result.kept
    assert result.whitelist == previous.whitelist
