"""Metrics: names, pre-initialised label sets and every update method, read through the registry."""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import pytest
from prometheus_client import generate_latest

from tests.monitoring._builders import (
    POLICY,
    exposure,
    forty_pairs,
    plan,
    snapshot,
    spread_snapshot,
    universe,
)
from trader247.core.exposure import CapState
from trader247.core.trims import TrimState, on_trim_filled, on_trim_placed
from trader247.core.universe import Reason
from trader247.metrics import exporter
from trader247.metrics.exporter import (
    ENDPOINTS,
    HOOKS,
    ORDER_FAILURE_REASONS,
    REASONS,
    SIDES,
    TRIM_OUTCOMES,
    Metrics,
    exchange_endpoint,
    order_failure_reason,
)
from trader247.metrics.scrape import parse_exposition

TIERS = ("tier_1_core", "tier_2_rotational", "tier_3_event_driven")


@pytest.fixture
def m() -> Metrics:
    return Metrics(tiers=TIERS, process_collectors=False)


def v(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def series(metrics: Metrics) -> dict[str, float]:
    return parse_exposition(generate_latest(metrics.registry).decode())


# ------------------------------------------------------------------ names and label sets


def test_names_follow_the_conventions(m: Metrics) -> None:
    for family in m.registry.collect():
        assert family.name.startswith("trader247_"), family.name
        if family.type == "counter":
            assert all(
                s.name.endswith(("_total", "_created")) for s in family.samples
            ), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        for sample in family.samples:
            for label in sample.labels:
                assert label in {"currency", "state", "outcome", "tier", "reason", "pair",
                                 "side", "endpoint", "hook", "le", "version", "cluster", "asset",
                                 "freqtrade_version",
                                 "prometheus_client_version", "python_version"}, (family, label)
        if "currency" in {k for s in family.samples for k in s.labels}:
            assert family.name.endswith("_stake"), family.name


def test_reason_codes_are_the_spec_list() -> None:
    assert REASONS == (
        "ELIGIBLE", "FORCE_ELIGIBLE", "BELOW_TIER_FLOOR", "BELOW_GLOBAL_FLOOR", "NO_USD_PRICE",
        "EXCLUDED", "STABLECOIN", "INACTIVE_MARKET", "STALE_DATA",
    )
    assert tuple(r.value for r in Reason) == REASONS


def test_label_sets_exist_at_zero_before_any_event(m: Metrics) -> None:
    for reason in REASONS:
        assert v(m, "trader247_universe_pairs", reason=reason) == 0
    for side in SIDES:
        for why in ORDER_FAILURE_REASONS:
            assert v(m, "trader247_order_failures_total", side=side, reason=why) == 0
    for outcome in TRIM_OUTCOMES:
        assert v(m, "trader247_trims_total", outcome=outcome) == 0
    for endpoint in ENDPOINTS:
        assert v(m, "trader247_exchange_errors_total", endpoint=endpoint) == 0
    for hook in HOOKS:
        assert v(m, "trader247_plugin_hook_seconds_total", hook=hook) == 0
        assert v(m, "trader247_plugin_hook_calls_total", hook=hook) == 0
    for pair in ("BTC/USD", "ETH/USD", "SOL/USD"):
        assert v(m, "trader247_core_pair_eligible", pair=pair) == 0
    for tier in (*TIERS, "none"):
        assert v(m, "trader247_universe_eligible_pairs", tier=tier) == 0
    assert v(m, "trader247_cap_state", state="ACTIVE") == 1
    assert v(m, "trader247_cap_state", state="REDUCING") == 0
    for name in ("trader247_config_loaded_timestamp_seconds", "trader247_trim_rounds_total",
                 "trader247_trim_thrash_episodes_total", "trader247_usd_conversion_failures_total",
                 "trader247_universe_refreshes_total", "trader247_trim_latency_seconds_count",
                 "trader247_bot_iteration_duration_seconds_count",
                 "trader247_bot_iteration_plugin_seconds_count"):
        assert v(m, name) == 0, name
    assert v(m, "trader247_exposure_equity_stake", currency="USD") == 0


def test_build_info(m: Metrics) -> None:
    info = [s for s in series(m) if s.startswith("trader247_exporter_build_info{")]
    assert len(info) == 1 and 'version="' in info[0] and "python_version" in info[0]


def test_private_registry_with_process_collectors() -> None:
    from prometheus_client import REGISTRY

    metrics = Metrics()
    assert metrics.registry is not REGISTRY
    names = {f.name for f in metrics.registry.collect()}
    assert {"process_cpu_seconds", "python_info"} <= names
    assert REGISTRY.get_sample_value("trader247_universe_size") is None


# ------------------------------------------------------------------ currency


@pytest.mark.parametrize("code, label", [("USD", "USD"), ("usdc", "USDC"), ("BTC", "BTC")])
def test_money_metrics_carry_the_stake_currency(code: str, label: str) -> None:
    metrics = Metrics(stake_currency=code, process_collectors=False)
    metrics.update_pnl(12.5, -3.25, 2)
    assert v(metrics, "trader247_pnl_realised_stake", currency=label) == 12.5
    assert v(metrics, "trader247_pnl_unrealised_stake", currency=label) == -3.25
    assert v(metrics, "trader247_bot_open_trades") == 2


def test_configure_replaces_the_currency_series(m: Metrics) -> None:
    m.configure(stake_currency="BTC")
    m.update_cap(exposure(0.01, 0.1), CapState.ACTIVE, TrimState())
    keys = [k for k in series(m) if k.startswith("trader247_exposure_equity_stake")]
    assert keys == ['trader247_exposure_equity_stake{currency="BTC"}']


# ------------------------------------------------------------------ cap


def test_update_cap_sets_values_and_ratios(m: Metrics) -> None:
    e = exposure(300.0, 1000.0)
    m.update_cap(e, CapState.REDUCING, TrimState(cap_state=CapState.REDUCING))
    assert v(m, "trader247_exposure_equity_stake", currency="USD") == pytest.approx(1000.0)
    assert v(m, "trader247_exposure_at_risk_stake", currency="USD") == pytest.approx(300.0)
    assert v(m, "trader247_exposure_cap_stake", currency="USD") == pytest.approx(250.0)
    assert v(m, "trader247_exposure_target_stake", currency="USD") == pytest.approx(230.0)
    assert v(m, "trader247_exposure_headroom_stake", currency="USD") == pytest.approx(-50.0)
    assert v(m, "trader247_exposure_at_risk_ratio") == pytest.approx(0.30)
    assert v(m, "trader247_exposure_cap_ratio") == pytest.approx(0.25)
    assert v(m, "trader247_exposure_target_ratio") == pytest.approx(0.23)
    assert v(m, "trader247_cap_state", state="REDUCING") == 1
    assert v(m, "trader247_cap_state", state="ACTIVE") == 0


def test_no_equity_is_an_infinite_ratio(m: Metrics) -> None:
    e = exposure(100.0, 0.0)
    assert math.isinf(e.at_risk_pct)
    m.update_cap(e, CapState.REDUCING, TrimState())
    assert v(m, "trader247_exposure_at_risk_ratio") == math.inf
    assert "trader247_exposure_at_risk_ratio +Inf" in generate_latest(m.registry).decode()


def test_transitions_count_state_changes_not_updates(m: Metrics) -> None:
    for state in (CapState.ACTIVE, CapState.ACTIVE, CapState.REDUCING, CapState.REDUCING,
                  CapState.ACTIVE, CapState.REDUCING):
        m.update_cap(exposure(100.0, 1000.0), state, TrimState())
    assert v(m, "trader247_cap_transitions_total", state="REDUCING") == 2
    assert v(m, "trader247_cap_transitions_total", state="ACTIVE") == 1


# ------------------------------------------------------------------ trims


def counts(m: Metrics) -> dict[str, float | None]:
    return {o: v(m, "trader247_trims_total", outcome=o) for o in TRIM_OUTCOMES}


def test_trim_counters_follow_trim_state_without_double_counting(m: Metrics) -> None:
    e = exposure(300.0, 1000.0)
    state = TrimState(attempted=7, filled=5, failed=2, timed_out=1, thrash_episodes=1)
    m.update_cap(e, CapState.REDUCING, state)  # restored totals: the baseline, not events
    assert counts(m) == dict.fromkeys(TRIM_OUTCOMES, 0)
    assert v(m, "trader247_trim_thrash_episodes_total") == 0

    state = replace(state, attempted=10, filled=6)
    m.update_cap(e, CapState.REDUCING, state)
    m.update_cap(e, CapState.REDUCING, state)  # same state twice: nothing new
    assert counts(m) == {"attempted": 3, "filled": 1, "failed": 0, "timed_out": 0,
                         "partial": 0}

    state = replace(state, failed=4, timed_out=2, thrash_episodes=2, partial=1)
    m.update_cap(e, CapState.REDUCING, state)
    assert counts(m) == {"attempted": 3, "filled": 1, "failed": 2, "timed_out": 1,
                         "partial": 1}
    assert v(m, "trader247_trim_thrash_episodes_total") == 1


def test_a_fresh_trim_state_rebases_instead_of_going_negative(m: Metrics) -> None:
    e = exposure(300.0, 1000.0)
    m.update_cap(e, CapState.ACTIVE, TrimState(attempted=5))
    m.update_cap(e, CapState.ACTIVE, TrimState(attempted=6))
    m.update_cap(e, CapState.ACTIVE, TrimState())  # state reset (operator deleted the file)
    m.update_cap(e, CapState.ACTIVE, TrimState(attempted=2))
    assert v(m, "trader247_trims_total", outcome="attempted") == 3


def test_rounds_are_counted_once_per_plan_and_per_episode(m: Metrics) -> None:
    snap = spread_snapshot({f"P{i}/USD": 100.0 for i in range(6)}, 400.0)  # 60 % at risk
    state = TrimState()
    p1 = plan(snap, state, 1)
    assert len(p1.orders) == 3 and p1.state is CapState.REDUCING
    m.update_cap(p1.exposure, p1.state, p1.trim_state, p1)
    m.update_cap(p1.exposure, p1.state, p1.trim_state, p1)  # called again after placing
    assert v(m, "trader247_trim_rounds_total") == 1
    assert v(m, "trader247_trims_last_round") == 3
    assert v(m, "trader247_cap_reducing_rounds") == 1
    assert v(m, "trader247_trim_remaining_stake", currency="USD") == pytest.approx(p1.to_trim)

    p2 = plan(snap, p1.trim_state, 2)
    m.update_cap(p2.exposure, p2.state, p2.trim_state, p2)
    assert v(m, "trader247_trim_rounds_total") == 2
    assert v(m, "trader247_cap_reducing_rounds") == 2

    calm = plan(snapshot(100.0, 1000.0), p2.trim_state, 3)  # back under the target
    assert calm.state is CapState.ACTIVE and not calm.orders
    m.update_cap(calm.exposure, calm.state, calm.trim_state, calm)
    assert v(m, "trader247_cap_reducing_rounds") == 0
    assert v(m, "trader247_trim_rounds_total") == 2
    assert v(m, "trader247_trims_last_round") == 3  # the last round's size stays visible


def test_trim_lifecycle_through_the_core_functions(m: Metrics) -> None:
    snap = spread_snapshot({"A/USD": 200.0, "B/USD": 100.0}, 700.0)  # 30 %
    p = plan(snap, TrimState(), 1)
    m.update_cap(p.exposure, p.state, p.trim_state, p)
    state = p.trim_state
    for order in p.orders:
        state = on_trim_placed(state, order, now=100.0, cycle=1, policy=POLICY)
    m.update_cap(p.exposure, p.state, state, p)
    assert v(m, "trader247_trims_total", outcome="attempted") == len(p.orders)
    assert v(m, "trader247_trims_open") == len(p.orders)
    state, latency = on_trim_filled(state, p.orders[0].pair, now=104.5)
    assert latency == pytest.approx(4.5)
    m.trim_filled(latency)
    m.update_cap(p.exposure, p.state, state, None)
    assert v(m, "trader247_trims_total", outcome="filled") == 1
    assert v(m, "trader247_trim_latency_seconds_count") == 1
    assert v(m, "trader247_trim_latency_seconds_sum") == pytest.approx(4.5)
    assert v(m, "trader247_trim_latency_seconds_bucket", le="5.0") == 1
    assert v(m, "trader247_trim_latency_seconds_bucket", le="2.0") == 0
    assert v(m, "trader247_trim_last_latency_seconds") == pytest.approx(4.5)


def test_trim_filled_only_observes_latency(m: Metrics) -> None:
    m.trim_filled(12.0)
    m.trim_filled(3.0)
    assert v(m, "trader247_trims_total", outcome="filled") == 0
    assert v(m, "trader247_trim_latency_seconds_count") == 2
    assert v(m, "trader247_trim_last_latency_seconds") == 3.0


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_durations_are_ignored_with_one_warning(
    m: Metrics, bad: float, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=exporter.__name__):
        m.trim_filled(bad)
        m.trim_filled(bad)
        m.observe_iteration(bad)
    assert v(m, "trader247_trim_latency_seconds_count") == 0
    assert v(m, "trader247_bot_iteration_duration_seconds_count") == 0
    assert len(caplog.records) == 2


# ------------------------------------------------------------------ iteration


def test_observe_iteration(m: Metrics) -> None:
    for seconds in (0.2, 1.5, 25.0):
        m.observe_iteration(seconds, now=1234.0)
    assert v(m, "trader247_bot_iteration_duration_seconds_count") == 3
    assert v(m, "trader247_bot_iteration_duration_seconds_sum") == pytest.approx(26.7)
    assert v(m, "trader247_bot_iteration_duration_seconds_bucket", le="20.0") == 2
    assert v(m, "trader247_bot_iteration_last_duration_seconds") == 25.0
    assert v(m, "trader247_bot_last_iteration_timestamp_seconds") == 1234.0


def test_observe_plugin_time(m: Metrics, caplog: pytest.LogCaptureFixture) -> None:
    m.observe_plugin_time(0.003, {"pairlist": (0.001, 2), "bot_loop_start": (0.002, 1)})
    m.observe_plugin_time(0.0, {})
    m.observe_plugin_time(0.004, {"pairlist": (0.001, 1), "my_hook": (0.003, 1)})
    assert v(m, "trader247_bot_iteration_plugin_seconds_count") == 3
    assert v(m, "trader247_bot_iteration_plugin_seconds_sum") == pytest.approx(0.007)
    assert v(m, "trader247_bot_iteration_plugin_seconds_bucket", le="0.002") == 1
    assert v(m, "trader247_plugin_hook_seconds_total", hook="pairlist") == pytest.approx(0.002)
    assert v(m, "trader247_plugin_hook_calls_total", hook="pairlist") == 3
    assert v(m, "trader247_plugin_hook_calls_total", hook="bot_loop_start") == 1
    # An unknown hook name keeps the label set bounded.
    assert v(m, "trader247_plugin_hook_seconds_total", hook="other") == pytest.approx(0.003)
    assert v(m, "trader247_plugin_hook_seconds_total", hook="my_hook") is None
    with caplog.at_level(logging.WARNING):
        m.observe_plugin_time(-1.0)
        m.observe_plugin_time(float("nan"))
    assert v(m, "trader247_bot_iteration_plugin_seconds_count") == 3
    assert len([r for r in caplog.records if "plugin time" in r.getMessage()]) == 1


# ------------------------------------------------------------------ universe


def test_update_universe(m: Metrics) -> None:
    result = universe(forty_pairs())
    m.update_universe(result, now=99.0)
    assert v(m, "trader247_universe_size") == len(result.whitelist) == 25
    assert v(m, "trader247_universe_eligible_pairs", tier="tier_1_core") == 3
    assert v(m, "trader247_universe_eligible_pairs", tier="tier_2_rotational") == 3
    assert v(m, "trader247_universe_eligible_pairs", tier="tier_3_event_driven") == 0
    assert v(m, "trader247_universe_eligible_pairs", tier="none") == 19
    expected = {"ELIGIBLE": 22, "FORCE_ELIGIBLE": 3, "BELOW_TIER_FLOOR": 2,
                "BELOW_GLOBAL_FLOOR": 8, "NO_USD_PRICE": 2, "EXCLUDED": 1, "STABLECOIN": 1,
                "INACTIVE_MARKET": 1, "STALE_DATA": 0}
    assert {r: v(m, "trader247_universe_pairs", reason=r) for r in REASONS} == expected
    assert v(m, "trader247_universe_force_eligible_pairs") == 3
    for pair in ("BTC/USD", "ETH/USD", "SOL/USD"):
        assert v(m, "trader247_core_pair_eligible", pair=pair) == 1
    assert v(m, "trader247_universe_no_usd_price_pairs") == 2
    assert v(m, "trader247_usd_conversion_failures_total") == 2
    assert v(m, "trader247_universe_kept") == 0
    assert v(m, "trader247_universe_refreshes_total") == 1
    assert v(m, "trader247_universe_last_refresh_timestamp_seconds") == 99.0

    m.update_universe(result)
    assert v(m, "trader247_usd_conversion_failures_total") == 4  # counted per refresh
    assert v(m, "trader247_universe_no_usd_price_pairs") == 2  # gauge: this refresh


def test_a_core_pair_leaving_and_gauges_dropping_to_zero(m: Metrics) -> None:
    m.update_universe(universe(forty_pairs()))
    smaller = universe({"BTC/USD": 1e9, "ETH/USD": 1e9, "SOL/USD": 1e9, "ADA/USD": 9e6},
                       inactive=frozenset({"SOL/USD"}))
    m.update_universe(smaller)
    assert v(m, "trader247_core_pair_eligible", pair="SOL/USD") == 0
    assert v(m, "trader247_core_pair_eligible", pair="BTC/USD") == 1
    assert v(m, "trader247_universe_size") == 3
    assert v(m, "trader247_universe_eligible_pairs", tier="none") == 0
    assert v(m, "trader247_universe_pairs", reason="BELOW_GLOBAL_FLOOR") == 0
    assert v(m, "trader247_universe_pairs", reason="INACTIVE_MARKET") == 1


def test_kept_universe_and_undeclared_tier(m: Metrics) -> None:
    first = universe(forty_pairs())
    stale = universe({}, previous=first.state)  # no markets at all: keep the last whitelist
    assert stale.kept
    m.update_universe(stale)
    assert v(m, "trader247_universe_kept") == 1
    assert v(m, "trader247_universe_size") == len(first.whitelist)

    undeclared = Metrics(process_collectors=False)  # tiers not configured: created on sight
    undeclared.update_universe(first)
    assert v(undeclared, "trader247_universe_eligible_pairs", tier="tier_1_core") == 3


# ------------------------------------------------------------------ errors / ops


@pytest.mark.parametrize("side, reason, label", [
    ("buy", "insufficient_funds", "insufficient_funds"),
    ("SELL", "rejected", "rejected"),
    ("sell", "timed_out", "timeout"),
    ("buy", "network", "exchange_error"),
    ("buy", "Something odd happened: id=123", "other"),
])
def test_order_failed(m: Metrics, side: str, reason: str, label: str) -> None:
    m.order_failed(side, reason)
    assert v(m, "trader247_order_failures_total", side=side.lower(), reason=label) == 1
    assert sum(v for k, v in series(m).items()
               if k.startswith("trader247_order_failures_total")) == 1


def test_unknown_side_is_dropped_and_logged_once(
    m: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=exporter.__name__):
        m.order_failed("long", "rejected")
        m.order_failed("long", "rejected")
    assert len(caplog.records) == 1 and "long" in caplog.text
    assert not any(k for k in series(m) if 'side="long"' in k)


@pytest.mark.parametrize("name, endpoint", [
    ("tickers", "tickers"), ("fetch_tickers", "tickers"), ("load_markets", "markets"),
    ("fetch_ohlcv", "candles"), ("fetch_l2_order_book", "order_book"), ("create_order", "other"),
    ("Order_Book", "order_book"),
])
def test_exchange_error_endpoints(m: Metrics, name: str, endpoint: str) -> None:
    assert exchange_endpoint(name) == endpoint
    m.exchange_error(name)
    assert v(m, "trader247_exchange_errors_total", endpoint=endpoint) == 1


def _exc(*names: str) -> BaseException:
    """An exception whose MRO has the given class names (ccxt / freqtrade look-alikes)."""
    base: type[BaseException] = Exception
    for name in reversed(names):
        base = type(name, (base,), {})
    return base()


@pytest.mark.parametrize("mro, reason", [
    (("InsufficientFunds", "ExchangeError"), "insufficient_funds"),
    (("InsufficientFundsError", "InvalidOrderException"), "insufficient_funds"),
    (("RequestTimeout", "NetworkError"), "timeout"),
    (("InvalidOrder", "ExchangeError"), "rejected"),
    (("RetryableOrderError", "InvalidOrderException"), "rejected"),
    (("DDosProtection", "TemporaryError"), "exchange_error"),
    (("ValueError",), "other"),
])
def test_order_failure_reason_from_exceptions(mro: tuple[str, ...], reason: str) -> None:
    assert order_failure_reason(_exc(*mro)) == reason
    assert order_failure_reason(TimeoutError()) == "timeout"


def test_config_loaded(m: Metrics) -> None:
    m.config_loaded(1_700_000_000.0)
    m.config_loaded(1_700_000_060.0)  # /reload_config: the newest load time
    assert v(m, "trader247_config_loaded_timestamp_seconds") == 1_700_000_060.0


def test_cluster_and_asset_gauges_follow_the_plan(m: Metrics) -> None:
    """[M]: every capped cluster has a series (0 when nothing is held), every held asset one;
    an asset sold out loses its series."""
    from tests.shipped import shipped_cap_policy
    from trader247.core.clusters import ClusterLimits
    from trader247.core.exposure import Position, Snapshot
    from trader247.core.trims import plan_trims

    limits = ClusterLimits.from_definitions({"MEME": ["DOGE"], "L1": ["BTC"]}, {"MEME": 4.0}, 5.0)
    policy = shipped_cap_policy(cluster_limits=limits)
    held = Snapshot(950.0, (Position("DOGE/USD", 25.0, 2.0),))  # $50 of $1000: 5 %
    p = plan_trims(held, policy, min_stake=1.0, state=TrimState(), cycle=1, now=0.0)
    m.update_cap(p.exposure, p.state, p.trim_state, p)
    assert v(m, "trader247_exposure_cluster_at_risk_ratio", cluster="MEME") == pytest.approx(0.05)
    assert v(m, "trader247_exposure_cluster_cap_ratio", cluster="MEME") == pytest.approx(0.04)
    assert v(m, "trader247_exposure_cluster_reducing", cluster="MEME") == 1
    assert v(m, "trader247_exposure_asset_at_risk_ratio", asset="DOGE") == pytest.approx(0.05)
    assert v(m, "trader247_exposure_asset_cap_ratio") == pytest.approx(0.05)
    assert v(m, "trader247_exposure_cluster_at_risk_ratio", cluster="L1") is None  # uncapped
    empty = plan_trims(Snapshot(1000.0), policy, min_stake=1.0, state=p.trim_state, cycle=2,
                       now=1.0)
    m.update_cap(empty.exposure, empty.state, empty.trim_state, empty)
    assert v(m, "trader247_exposure_cluster_at_risk_ratio", cluster="MEME") == 0
    assert v(m, "trader247_exposure_asset_at_risk_ratio", asset="DOGE") is None


def test_no_cluster_series_when_not_configured(m: Metrics) -> None:
    text = generate_latest(m.registry).decode()
    assert "trader247_exposure_cluster_at_risk_ratio{" not in text


def test_fleet_series_exist_only_in_a_fleet_member() -> None:
    m = Metrics(process_collectors=False)
    assert b"trader247_fleet" not in generate_latest(m.registry).replace(
        b"# HELP trader247_fleet", b"").replace(b"# TYPE trader247_fleet", b"")
    m.update_fleet(fleet="main", bot="a", at_risk_pct=26.0, members=3, reservations=2,
                   leader=False, available=True)
    assert m.value("trader247_fleet_member", {"fleet": "main", "bot": "a"}) == 1
    assert m.value("trader247_fleet_at_risk_ratio", {"fleet": "main"}) == pytest.approx(0.26)
    assert m.value("trader247_fleet_members", {"fleet": "main"}) == 3
    assert m.value("trader247_fleet_reservations", {"fleet": "main"}) == 2
    assert m.value("trader247_fleet_leader", {"fleet": "main"}) == 0
    assert m.value("trader247_fleet_database_up", {"fleet": "main"}) == 1
    m.update_fleet(fleet="main", bot="a", at_risk_pct=20.0, members=3, reservations=0,
                   leader=True, available=False)
    assert m.value("trader247_fleet_leader", {"fleet": "main"}) == 1
    assert m.value("trader247_fleet_database_up", {"fleet": "main"}) == 0
