"""The bot's metrics catalogue: every metric's name, help, labels and buckets, and the bounded
label values (STYLE.md: ``trader247_`` prefix, base units, ``_total`` counters, bounded labels
pre-initialised to 0).

Plain data and pure label mappings, no prometheus_client: :class:`~trader247.metrics.exporter.
Metrics` registers exactly :data:`METRICS`; tests/monitoring and the alert rules pin the names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, NamedTuple

from trader247.core.exposure import CapState
from trader247.core.universe import Reason

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


def failure_reason(reason: str) -> str:
    """The bounded reason label for a reason string (else ``other``)."""
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
    # per-cluster / per-asset caps (risk.max_per_cluster_pct / max_per_asset_pct); no series
    # when not configured.
    MetricSpec(GAUGE, "cluster_at_risk", "trader247_exposure_cluster_at_risk_ratio",
               "At-risk value / equity of a capped cluster (universe.yaml clusters).",
               ("cluster",)),
    MetricSpec(GAUGE, "cluster_cap", "trader247_exposure_cluster_cap_ratio",
               "Configured cap of a cluster (risk.max_per_cluster_pct / 100).", ("cluster",)),
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
