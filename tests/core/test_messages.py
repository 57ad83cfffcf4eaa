"""Chat messages: formatters over core objects, and the per-kind flood gate."""

from __future__ import annotations

import pytest
from tests.shipped import shipped_cap_policy, shipped_universe_rules

from trader247.core.exposure import CapState, Exposure, Position, Snapshot, measure
from trader247.core.messages import (
    MessageGate,
    format_startup,
    format_state_change,
    format_trim_round,
    format_universe_changes,
    universe_changes,
)
from trader247.core.trims import TrimOrder
from trader247.core.universe import (
    MarketInfo,
    TierRule,
    UniverseResult,
    UniverseState,
    evaluate_universe,
)
from trader247.core.volume import TickerSnapshot

NOW = 1_700_000_000.0
MAX_TICKER_AGE_S = 300.0  # TieredLiquidityPairList's default max_ticker_age_s
POLICY = shipped_cap_policy()  # config/policy.yaml: cap 25 %, band 2 %
CORE = frozenset({"BTC/USD", "ETH/USD", "SOL/USD"})
RULES = shipped_universe_rules(
    tiers=(
        TierRule("tier_1_core", CORE, 10_000_000, force_eligible=CORE),
        TierRule("tier_2_rotational", frozenset({"ADA/USD", "DOGE/USD", "XRP/USD"}), 5_000_000,
                 frozenset()),
    ),
)


def exposure(at_risk: float, equity: float) -> Exposure:
    return measure(Snapshot(equity - at_risk, (Position("BTC/USD", at_risk / 10.0, 10.0),)),
                   POLICY)


def universe(volumes: dict[str, float], previous: UniverseState | None = None,
             inactive: frozenset[str] = frozenset()) -> UniverseResult:
    markets = [MarketInfo(p, *p.split("/"), active=p not in inactive) for p in volumes]
    tickers = {p: TickerSnapshot(p, *p.split("/"), 1.0, v, None, NOW) for p, v in volumes.items()}
    return evaluate_universe(markets, tickers, RULES, previous, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW)


# ------------------------------------------------------------------ cap state


def test_active_to_reducing_has_the_figures() -> None:
    text = format_state_change(CapState.ACTIVE, CapState.REDUCING, exposure(312.0, 1000.0),
                               stake_currency="USD",
                               plan_line="at_risk 31.2% > cap 25.0%: trimming $82.00")
    first, second = text.split("\n")
    assert first == (
        "🔻 Exposure cap ACTIVE → REDUCING: at_risk 31.2% ($312.00 of $1,000.00 equity) > "
        "cap 25.0% ($250.00). New entries blocked; trimming down to target 23.0% ($230.00)."
    )
    assert second == "at_risk 31.2% > cap 25.0%: trimming $82.00"


def test_reducing_to_active_in_a_btc_stake() -> None:
    text = format_state_change(CapState.REDUCING, CapState.ACTIVE, exposure(0.0228, 0.1),
                               stake_currency="BTC")
    assert text == (
        "✅ Exposure cap REDUCING → ACTIVE: at_risk 22.8% (0.0228 BTC of 0.1 BTC equity) <= "
        "target 23.0% (0.023 BTC), cap 25.0% (0.025 BTC). Entries allowed again."
    )
    assert "$" not in text


def test_unchanged_state_and_no_equity() -> None:
    text = format_state_change(CapState.REDUCING, CapState.REDUCING, exposure(50.0, 0.0),
                               stake_currency="USDC")
    assert text.startswith("Exposure cap REDUCING: at_risk n/a (no equity) ($50.00 of $0.00")


# ------------------------------------------------------------------ trims


ORDERS = (
    TrimOrder("BTC/USD", 30.0, 0.0005, "TRIM_PROPORTIONAL: pair=BTC/USD"),
    TrimOrder("ETH/USD", 25.1, 0.01, "TRIM_PROPORTIONAL: pair=ETH/USD"),
    TrimOrder("SOL/USD", 15.1, 0.1, "TRIM_FULL_EXIT", full_exit=True),
)


def test_trim_round_when_placed() -> None:
    text = format_trim_round(ORDERS, exposure(312.0, 1000.0), stake_currency="USD", cycle=42)
    assert text.splitlines() == [
        "✂️ Trim round (cycle 42): 3 orders selling $70.20; at_risk 31.2% → target 23.0% "
        "(cap 25.0%)",
        "• BTC/USD: sell $30.00 (0.0005 BTC)",
        "• ETH/USD: sell $25.10 (0.01 ETH)",
        "• SOL/USD: sell $15.10 (full exit)",
    ]


@pytest.mark.parametrize("latencies, tail", [
    ({"BTC/USD": 4.2}, ["• BTC/USD: sell $30.00 (0.0005 BTC) filled in 4.2 s",
                        "• ETH/USD: sell $25.10 (0.01 ETH) open",
                        "• SOL/USD: sell $15.10 (full exit) open"]),
    ({"BTC/USD": 4.2, "ETH/USD": 75.0, "SOL/USD": 150.0},
     ["• BTC/USD: sell $30.00 (0.0005 BTC) filled in 4.2 s",
      "• ETH/USD: sell $25.10 (0.01 ETH) filled in 75.0 s",
      "• SOL/USD: sell $15.10 (full exit) filled in 2.5 min",
      "All filled; slowest 2.5 min."]),
])
def test_trim_round_latency(latencies: dict[str, float], tail: list[str]) -> None:
    text = format_trim_round(ORDERS, exposure(312.0, 1000.0), stake_currency="USD",
                             latencies=latencies)
    assert text.splitlines()[1:] == tail


def test_long_trim_rounds_are_capped() -> None:
    orders = tuple(TrimOrder(f"P{i}/USD", 1.0, 1.0, "x") for i in range(14))
    text = format_trim_round(orders, exposure(312.0, 1000.0), stake_currency="USD")
    lines = text.splitlines()
    assert len(lines) == 12 and lines[-1] == "… and 4 more"
    assert lines[0].startswith("✂️ Trim round: 14 orders selling $14.00")


# ------------------------------------------------------------------ universe


BASE = {"BTC/USD": 1e9, "ETH/USD": 1e9, "SOL/USD": 1e9, "ADA/USD": 9e6, "XRP/USD": 8e6,
        "ZZZ/USD": 4e6}


def test_joined_and_left_with_reasons() -> None:
    first = universe(BASE)
    second = universe({**BASE, "ADA/USD": 1e6, "DOGE/USD": 6e6}, previous=first.state)
    changes = universe_changes(first.whitelist, second)
    assert changes.joined == ("DOGE/USD",)
    assert changes.left == (("ADA/USD", "BELOW_TIER_FLOOR: pair=ADA/USD tier=tier_2_rotational "
                                        "usd_volume=1000000 floor=5000000"),)
    assert changes.force_added == changes.force_removed == ()
    assert format_universe_changes(changes, second) == (
        "🌐 Universe: 6 pairs (+1 −1)\n"
        "➕ DOGE/USD (tier_2_rotational, $6.0M)\n"
        "➖ ADA/USD: BELOW_TIER_FLOOR: pair=ADA/USD tier=tier_2_rotational usd_volume=1000000 "
        "floor=5000000"
    )


def test_first_refresh_announces_force_eligible_pairs() -> None:
    result = universe(BASE)
    changes = universe_changes((), result)
    assert changes.force_added == ("BTC/USD", "ETH/USD", "SOL/USD")
    text = format_universe_changes(changes, result, max_pairs=2)
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == "🌐 Universe: 6 pairs (+6 −0)"
    assert lines[3] == "… and 4 more"
    assert "✅ FORCE ELIGIBLE: BTC/USD bypasses liquidity checks (tier_1_core" in text
    assert lines[-1] == "… and 1 more"


def test_a_force_eligible_pair_that_goes_inactive() -> None:
    first = universe(BASE)
    second = universe(BASE, previous=first.state, inactive=frozenset({"SOL/USD"}))
    changes = universe_changes(first.whitelist, second)
    assert changes.force_removed == ("SOL/USD",)
    assert changes.left == (("SOL/USD", "INACTIVE_MARKET: pair=SOL/USD tier=tier_1_core "
                                        "usd_volume=unknown floor=10000000"),)
    text = format_universe_changes(changes, second) or ""
    assert "⚠️ no longer force-eligible: INACTIVE_MARKET: pair=SOL/USD" in text


def test_no_change_is_no_message_and_a_vanished_market() -> None:
    first = universe(BASE)
    same = universe(BASE, previous=first.state)
    assert format_universe_changes(universe_changes(first.whitelist, same), same) is None
    gone = universe({k: v for k, v in BASE.items() if k != "XRP/USD"}, previous=first.state)
    assert universe_changes(first.whitelist, gone).left == (("XRP/USD", "NOT_LISTED: pair=XRP/USD"),)


def test_kept_universe_is_flagged() -> None:
    first = universe(BASE)
    kept = evaluate_universe([], {}, RULES, first.state, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW)
    changes = universe_changes(("OLD/USD", *first.whitelist), kept)
    assert kept.kept and changes.kept
    assert (format_universe_changes(changes, kept) or "").splitlines()[0] == (
        "🌐 Universe: 6 pairs (+0 −1) - data fault, previous whitelist kept")


# ------------------------------------------------------------------ start-up


def test_startup_line() -> None:
    text = format_startup("at_risk 50.0% > cap 25.0%: trimming $70.20 over ~3 rounds (~15 min)",
                          universe=universe(BASE), dry_run=True)
    assert text == (
        "🚀 247trader started (dry-run). Universe 6 pairs (BTC/USD, ETH/USD, SOL/USD "
        "force-eligible). Cap: at_risk 50.0% > cap 25.0%: trimming $70.20 over ~3 rounds "
        "(~15 min)"
    )
    assert format_startup("at_risk 0.0% <= cap 25.0%: no trim needed", dry_run=False,
                          bot_name="bot") == (
        "🚀 bot started (LIVE). Cap: at_risk 0.0% <= cap 25.0%: no trim needed")


# ------------------------------------------------------------------ gate


def test_gate_lets_five_per_ten_minutes_then_summarises() -> None:
    gate = MessageGate()  # 5 per 600 s
    sent = [gate.offer("cap", f"msg {i}", now=float(i)) for i in range(12)]
    assert sent[:5] == [f"msg {i}" for i in range(5)]
    assert sent[5:] == [None] * 7
    assert gate.suppressed("cap") == 7 and gate.total_suppressed == 7
    assert gate.flush(now=599.0) == []  # window still full
    assert gate.offer("cap", "later", now=600.0) == (
        "later\n(+7 earlier cap messages suppressed: limit 5 per 10 min)")
    assert gate.suppressed("cap") == 0
    assert gate.offer("cap", "again", now=601.0) == "again"


def test_gate_kinds_are_independent() -> None:
    gate = MessageGate(limit=1, interval=60.0)
    assert gate.offer("cap", "a", 0.0) == "a"
    assert gate.offer("cap", "b", 1.0) is None
    assert gate.offer("universe", "u", 1.0) == "u"


def test_flush_sends_a_summary_with_the_last_text_when_the_window_opens() -> None:
    gate = MessageGate(limit=2, interval=60.0)
    for i in range(5):
        gate.offer("trim", f"✂️ round {i}\n• details", float(i))
    assert gate.flush(30.0) == []
    assert gate.flush(60.0) == [
        "⏸ 3 trim messages suppressed (limit 2 per 1 min); last: ✂️ round 4"]
    assert gate.flush(61.0) == []  # announced once
    # the summary used a slot: one more message fits in this window, then throttled again
    assert gate.offer("trim", "x", 61.5) == "x"
    assert gate.offer("trim", "y", 61.6) is None


def test_a_flapping_loop_never_exceeds_the_limit_per_window() -> None:
    gate = MessageGate(limit=5, interval=600.0)
    delivered: list[float] = []
    for step in range(3600):  # one hour, a message every second plus a flush
        now = float(step)
        for _ in gate.flush(now):
            delivered.append(now)
        if gate.offer("cap", "flap", now) is not None:
            delivered.append(now)
    for t in delivered:
        in_window = [d for d in delivered if t <= d < t + 600.0]
        assert len(in_window) <= 5
    assert len(delivered) == 30  # 5 per window over 6 windows


def test_gate_validates_like_the_throttle() -> None:
    with pytest.raises(ValueError, match="limit"):
        MessageGate(limit=0)
    with pytest.raises(ValueError, match="interval"):
        MessageGate(interval=0.0)
    gate = MessageGate(limit=3, interval=30.0)
    assert (gate.rule.limit, gate.rule.interval) == (3, 30.0)
    gate.offer("k", "a", 0.0)
    gate.offer("k", "a", 0.0)
    gate.offer("k", "a", 0.0)
    assert gate.offer("k", "b", 1.0) is None
    assert gate.offer("k", "c", 30.0) == "c\n(+1 earlier k message suppressed: limit 3 per 30 s)"
