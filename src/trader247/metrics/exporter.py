"""Prometheus exporter for the bot (the original bot had no metrics; the alert rules in
``monitoring/`` read these).

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

The catalogue (names, help texts, label values) is ``metrics.catalogue``; the HTTP endpoint
(:class:`MetricsServer`, one per bot runtime) is ``metrics.server``.
"""

from __future__ import annotations

import logging
import math
import platform
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from trader247.core.clusters import ClusterExposure, ClusterMeasurement
from trader247.core.exposure import CapState, Exposure
from trader247.core.trims import TrimPlan, TrimState
from trader247.core.universe import Reason, UniverseResult
from trader247.metrics.catalogue import (
    CAP_STATES,
    CORE_PAIRS,
    COUNTER,
    ENDPOINTS,
    ENV_HOST,
    ENV_PORT,
    HISTOGRAM,
    HOOKS,
    ITERATION_BUCKETS,
    METRICS,
    MONEY_GAUGES,
    NO_TIER,
    ORDER_FAILURE_REASONS,
    PLUGIN_BUCKETS,
    REASONS,
    SIDES,
    TRIM_LATENCY_BUCKETS,
    TRIM_OUTCOMES,
    MetricSpec,
    exchange_endpoint,
    failure_reason,
    order_failure_reason,
    should_start,
)
from trader247.metrics.server import MetricsServer, resolve_bind

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
"""The catalogue's names and the server are re-exported: ``trader247.metrics.exporter`` stays the
one import for callers."""

logger = logging.getLogger(__name__)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _ratio(pct: float) -> float:
    # Percent in the core, ratio (0..1) on the wire. +inf (no equity behind a holding) stays inf.
    return pct / 100.0 if math.isfinite(pct) else pct


class Metrics:
    """Every metric of the bot in one private registry; see the module doc for conventions.

    The name stays ``Metrics``: inside ``trader247.metrics`` it can only mean the Prometheus
    metrics, and it holds more than the cap's (universe, data freshness, plugin timing), so
    ``CapMetrics`` would mislead and ``PrometheusMetrics`` only repeats the package. The
    performance numbers of a backtest are ``trader247.core.walkforward.PerformanceMetrics``.
    """

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
        if plan is not None and plan.clusters is not None:  # per-cluster / per-asset caps
            self._update_clusters(plan.clusters, plan.reducing_clusters)

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

    def _update_clusters(self, measured: ClusterMeasurement,  # per-cluster / per-asset caps
                       reducing_clusters: tuple[ClusterExposure, ...]) -> None:
        """Every capped cluster, and every asset held; an asset sold out loses its series."""
        reducing = {g.key for g in reducing_clusters}
        self.gauges["asset_at_risk"].clear()
        for name, cluster in measured.clusters.items():
            self.gauges["cluster_at_risk"].labels(name).set(_ratio(cluster.at_risk_pct))
            self.gauges["cluster_cap"].labels(name).set(_ratio(cluster.cap_pct))
            self.gauges["cluster_reducing"].labels(name).set(int(cluster.key in reducing))
        for name, cluster in measured.assets.items():
            self.gauges["asset_at_risk"].labels(name).set(_ratio(cluster.at_risk_pct))
            self.gauges["asset_cap"].set(_ratio(cluster.cap_pct))

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
        self.counters["order_failures"].labels(side=key, reason=failure_reason(reason)).inc()

    def exchange_error(self, endpoint: str) -> None:
        """An exchange call failed; ``endpoint`` may be a ccxt method name (``fetch_tickers``)."""
        self._endpoints[exchange_endpoint(endpoint)].inc()

    def config_loaded(self, now: float) -> None:
        self.gauges["config_loaded"].set(now)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """A sample's current value (tests and debugging): ``registry.get_sample_value``."""
        return self.registry.get_sample_value(name, dict(labels or {}))
