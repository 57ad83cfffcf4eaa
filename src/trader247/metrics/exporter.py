"""Prometheus exporter for the bot (fix 6 of 2025-11-15, alerts of fix 7).

One :class:`Metrics` object per bot (held by the bot's runtime) owns a private
``CollectorRegistry`` (plus the process and platform collectors), so nothing here touches the
process-wide ``prometheus_client.REGISTRY`` and tests build as many independent instances as they
like.
The freqtrade adapters feed it plain core objects; every method is cheap (about 0.1 ms for one
iteration with a 40-pair universe, see ``bench/exporter_cost.py``) and never raises into the bot
for bad input: unknown label values are mapped to ``other`` or dropped with one log line.

Conventions (STYLE.md): prefix ``trader247_``, base units (seconds, ratios 0..1 - never percent),
``_total`` counters, bounded labels pre-initialised to 0 so alerts see a series before the first
event. Money is in the stake currency (USD, USDC, BTC...): money metrics end in ``_stake`` and
carry a ``currency`` label fixed by :meth:`Metrics.configure` at start (``USD`` until then).

Counters that mirror the monotonic :class:`~trader247.core.trims.TrimState` counters count the
difference to the last value seen. The first value seen after a (re)start is the baseline:
totals restored from the persisted state were already exported by the previous process, and
re-exporting them would show up as a burst in ``increase()``. A value that goes down (a fresh
state) re-bases silently.

The HTTP endpoint (:class:`MetricsServer`, one per bot runtime) binds once; a busy port is one
error line and ``False``, never an exception: the bot keeps trading without ``/metrics``.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any, Final, Literal, NamedTuple

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from trader247.core.clusters import GroupExposure, GroupsExposure  # [M]
from trader247.core.exposure import CapState, Exposure
from trader247.core.trims import TrimPlan, TrimState
from trader247.core.universe import Reason, UniverseResult
from trader247.interrupts import raise_interrupt

__all__ = [
    "CORE_PAIRS",
    "ENDPOINTS",
    "ENV_HOST",
    "ENV_PORT",
    "HOOKS",
    "ITERATION_BUCKETS",
    "ORDER_FAILURE_REASONS",
    "PLUGIN_BUCKETS",
    "REASONS",
    "SIDES",
    "TRIM_LATENCY_BUCKETS",
    "TRIM_OUTCOMES",
    "Metrics",
    "MetricsServer",
    "exchange_endpoint",
    "order_failure_reason",
    "resolve_bind",
    "should_start",
]

logger = logging.getLogger(__name__)

REASONS: Final[tuple[str, ...]] = tuple(r.value for r in Reason)
SIDES: Final[tuple[str, ...]] = ("buy", "sell")
TRIM_OUTCOMES: Final[tuple[str, ...]] = ("attempted", "filled", "failed", "timed_out",
                                         "partial")
ORDER_FAILURE_REASONS: Final[tuple[str, ...]] = (
    "insufficient_funds",
    "rejected",
    "timeout",
    "exchange_error",
    "other",
)
ENDPOINTS: Final[tuple[str, ...]] = ("markets", "tickers", "candles", "order_book", "other")
CORE_PAIRS: Final[tuple[str, ...]] = ("BTC/USD", "ETH/USD", "SOL/USD")
NO_TIER: Final = "none"
CAP_STATES: Final[tuple[str, ...]] = tuple(s.value for s in CapState)

# Freqtrade iterations are ~5 s apart; the seed's budget is 20 s, its incident 50-60 s.
ITERATION_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0,
                            60.0, 90.0, 120.0)
# Our plugins' share of one iteration: the goal is a median under 5 ms.
PLUGIN_BUCKETS: Final = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                         2.5, 5.0)
# Plugin entry points timed by ``observability.timed`` (bounded ``hook`` label).
HOOKS: Final[tuple[str, ...]] = ("pairlist", "bot_loop_start", "custom_stake_amount",
                                 "confirm_trade_entry", "adjust_trade_position", "order_filled",
                                 "check_exit_timeout", "check_entry_timeout", "other")
# Trim placement-to-fill; the default trim timeout is 75 s.
TRIM_LATENCY_BUCKETS: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0,
                               120.0, 180.0, 300.0)

ENV_HOST: Final = "TRADER247_METRICS_HOST"
ENV_PORT: Final = "TRADER247_METRICS_PORT"
_TRADE_RUNMODES: Final = frozenset({"live", "dry_run"})

_ENDPOINT_ALIASES: Final[Mapping[str, str]] = {
    "load_markets": "markets",
    "fetch_markets": "markets",
    "reload_markets": "markets",
    "ticker": "tickers",
    "fetch_ticker": "tickers",
    "fetch_tickers": "tickers",
    "get_tickers": "tickers",
    "ohlcv": "candles",
    "fetch_ohlcv": "candles",
    "get_candle_history": "candles",
    "refresh_latest_ohlcv": "candles",
    "orderbook": "order_book",
    "fetch_order_book": "order_book",
    "fetch_l2_order_book": "order_book",
    "fetch_l2_order_book_ws": "order_book",
}
_REASON_ALIASES: Final[Mapping[str, str]] = {
    "insufficient": "insufficient_funds",
    "insufficientfunds": "insufficient_funds",
    "invalid_order": "rejected",
    "invalid": "rejected",
    "timed_out": "timeout",
    "exchange": "exchange_error",
    "temporary": "exchange_error",
    "network": "exchange_error",
}
# Exception class names (ccxt and freqtrade.exceptions) -> order failure reason. The MRO is
# walked from the most specific class, so ccxt's RequestTimeout (a NetworkError) is a timeout
# and InsufficientFunds (an ExchangeError) is insufficient_funds.
_EXCEPTION_REASONS: Final[Mapping[str, str]] = {
    "InsufficientFunds": "insufficient_funds",
    "InsufficientFundsError": "insufficient_funds",
    "RequestTimeout": "timeout",
    "TimeoutError": "timeout",
    "InvalidOrder": "rejected",
    "InvalidOrderException": "rejected",
    "OrderNotFound": "rejected",
    "PricingError": "rejected",
    "ExchangeError": "exchange_error",
    "TemporaryError": "exchange_error",
    "DDosProtection": "exchange_error",
    "NetworkError": "exchange_error",
    "ExchangeNotAvailable": "exchange_error",
}


def should_start(runmode_value: str) -> bool:
    """Only a trading bot (``live`` / ``dry_run``) exports; backtest, hyperopt, plot, webserver
    and the utility modes never bind a port (a backtest next to a live bot would steal it)."""
    return str(getattr(runmode_value, "value", runmode_value)) in _TRADE_RUNMODES


def exchange_endpoint(endpoint: str) -> str:
    """Map a ccxt / freqtrade method name to the bounded ``endpoint`` label (else ``other``)."""
    key = str(endpoint).strip().lower()
    if key in ENDPOINTS:
        return key
    return _ENDPOINT_ALIASES.get(key, "other")


def _failure_reason(reason: str) -> str:
    key = str(reason).strip().lower()
    if key in ORDER_FAILURE_REASONS:
        return key
    return _REASON_ALIASES.get(key, "other")


def order_failure_reason(exc: BaseException) -> str:
    """The bounded reason label for an order exception (ccxt or freqtrade), without importing
    either: matched on class names along the MRO."""
    for cls in type(exc).__mro__:
        reason = _EXCEPTION_REASONS.get(cls.__name__)
        if reason is not None:
            return reason
    return "other"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _ratio(pct: float) -> float:
    # Percent in the core, ratio (0..1) on the wire. +inf (no equity behind a holding) stays inf.
    return pct / 100.0 if math.isfinite(pct) else pct


MetricKind = Literal["gauge", "counter", "histogram"]
GAUGE: Final = "gauge"
COUNTER: Final = "counter"
HISTOGRAM: Final = "histogram"
MONEY: Final = ("currency",)


class MetricSpec(NamedTuple):
    """One metric: ``key`` names it in :class:`Metrics`' ``gauges`` / ``counters`` /
    ``histograms``; ``name``, ``doc``, ``labels`` and ``buckets`` are what Prometheus sees."""

    kind: MetricKind
    key: str
    name: str
    doc: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


METRICS: Final[tuple[MetricSpec, ...]] = (
    # --- exposure / cap
    MetricSpec(GAUGE, "equity", "trader247_exposure_equity_stake",
               "Equity (stake balance + open positions at mark), stake currency.", MONEY),
    MetricSpec(GAUGE, "at_risk", "trader247_exposure_at_risk_stake",
               "At-risk value (positions at mark + open entry stake), stake currency.", MONEY),
    MetricSpec(GAUGE, "cap_value", "trader247_exposure_cap_stake",
               "At-risk cap as a value (cap ratio x equity), stake currency.", MONEY),
    MetricSpec(GAUGE, "target_value", "trader247_exposure_target_stake",
               "Trim target as a value ((cap - band) x equity), stake currency.", MONEY),
    MetricSpec(GAUGE, "headroom", "trader247_exposure_headroom_stake",
               "Cap value minus at-risk value (negative over the cap), stake currency.", MONEY),
    MetricSpec(GAUGE, "at_risk_ratio", "trader247_exposure_at_risk_ratio",
               "At-risk value / equity (0..1; +Inf with no equity)."),
    MetricSpec(GAUGE, "cap_ratio", "trader247_exposure_cap_ratio",
               "Configured at-risk cap (max_total_at_risk_pct / 100)."),
    MetricSpec(GAUGE, "target_ratio", "trader247_exposure_target_ratio",
               "Trim target ((cap - trim band) / 100)."),
    MetricSpec(GAUGE, "cap_state", "trader247_cap_state",
               "Exposure cap state: 1 for the current state, 0 for the others.", ("state",)),
    MetricSpec(COUNTER, "cap_transitions", "trader247_cap_transitions_total",
               "Cap state changes, by the state entered.", ("state",)),
    MetricSpec(GAUGE, "reducing_rounds", "trader247_cap_reducing_rounds",
               "Trim rounds in the current REDUCING episode (0 when ACTIVE)."),
    # [M] per-cluster / per-asset caps (risk.max_per_theme_pct / max_per_asset_pct); no series
    # when not configured.
    MetricSpec(GAUGE, "cluster_at_risk", "trader247_exposure_cluster_at_risk_ratio",
               "At-risk value / equity of a capped cluster (universe.yaml clusters).",
               ("cluster",)),
    MetricSpec(GAUGE, "cluster_cap", "trader247_exposure_cluster_cap_ratio",
               "Configured cap of a cluster (risk.max_per_theme_pct / 100).", ("cluster",)),
    MetricSpec(GAUGE, "cluster_reducing", "trader247_exposure_cluster_reducing",
               "1 while a cluster is trimmed back to its target (over its cap), else 0.",
               ("cluster",)),
    MetricSpec(GAUGE, "asset_at_risk", "trader247_exposure_asset_at_risk_ratio",
               "At-risk value / equity of a held asset, all its pairs (risk.max_per_asset_pct "
               "set).", ("asset",)),
    MetricSpec(GAUGE, "asset_cap", "trader247_exposure_asset_cap_ratio",
               "Configured cap per asset (risk.max_per_asset_pct / 100)."),
    # --- trims
    MetricSpec(COUNTER, "trims", "trader247_trims_total",
               "Trim orders by outcome (failed includes timed_out).", ("outcome",)),
    MetricSpec(GAUGE, "trims_last_round", "trader247_trims_last_round",
               "Trim orders planned in the most recent trim round."),
    MetricSpec(GAUGE, "trims_open", "trader247_trims_open",
               "Trim orders placed and not yet filled."),
    MetricSpec(COUNTER, "trim_rounds", "trader247_trim_rounds_total",
               "Trim rounds that planned at least one order."),
    MetricSpec(GAUGE, "trim_remaining", "trader247_trim_remaining_stake",
               "Excess over the target not yet covered by open trims.", MONEY),
    MetricSpec(HISTOGRAM, "trim_latency", "trader247_trim_latency_seconds",
               "Trim order placement-to-fill latency.", buckets=TRIM_LATENCY_BUCKETS),
    MetricSpec(GAUGE, "trim_last_latency", "trader247_trim_last_latency_seconds",
               "Latency of the most recent trim fill."),
    MetricSpec(COUNTER, "thrash", "trader247_trim_thrash_episodes_total",
               "REDUCING episodes that started soon after the previous one ended."),
    # --- bot loop / PnL
    MetricSpec(HISTOGRAM, "iteration", "trader247_bot_iteration_duration_seconds",
               "Duration of one bot iteration (freqtrade process()).", buckets=ITERATION_BUCKETS),
    MetricSpec(GAUGE, "iteration_last", "trader247_bot_iteration_last_duration_seconds",
               "Duration of the most recent bot iteration."),
    MetricSpec(GAUGE, "iteration_ts", "trader247_bot_last_iteration_timestamp_seconds",
               "Unix time the most recent bot iteration ended."),
    MetricSpec(HISTOGRAM, "plugin_time", "trader247_bot_iteration_plugin_seconds",
               "Time spent in 247trader plugin hooks (pairlist, cap) during one bot iteration.",
               buckets=PLUGIN_BUCKETS),
    MetricSpec(COUNTER, "hook_seconds", "trader247_plugin_hook_seconds_total",
               "Time spent in 247trader plugin hooks inside bot iterations.", ("hook",)),
    MetricSpec(COUNTER, "hook_calls", "trader247_plugin_hook_calls_total",
               "Calls of 247trader plugin hooks inside bot iterations.", ("hook",)),
    MetricSpec(GAUGE, "open_trades", "trader247_bot_open_trades",
               "Open trades."),
    MetricSpec(GAUGE, "pnl_realised", "trader247_pnl_realised_stake",
               "Realised profit of closed trades, stake currency.", MONEY),
    MetricSpec(GAUGE, "pnl_unrealised", "trader247_pnl_unrealised_stake",
               "Unrealised profit of open trades at mark, stake currency.", MONEY),
    # --- universe
    MetricSpec(GAUGE, "universe_size", "trader247_universe_size",
               "Pairs in the whitelist."),
    MetricSpec(GAUGE, "universe_tier", "trader247_universe_eligible_pairs",
               "Whitelisted pairs by liquidity tier ('none': in no tier).", ("tier",)),
    MetricSpec(GAUGE, "universe_reason", "trader247_universe_pairs",
               "Evaluated pairs by decision reason code (last refresh).", ("reason",)),
    MetricSpec(GAUGE, "force_eligible", "trader247_universe_force_eligible_pairs",
               "Pairs force-eligible in the last refresh."),
    MetricSpec(GAUGE, "core_eligible", "trader247_core_pair_eligible",
               "1 when a core pair (BTC/ETH/SOL) is in the whitelist.", ("pair",)),
    MetricSpec(GAUGE, "no_usd_price", "trader247_universe_no_usd_price_pairs",
               "Pairs whose volume could not be converted to USD (last refresh)."),
    MetricSpec(COUNTER, "usd_failures", "trader247_usd_conversion_failures_total",
               "USD conversion failures (NO_USD_PRICE), summed over refreshes."),
    MetricSpec(COUNTER, "universe_refreshes", "trader247_universe_refreshes_total",
               "Universe refreshes."),
    MetricSpec(GAUGE, "universe_kept", "trader247_universe_kept",
               "1 when the last refresh kept the previous whitelist (data fault)."),
    MetricSpec(GAUGE, "universe_ts", "trader247_universe_last_refresh_timestamp_seconds",
               "Unix time of the last universe refresh."),
    # --- errors / operations
    MetricSpec(COUNTER, "order_failures", "trader247_order_failures_total",
               "Failed orders by side and reason.", ("side", "reason")),
    MetricSpec(COUNTER, "exchange_errors", "trader247_exchange_errors_total",
               "Exchange API errors by endpoint.", ("endpoint",)),
    # A gauge, not a reload counter: /reload_config builds a new config and with it a new
    # runtime and exporter (no process-wide state survives it), so a counter would always be 0.
    MetricSpec(GAUGE, "config_loaded", "trader247_config_loaded_timestamp_seconds",
               "Unix time the bot's configuration was (re)loaded (start, /reload_config)."),
    # --- fleet (policy.yaml fleet.enabled; absent otherwise)
    MetricSpec(GAUGE, "fleet_member", "trader247_fleet_member",
               "1: this bot is member `bot` of fleet `fleet` (join other series on instance).",
               ("fleet", "bot")),
    MetricSpec(GAUGE, "fleet_at_risk_ratio", "trader247_fleet_at_risk_ratio",
               "The ACCOUNT's at-risk value / equity, over every member of the fleet (0..1).",
               ("fleet",)),
    MetricSpec(GAUGE, "fleet_members", "trader247_fleet_members",
               "Members of the fleet (stale ones included: their positions count).", ("fleet",)),
    MetricSpec(GAUGE, "fleet_reservations", "trader247_fleet_reservations",
               "Unexpired entry reservations of the whole fleet.", ("fleet",)),
    MetricSpec(GAUGE, "fleet_leader", "trader247_fleet_leader",
               "1 while this bot holds the fleet's leader lease (plans the trim rounds).",
               ("fleet",)),
    MetricSpec(GAUGE, "fleet_available", "trader247_fleet_database_up",
               "1 when the fleet database answered this bot's last request (0: no entries).",
               ("fleet",)),

)
"""Every metric of the bot (but the build info and the process collectors), in export order.
Names, labels and help texts are pinned by tests/monitoring and the alert rules."""
MONEY_GAUGES: Final = tuple(m.key for m in METRICS if m.labels == MONEY)


class Metrics:
    """Every metric of the bot in one private registry; see the module doc for conventions."""

    def __init__(
        self,
        *,
        stake_currency: str = "USD",
        tiers: Iterable[str] = (),
        core_pairs: Sequence[str] = CORE_PAIRS,
        registry: CollectorRegistry | None = None,
        process_collectors: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        if process_collectors:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.gauges: dict[str, Gauge] = {}
        self.counters: dict[str, Counter] = {}
        self.histograms: dict[str, Histogram] = {}
        for spec in METRICS:
            self._declare(spec)
        Info("trader247_exporter_build", "Versions of the exporter.", registry=self.registry).info({
            "version": _version("trader247"),
            "freqtrade_version": _version("freqtrade"),
            "prometheus_client_version": _version("prometheus-client"),
            "python_version": platform.python_version(),
        })
        self._preinitialise()
        self._money: dict[str, Any] = {}
        self.currency = ""
        self.configure(stake_currency=stake_currency, tiers=tiers, core_pairs=core_pairs)

        # --- delta tracking --------------------------------------------------------------
        self._seen: dict[str, int] | None = None
        self._last_plan: TrimPlan | None = None
        self._last_state: CapState | None = None
        self._episode_rounds = 0
        self._fleet_member: tuple[str, str] | None = None

    def _declare(self, spec: MetricSpec) -> None:
        reg = self.registry
        if spec.kind == HISTOGRAM:
            self.histograms[spec.key] = Histogram(spec.name, spec.doc, spec.labels,
                                                  buckets=spec.buckets, registry=reg)
        elif spec.kind == COUNTER:
            self.counters[spec.key] = Counter(spec.name, spec.doc, spec.labels, registry=reg)
        else:
            self.gauges[spec.key] = Gauge(spec.name, spec.doc, spec.labels, registry=reg)

    def _preinitialise(self) -> None:
        """Label children created once (``labels()`` is the slow part of an update), so every
        bounded label set exists at 0 before its first event (alerts need the series)."""
        gauges, counters = self.gauges, self.counters
        self._states = {s: gauges["cap_state"].labels(state=s) for s in CAP_STATES}
        self._transitions = {s: counters["cap_transitions"].labels(state=s) for s in CAP_STATES}
        self._states[CapState.ACTIVE.value].set(1)
        self._trims = {o: counters["trims"].labels(outcome=o) for o in TRIM_OUTCOMES}
        self._reasons = {r: gauges["universe_reason"].labels(reason=r) for r in REASONS}
        self._tiers: dict[str, Any] = {}
        self._core: dict[str, Any] = {}
        for side in SIDES:
            for why in ORDER_FAILURE_REASONS:
                counters["order_failures"].labels(side=side, reason=why)
        self._endpoints = {e: counters["exchange_errors"].labels(endpoint=e) for e in ENDPOINTS}
        self._hooks = {h: (counters["hook_seconds"].labels(hook=h),
                           counters["hook_calls"].labels(hook=h)) for h in HOOKS}

    # ------------------------------------------------------------------ configuration

    def configure(
        self,
        *,
        stake_currency: str | None = None,
        tiers: Iterable[str] = (),
        core_pairs: Sequence[str] | None = None,
    ) -> None:
        """Fix the stake currency label and declare tier names / core pairs (pre-initialised).

        Call once at start, before the first update; a changed currency drops the old series.
        """
        with self._lock:
            if stake_currency is not None:
                code = str(stake_currency).strip().upper() or "USD"
                if code != self.currency:
                    money = {key: self.gauges[key] for key in MONEY_GAUGES}
                    for gauge in money.values():
                        gauge.clear()
                    self._money = {k: g.labels(currency=code) for k, g in money.items()}
                    self.currency = code
            for tier in (NO_TIER, *tiers):
                self._tier(tier)
            if core_pairs is not None:
                self.gauges["core_eligible"].clear()
                self._core = {p: self.gauges["core_eligible"].labels(pair=p) for p in core_pairs}

    def _tier(self, name: str) -> Any:
        child = self._tiers.get(name)
        if child is None:
            child = self._tiers[name] = self.gauges["universe_tier"].labels(tier=name)
        return child

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)

    # ------------------------------------------------------------------ bot loop

    def observe_iteration(self, seconds: float, *, now: float | None = None) -> None:
        """One bot iteration took ``seconds`` (``now``: end time, Unix seconds; default: now)."""
        if not math.isfinite(seconds) or seconds < 0:
            self._warn_once("iteration", "metrics: ignoring iteration duration %r", seconds)
            return
        self.histograms["iteration"].observe(seconds)
        self.gauges["iteration_last"].set(seconds)
        self.gauges["iteration_ts"].set(time.time() if now is None else now)

    def observe_plugin_time(
        self, seconds: float, hooks: Mapping[str, tuple[float, int]] | None = None
    ) -> None:
        """Our plugins took ``seconds`` of one iteration; ``hooks``: seconds and calls by hook
        name (one of :data:`HOOKS`, else ``other``)."""
        if not math.isfinite(seconds) or seconds < 0:
            self._warn_once("plugin", "metrics: ignoring plugin time %r", seconds)
            return
        self.histograms["plugin_time"].observe(seconds)
        for hook, (spent, calls) in (hooks or {}).items():
            children = self._hooks.get(hook)
            if children is None:
                self._warn_once(f"hook:{hook}", "metrics: plugin hook %r counted as 'other'",
                                hook)
                children = self._hooks["other"]
            if math.isfinite(spent) and spent >= 0 and calls >= 0:
                children[0].inc(spent)
                children[1].inc(calls)

    def update_pnl(self, realised: float, unrealised: float, open_trades: int) -> None:
        """Realised / unrealised profit in the stake currency and the number of open trades."""
        money = self._money
        money["pnl_realised"].set(realised)
        money["pnl_unrealised"].set(unrealised)
        self.gauges["open_trades"].set(open_trades)

    # ------------------------------------------------------------------ cap / trims

    def update_cap(
        self,
        exposure: Exposure,
        state: CapState,
        trim_state: TrimState,
        plan: TrimPlan | None = None,
    ) -> None:
        """Once per iteration, after the cap evaluation (and again after trims are placed, if
        wanted: counters count differences and a plan is counted as a round once)."""
        money = self._money
        money["equity"].set(exposure.equity)
        money["at_risk"].set(exposure.at_risk)
        money["cap_value"].set(exposure.cap_value)
        money["target_value"].set(exposure.target_value)
        money["headroom"].set(exposure.headroom)
        self.gauges["at_risk_ratio"].set(_ratio(exposure.at_risk_pct))
        self.gauges["cap_ratio"].set(_ratio(exposure.cap_pct))
        self.gauges["target_ratio"].set(_ratio(exposure.target_pct))
        for name, child in self._states.items():
            child.set(1 if name == state.value else 0)
        self.gauges["trims_open"].set(len(trim_state.open_trims))
        if plan is not None:
            money["trim_remaining"].set(plan.to_trim)
        if plan is not None and plan.groups is not None:  # [M] per-cluster / per-asset caps
            self._update_groups(plan.groups, plan.reducing_groups)

        with self._lock:
            if self._last_state is not None and state is not self._last_state:
                self._transitions[state.value].inc()
            if state is not CapState.REDUCING or self._last_state is not CapState.REDUCING:
                self._episode_rounds = 0  # ACTIVE, or a new REDUCING episode
            self._last_state = state
            if plan is not None and plan is not self._last_plan:
                self._last_plan = plan
                if plan.orders:
                    self.counters["trim_rounds"].inc()
                    self.gauges["trims_last_round"].set(len(plan.orders))
                    if state is CapState.REDUCING:
                        self._episode_rounds += 1
            self.gauges["reducing_rounds"].set(self._episode_rounds)
            self._count_trim_state(trim_state)

    def _update_groups(self, groups: GroupsExposure,  # [M] per-cluster / per-asset caps
                       reducing_groups: tuple[GroupExposure, ...]) -> None:
        """Every capped cluster, and every asset held; an asset sold out loses its series."""
        reducing = {g.key for g in reducing_groups}
        self.gauges["asset_at_risk"].clear()
        for name, group in groups.clusters.items():
            self.gauges["cluster_at_risk"].labels(name).set(_ratio(group.at_risk_pct))
            self.gauges["cluster_cap"].labels(name).set(_ratio(group.cap_pct))
            self.gauges["cluster_reducing"].labels(name).set(int(group.key in reducing))
        for name, group in groups.assets.items():
            self.gauges["asset_at_risk"].labels(name).set(_ratio(group.at_risk_pct))
            self.gauges["asset_cap"].set(_ratio(group.cap_pct))

    def update_fleet(self, *, fleet: str, bot: str, at_risk_pct: float, members: int,
                     reservations: int, leader: bool, available: bool) -> None:
        """Once per iteration of a fleet member (``trader247.adapters.cap_fleet``)."""
        gauges = self.gauges
        names = ("fleet_at_risk_ratio", "fleet_members", "fleet_reservations", "fleet_leader",
                 "fleet_available")
        if self._fleet_member != (fleet, bot):  # series exist only for a fleet member
            for name in ("fleet_member", *names):
                gauges[name].clear()
            gauges["fleet_member"].labels(fleet=fleet, bot=bot).set(1)
            self._fleet_member = (fleet, bot)
        values = (_ratio(at_risk_pct), members, reservations, int(leader), int(available))
        for name, value in zip(names, values, strict=True):
            gauges[name].labels(fleet=fleet).set(value)

    def _count_trim_state(self, trim_state: TrimState) -> None:
        current = {
            "attempted": trim_state.attempted,
            "filled": trim_state.filled,
            "failed": trim_state.failed,
            "timed_out": trim_state.timed_out,
            "partial": trim_state.partial,
            "thrash": trim_state.thrash_episodes,
        }
        seen = self._seen
        self._seen = current
        if seen is None:
            return  # baseline: see the module doc
        for key, value in current.items():
            delta = value - seen[key]
            if delta <= 0:
                continue  # unchanged, or a fresh state (re-based)
            if key == "thrash":
                self.counters["thrash"].inc(delta)
            else:
                self._trims[key].inc(delta)

    def trim_filled(self, latency_seconds: float) -> None:
        """A trim filled ``latency_seconds`` after placement. Latency only: the ``filled``
        counter comes from ``TrimState.filled`` in :meth:`update_cap`, so it is never counted
        twice."""
        if not math.isfinite(latency_seconds) or latency_seconds < 0:
            self._warn_once("latency", "metrics: ignoring trim latency %r", latency_seconds)
            return
        self.histograms["trim_latency"].observe(latency_seconds)
        self.gauges["trim_last_latency"].set(latency_seconds)

    # ------------------------------------------------------------------ universe

    def update_universe(self, result: UniverseResult, *, now: float | None = None) -> None:
        """After every universe refresh (the pairlist's ``gen_pairlist`` / ``filter_pairlist``)."""
        counts = dict.fromkeys(REASONS, 0)
        for decision in result.decisions:
            code = decision.reason.value
            if code in counts:
                counts[code] += 1
            else:  # a reason added to the core later: still exported, label set stays bounded
                counts[code] = 1
        whitelist = result.whitelist
        tiers = result.tiers
        per_tier: dict[str, int] = {}
        for pair in whitelist:
            tier = tiers.get(pair) or NO_TIER
            per_tier[tier] = per_tier.get(tier, 0) + 1
        listed = set(whitelist)
        no_usd = counts[Reason.NO_USD_PRICE.value]

        with self._lock:
            for tier in self._tiers:
                per_tier.setdefault(tier, 0)  # declared tiers with no pair this time: 0
            for code, count in counts.items():
                child = self._reasons.get(code)
                if child is None:
                    child = self._reasons[code] = self.gauges["universe_reason"].labels(reason=code)
                child.set(count)
            for tier, count in per_tier.items():
                self._tier(tier).set(count)
            for pair, child in self._core.items():
                child.set(1 if pair in listed else 0)
        self.gauges["universe_size"].set(len(whitelist))
        self.gauges["force_eligible"].set(counts[Reason.FORCE_ELIGIBLE.value])
        self.gauges["no_usd_price"].set(no_usd)
        if no_usd:
            self.counters["usd_failures"].inc(no_usd)
        self.gauges["universe_kept"].set(1 if result.kept else 0)
        self.counters["universe_refreshes"].inc()
        self.gauges["universe_ts"].set(time.time() if now is None else now)

    # ------------------------------------------------------------------ errors / ops

    def order_failed(self, side: str, reason: str) -> None:
        """An order was refused or failed. ``reason``: one of :data:`ORDER_FAILURE_REASONS`
        (else ``other``; :func:`order_failure_reason` maps an exception)."""
        key = str(side).strip().lower()
        if key not in SIDES:
            self._warn_once(f"side:{key}", "metrics: order failure with unknown side %r dropped",
                            side)
            return
        self.counters["order_failures"].labels(side=key, reason=_failure_reason(reason)).inc()

    def exchange_error(self, endpoint: str) -> None:
        """An exchange call failed; ``endpoint`` may be a ccxt method name (``fetch_tickers``)."""
        self._endpoints[exchange_endpoint(endpoint)].inc()

    def config_loaded(self, now: float) -> None:
        self.gauges["config_loaded"].set(now)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """A sample's current value (tests and debugging): ``registry.get_sample_value``."""
        return self.registry.get_sample_value(name, dict(labels or {}))


# ---------------------------------------------------------------------- server


def resolve_bind(
    host: str, port: int, environ: Mapping[str, str] | None = None
) -> tuple[str, int]:
    """``TRADER247_METRICS_HOST`` / ``TRADER247_METRICS_PORT`` override the configured bind
    (docker-compose binds 0.0.0.0 inside the container). ``ValueError`` on a bad port."""
    env = os.environ if environ is None else environ
    host = env.get(ENV_HOST, "").strip() or host
    raw = env.get(ENV_PORT, "").strip()
    if raw:
        if not raw.isdigit():
            raise ValueError(f"{ENV_PORT} must be a port number, got {raw!r}")
        port = int(raw)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"metrics port must be in 0..65535, got {port!r}")
    return host, port


class MetricsServer:
    """The ``/metrics`` endpoint of one bot's :class:`Metrics` (owned by the bot's runtime,
    ``trader247.adapters.observability``: no process-wide server)."""

    def __init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._bound: tuple[str, int] | None = None
        self._result: bool | None = None
        self._lock = threading.Lock()

    def start(self, host: str, port: int, metrics: Metrics) -> bool:
        """Serve ``metrics`` on ``host:port`` (``metrics:`` of policy.yaml, whose model holds the
        defaults). Later calls return the first call's result without binding or logging again.

        A busy port or bad address: one ERROR line naming ``host:port``, ``False``; the bot
        trades on.
        """
        with self._lock:
            if self._result is None:
                self._result = self._bind(host, port, metrics)
            return self._result

    def _bind(self, host: str, port: int, metrics: Metrics) -> bool:
        try:
            host, port = resolve_bind(host, port)
        except ValueError as exc:
            logger.error("Metrics exporter not started: %s; the bot keeps trading", exc)
            return False
        since = sys.exception()
        try:
            server, thread = start_http_server(port, addr=host, registry=metrics.registry)
        except OSError as exc:
            raise_interrupt(exc, since=since)  # "the bot keeps trading" is for a busy port only
            reason = "port already in use" if _addr_in_use(exc) else str(exc)
            logger.error(
                "Metrics exporter not started: cannot bind %s (%s); the bot keeps trading "
                "without /metrics (set metrics.port in policy.yaml or free the port)",
                _hostport(host, port), reason,
            )
            return False
        self._server, self._thread = server, thread
        self._bound = (host, int(server.server_address[1]))
        logger.info("Metrics exporter listening on http://%s/metrics",
                    _hostport(host, self._bound[1]))
        return True

    @property
    def bound_address(self) -> tuple[str, int] | None:
        """``(host, port)`` it listens on (the real port when started with port 0)."""
        return self._bound

    def stop(self) -> None:
        """Shut the HTTP server down and forget the start result."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = self._bound = self._result = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _addr_in_use(exc: OSError) -> bool:
    return exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1))
