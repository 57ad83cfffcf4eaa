"""Per-cluster and per-asset caps in the running cap ([M] phase 2): the policy carries the
limits, so the entry gate (``clusters.gate_entry``) and the trim planner (``trims.plan_trims``)
enforce them with the total cap's hysteresis, rounds and rate limits. Boundaries at the limit
and one cent over."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.shipped import shipped, shipped_cap_policy

from trader247.configfiles import parse_policy, parse_universe
from trader247.core.clusters import ClusterLimits, gate_entry
from trader247.core.exposure import CapState, Position, Snapshot, clamp_entry_stake, measure
from trader247.core.trims import (
    TrimPlan,
    TrimState,
    needs_min_stakes,
    on_trim_filled,
    on_trim_placed,
    plan_trims,
)

DEFINITIONS = {"MEME": ["DOGE", "SHIB", "PEPE", "BONK"], "LAYER1": ["BTC", "ETH", "SOL"]}
LIMITS = ClusterLimits.from_definitions(DEFINITIONS, {"MEME": 4.0, "LAYER1": 10.0}, 5.0)
# Shipped cap (25 %, band 2, interval 3, 3 orders a round, cooldown 6) + MEME 4 %, LAYER1 10 %,
# 5 % per asset. Equity $1000: MEME cap $40 (target $36.80), asset cap $50 (target $46).
POLICY = shipped_cap_policy(cluster_limits=LIMITS)
MEME_ONLY = shipped_cap_policy(cluster_limits=ClusterLimits.from_definitions(DEFINITIONS, {"MEME": 4.0},
                                                                   None))


def snapshot(cash: float, **values: float) -> Snapshot:
    """Positions at a mark of 2.0 (stake and amount differ): ``DOGE=30`` is DOGE/USD worth $30."""
    return Snapshot(cash, tuple(Position(f"{b}/USD", v / 2.0, 2.0) for b, v in values.items()))


def book(**values: float) -> Snapshot:
    """Equity exactly $1000."""
    return snapshot(1000.0 - sum(values.values()), **values)


def evaluate(s: Snapshot, policy=POLICY, *, state: TrimState | None = None, cycle: int = 1,
             min_stake: float = 1.0) -> TrimPlan:
    return plan_trims(s, policy, min_stake=min_stake, state=state or TrimState(), cycle=cycle,
                      now=float(cycle))


def sold(plan: TrimPlan) -> dict[str, float]:
    return {o.pair: o.stake_to_sell for o in plan.orders}


# ------------------------------------------------------------------ configuration


def test_to_core_builds_the_limits_from_policy_and_universe_yaml() -> None:
    policy = parse_policy(shipped().policy.model_dump_json().replace(
        '"max_per_cluster_pct":{}', '"max_per_cluster_pct":{"MEME":4.0}').replace(
        '"max_per_asset_pct":null', '"max_per_asset_pct":5.0'), file="p.yaml")
    universe = parse_universe("clusters:\n  definitions: {MEME: [DOGE-USD, SHIB], L1: [BTC]}\n",
                              file="u.yaml")
    cap = policy.risk.to_core(policy.trims, universe.clusters)
    assert cap.cluster_limits.cluster_caps == {"MEME": 4.0}
    assert cap.cluster_limits.cluster_of == {"DOGE": "MEME", "SHIB": "MEME", "BTC": "L1"}
    assert cap.cluster_limits.asset_cap_pct == 5.0 and cap.cluster_limits.enabled


def test_shipped_config_has_them_off() -> None:
    assert not shipped_cap_policy().cluster_limits.enabled


# ------------------------------------------------------------------ entry gate


@pytest.mark.parametrize("doge, stake, reason", [
    (36.79, 0.01, "ENTRY_CLAMPED: stake=0.01 proposed=10 limited_by=cluster=MEME"),
    (30.00, 6.80, "ENTRY_CLAMPED: stake=6.8 proposed=10 limited_by=cluster=MEME"),
    (26.00, 10.0, "ENTRY_OK: stake=10"),
    (36.80, None, "BELOW_MIN_STAKE: stake=0 min_stake=0 limited_by=cluster=MEME"),
    (40.00, None, "BELOW_MIN_STAKE: stake=0 min_stake=0 limited_by=cluster=MEME"),  # at the cap
    (40.01, None, "CLUSTER_OVER_CAP: cluster=MEME at_risk=4.0% cap=4.0%"),  # one cent over
])
def test_entry_into_a_cluster_is_clamped_to_its_headroom(
    doge: float, stake: float | None, reason: str
) -> None:
    decision = gate_entry("PEPE/USD", 10.0, book(DOGE=doge), POLICY, CapState.ACTIVE,
                          min_stake=None, max_stake=1000.0)
    assert decision.stake == (pytest.approx(stake) if stake is not None else None)
    assert decision.reason == reason


@pytest.mark.parametrize("btc, stake", [(45.99, 0.01), (46.00, None), (50.01, None)])
def test_entry_into_an_asset_is_clamped_to_the_asset_cap(btc: float, stake: float | None) -> None:
    decision = gate_entry("BTC/USD", 10.0, book(BTC=btc), POLICY, CapState.ACTIVE,
                          min_stake=None, max_stake=1000.0)
    assert decision.stake == (pytest.approx(stake) if stake is not None else None)
    assert "asset=BTC" in decision.reason


def test_a_cluster_over_its_cap_blocks_only_its_own_pairs() -> None:
    s = book(DOGE=60.0)
    for pair in ("SHIB/USD", "DOGE/USD"):
        refused = gate_entry(pair, 10.0, s, POLICY, CapState.ACTIVE, min_stake=1.0,
                             max_stake=100.0)
        assert refused.stake is None and refused.reason.startswith("CLUSTER_OVER_CAP")
    other = gate_entry("XRP/USD", 10.0, s, POLICY, CapState.ACTIVE, min_stake=1.0,
                       max_stake=100.0)
    assert other.reason == "ENTRY_OK: stake=10"


def test_the_total_cap_still_refuses_first() -> None:
    s = book(XRP=130.0, ADA=130.0)  # 26 %
    decision = gate_entry("DOGE/USD", 10.0, s, POLICY, CapState.ACTIVE, min_stake=1.0,
                          max_stake=100.0)
    assert decision.reason == "EXPOSURE_OVER_CAP: at_risk=26.0% cap=25.0% target=23.0%"
    reducing = gate_entry("XRP/USD", 1.0, book(), POLICY, CapState.REDUCING, min_stake=None,
                          max_stake=100.0)
    assert reducing.stake is None


@pytest.mark.parametrize("values", [{}, {"DOGE": 60.0}, {"XRP": 200.0, "BTC": 20.0}])
def test_off_is_exactly_the_total_caps_gate(values: dict[str, float]) -> None:
    plain = shipped_cap_policy()
    s = book(**values)
    assert gate_entry("DOGE/USD", 10.0, s, plain, CapState.ACTIVE, min_stake=1.0,
                      max_stake=50.0) == clamp_entry_stake(
        10.0, measure(s, plain), CapState.ACTIVE, min_stake=1.0, max_stake=50.0)


# ------------------------------------------------------------------ trims


@pytest.mark.parametrize("doge, trims", [(40.00, False), (40.01, True)])
def test_a_cluster_is_trimmed_from_one_cent_over_its_cap(doge: float, trims: bool) -> None:
    plan = evaluate(book(DOGE=doge, BTC=45.0), MEME_ONLY, min_stake=0.001)
    assert bool(plan.orders) is trims
    assert plan.state is CapState.ACTIVE  # the total cap is not touched: no global lock
    if trims:
        assert sold(plan) == {"DOGE/USD": pytest.approx(40.01 - 36.80)}
        assert plan.summary.startswith("TRIM_ROUND: at_risk=8.5% cap=25.0% orders=1 ")
        assert plan.summary.endswith("; CLUSTER_OVER_CAP: cluster=MEME at_risk=4.0% cap=4.0%")
        assert [g.key for g in plan.reducing_clusters] == ["cluster=MEME"]
    else:
        assert plan.summary.startswith("CAP_OK")


def test_cluster_trim_is_proportional_inside_the_cluster_only() -> None:
    plan = evaluate(book(DOGE=40.0, SHIB=20.0, BTC=45.0, XRP=100.0), MEME_ONLY)
    ratio = (60.0 - 36.80) / 60.0
    assert sold(plan) == {"DOGE/USD": pytest.approx(40.0 * ratio),
                          "SHIB/USD": pytest.approx(20.0 * ratio)}
    doge = next(o for o in plan.orders if o.pair == "DOGE/USD")
    assert doge.amount == pytest.approx(40.0 * ratio / 2.0)  # at the mark, not 1:1
    assert doge.reason.startswith("TRIM_CLUSTER: pair=DOGE/USD cluster=MEME share=")


def test_rounds_interval_and_open_trims_apply_to_cluster_trims() -> None:
    s = book(DOGE=30.0, SHIB=20.0, PEPE=10.0, BONK=5.0)  # MEME 6.5 %, four pairs
    first = evaluate(s, replace(MEME_ONLY, max_trims_per_cycle=2), cycle=1)
    assert [o.pair for o in first.orders] == ["DOGE/USD", "SHIB/USD"]  # biggest first
    state = first.trim_state
    for order in first.orders:
        state = on_trim_placed(state, order, now=1.0, cycle=1, policy=MEME_ONLY)
    # Next cycle: inside the interval, and the open trims' stake counts as sold.
    waiting = evaluate(s, replace(MEME_ONLY, max_trims_per_cycle=2), state=state, cycle=2)
    assert waiting.orders == () and waiting.summary.startswith("WAITING_ROUND")
    # The round comes after trim_interval_cycles (3): only the pairs without an open trim.
    later = evaluate(s, replace(MEME_ONLY, max_trims_per_cycle=2), state=state, cycle=4)
    assert set(sold(later)) == {"PEPE/USD", "BONK/USD"}
    pending = sum(t.stake for t in state.open_trims.values())
    assert sum(sold(later).values()) == pytest.approx(65.0 - 36.80 - pending)


def test_hysteresis_trims_down_to_the_target_not_the_cap() -> None:
    first = evaluate(book(DOGE=41.0), MEME_ONLY, cycle=1)
    state = first.trim_state
    for order in first.orders:
        state = on_trim_placed(state, order, now=1.0, cycle=1, policy=MEME_ONLY)
        state, _ = on_trim_filled(state, order.pair, 2.0)
    # Sold only to $38 (a fill short): under the cap, above the target -> still trimmed.
    under_cap = evaluate(book(DOGE=38.0), MEME_ONLY, state=state, cycle=4)
    assert sold(under_cap) == {"DOGE/USD": pytest.approx(38.0 - 36.80)}
    assert "CLUSTER_ABOVE_TARGET: cluster=MEME at_risk=3.8% cap=4.0% target=3.7%" in (
        under_cap.summary)
    # At the target: done, and a rise back to the cap (not over) does not restart trims.
    done = evaluate(book(DOGE=36.80), MEME_ONLY, state=under_cap.trim_state, cycle=7)
    assert done.summary.startswith("CAP_OK") and not done.trim_state.reducing_clusters
    again = evaluate(book(DOGE=40.0), MEME_ONLY, state=done.trim_state, cycle=10)
    assert again.orders == ()


def test_trims_disabled_and_startup_hold_cover_cluster_trims() -> None:
    s = book(DOGE=50.0)
    disabled = evaluate(s, replace(MEME_ONLY, trims_enabled=False))
    assert disabled.orders == () and disabled.summary.startswith("TRIMS_DISABLED")
    assert "CLUSTER_OVER_CAP: cluster=MEME" in disabled.summary
    hold = evaluate(s, replace(MEME_ONLY, trim_on_start=False))
    assert hold.orders == () and hold.summary.startswith("STARTUP_HOLD")
    # Released once the cluster is back at its target.
    back = evaluate(book(DOGE=36.0), replace(MEME_ONLY, trim_on_start=False),
                    state=hold.trim_state, cycle=2)
    assert not back.trim_state.startup_hold


def test_total_and_cluster_over_together_get_one_order_per_pair() -> None:
    # Total 28 % (cap 25, target 23: $50 to sell); MEME $60 ($23.20 to sell).
    s = book(DOGE=60.0, XRP=110.0, ADA=110.0)
    plan = evaluate(s, MEME_ONLY)
    assert plan.state is CapState.REDUCING
    cut = sold(plan)
    assert len(plan.orders) == len(cut) == 3
    assert sum(cut.values()) == pytest.approx(280.0 - 230.0)
    assert cut["DOGE/USD"] >= 60.0 - 36.80 - 1e-9
    after = book(**{b: v - cut[f"{b}/USD"] for b, v in (("DOGE", 60.0), ("XRP", 110.0),
                                                            ("ADA", 110.0))})
    assert measure(after, MEME_ONLY).at_risk_pct == pytest.approx(23.0 * 1000 / 1000)


def test_an_asset_over_its_cap_is_trimmed_alone() -> None:
    plan = evaluate(book(BTC=60.0, ETH=20.0))
    assert sold(plan) == {"BTC/USD": pytest.approx(60.0 - 46.0)}
    assert "ASSET_OVER_CAP: asset=BTC at_risk=6.0% cap=5.0%" in plan.summary


def test_cluster_state_survives_a_restart() -> None:
    plan = evaluate(book(DOGE=50.0), MEME_ONLY)
    restored = TrimState.from_dict(plan.trim_state.to_dict())
    assert restored.reducing_clusters == frozenset({"cluster=MEME"})
    assert TrimState.from_dict({"version": 1}).reducing_clusters == frozenset()


@pytest.mark.parametrize("values, state, needed", [
    ({"DOGE": 40.00}, TrimState(), False),
    ({"DOGE": 40.01}, TrimState(), True),
    ({"DOGE": 38.00}, TrimState(reducing_clusters=frozenset({"cluster=MEME"})), True),
    ({"XRP": 250.01}, TrimState(), True),
])
def test_minimums_are_looked_up_only_when_a_trim_may_follow(
    values: dict[str, float], state: TrimState, needed: bool
) -> None:
    assert needs_min_stakes(book(**values), MEME_ONLY, state) is needed


def test_the_trim_round_message_names_the_cluster() -> None:
    from trader247.core.messages import format_trim_round

    plan = evaluate(book(DOGE=40.0, SHIB=20.0), MEME_ONLY)
    text = format_trim_round(plan.orders, plan.exposure, stake_currency="USD", cycle=1)
    assert text.splitlines()[0] == (
        "✂️ Trim round (cycle 1): 2 orders selling $23.20 for cluster=MEME; "
        "total at_risk 6.0% (cap 25.0%)")
    both = evaluate(book(DOGE=60.0, XRP=110.0, ADA=110.0), MEME_ONLY)
    head = format_trim_round(both.orders, both.exposure, stake_currency="USD").splitlines()[0]
    assert head.endswith("for cluster=MEME; at_risk 28.0% → target 23.0% (cap 25.0%)")
