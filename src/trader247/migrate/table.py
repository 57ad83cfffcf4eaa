"""The rule table: every setting of the original bot's three files and what becomes of it.

A pattern is ``file:dotted.key`` where ``*`` matches one key and ``**`` the rest; the first
matching rule wins, so specific rules come before a section's catch-all. A key no rule matches
is reported as ``unrecognised`` (it counts as unexplained).
"""

from __future__ import annotations

from collections.abc import Sequence

from trader247.migrate import exits as x
from trader247.migrate import mapping as m
from trader247.migrate import protect as p
from trader247.migrate import runtime as r
from trader247.migrate import universe as u
from trader247.migrate.mapping import Handler, cover, drop

P, U, A = "policy.yaml", "universe.yaml", "app.yaml"

AI = "AI/LLM advisor section: 247trader trades by rules only (no LLM calls, no API key)"
TWAP = ("maker-only TWAP execution of the original order router: freqtrade places one order per "
        "entry/exit and trims are partial exits sized by the cap")
ROUTER = ("order-routing detail of the original bot (maker-first reprices, taker fallback): "
          "freqtrade places one limit order and re-prices it only through unfilledtimeout")
GOVERNANCE = ("decision audit / manual override of the original bot: freqtrade records every "
              "order and trade in its database; /stopentry, /forceexit and `trader247 stop` are "
              "the manual controls")
SPREAD = ("not filtered: freqtrade's SpreadFilter needs bid/ask in tickers and Coinbase's "
          "ticker list (ccxt fetch_tickers) has none, so it would remove every pair (and "
          "freqtrade refuses it in backtests); orders are limit orders at the book (no "
          "crossing of a wide spread at market)")
DEPTH = ("no order-book depth filter in freqtrade's pairlists; the tier volume floors are the "
         "liquidity gate")
SLIPPAGE = "slippage budgets of the original cost model: freqtrade has no pre-trade cost check"
TRIGGERS = ("Trader247Strategy's five triggers (price move, volume spike, breakout, reversal, "
            "momentum) have their own thresholds (trader247.core.signals.SignalParams; weights "
            "and conviction are hyperoptable, `freqtrade hyperopt --spaces buy sell`)")
REGIME = ("Trader247Strategy's BTC regime (bull, chop, bear, crash: no entries in a crash) "
          "gates entries; its sizing is the tier stake, not a regime multiplier")
SIZING = "tier sizing: sizing.tier_stake_pct (% of equity per tier), clamped by the caps"
NO_RATE = ("freqtrade has no trade-count limiter; entries are paced by max_open_trades, the "
           "protections and the at-risk cap")
CCXT = ("ccxt's rate limiter and freqtrade's retries (4 per call, with back-off) handle API "
        "errors and 429s; a failing exchange is retried every iteration")
STATE = ("freqtrade keeps trades and orders in its own database (db_url: tradesv3.sqlite, "
         "tradesv3.dryrun.sqlite in dry-run); the original state file is not reused")
LOGS = ("freqtrade logs to stderr or --logfile (rotating), -v for DEBUG; API keys are not "
        "logged")
ALERTS = ("247trader's Prometheus alert rules (monitoring/) and freqtrade's Telegram/webhook "
          "notifications replace the original webhook alerts")
DUST = "positions worth less than the exchange's minimum order are skipped by the trimmer"
LATENCY = ("latency budget / alert of the original's own cycle: freqtrade's loop has no "
           "per-stage or per-call budget; ccxt's timeout bounds a call and 247trader's "
           "Prometheus alerts (monitoring/) watch the bot")
LOOP = "loop jitter / auto-backoff: freqtrade's loop runs every process_throttle_secs"
ADDS_OVER_CAP = ("247trader refuses every increase over the at-risk cap, adds to a held pair "
                 "included (restoring the 25 % cap was the point of the original fix)")

Rule = tuple[str, Handler]
RULES: Sequence[Rule] = (
    # ------------------------------------------------------------------ policy.yaml: profiles
    (f"{P}:profile", m.profile_key),
    (f"{P}:profiles.*.**", m.profile_entry),
    (f"{P}:profiles.*", m.profile_stray),
    # ------------------------------------------------------------------ risk
    (f"{P}:risk.max_open_positions", m.max_open),
    (f"{P}:risk.count_external_positions", m.count_external),
    (f"{P}:risk.managed_position_tag", cover("freqtrade tells its own trades apart in its "
                                               "database; no order tag is needed")),
    (f"{P}:risk.external_exposure_buffer_pct", drop(
        "no buffer: with risk.count_external_holdings on, external holdings count in full")),
    (f"{P}:risk.max_position_size_pct", m.asset_cap),
    (f"{P}:risk.max_per_asset_pct", m.asset_cap),
    (f"{P}:risk.min_position_size_pct", cover("freqtrade's minimum is the exchange's minimum "
                                                "order; tier stakes set the normal size")),
    (f"{P}:risk.max_per_theme_pct.*", u.cluster_cap),
    (f"{P}:risk.daily_stop_pnl_pct", p.daily_stop),
    (f"{P}:risk.weekly_stop_pnl_pct", p.weekly_stop),
    (f"{P}:risk.max_drawdown_pct", p.max_drawdown),
    (f"{P}:risk.max_trades_per_day", drop(NO_RATE)),
    (f"{P}:risk.max_trades_per_hour", drop(NO_RATE)),
    (f"{P}:risk.max_new_trades_per_hour", drop(NO_RATE)),
    (f"{P}:risk.min_seconds_between_trades", drop(NO_RATE)),
    (f"{P}:risk.cooldown_after_loss_trades", p.losses_in_a_row),
    (f"{P}:risk.cooldown_minutes", p.pause_minutes),
    (f"{P}:risk.per_symbol_cooldown_enabled", p.per_symbol_enabled),
    (f"{P}:risk.per_symbol_cooldown_minutes", p.loss_cooldown),
    (f"{P}:risk.per_symbol_cooldown_after_stop", p.stop_cooldown),
    (f"{P}:risk.per_symbol_cooldown_loss_minutes", p.loss_minutes),
    (f"{P}:risk.per_symbol_cooldown_win_minutes", p.win_cooldown),
    (f"{P}:risk.per_symbol_trade_spacing_seconds", p.trade_spacing),
    (f"{P}:risk.min_trade_notional_usd", m.min_notional),
    (f"{P}:risk.dust_threshold_usd", cover(DUST)),
    (f"{P}:risk.allow_adds_when_over_cap", cover(ADDS_OVER_CAP)),
    (f"{P}:risk.count_open_orders_in_cap", cover(
        "open entry orders always count toward the at-risk cap (core.exposure.measure)")),
    (f"{P}:risk.allow_pyramiding", m.pyramiding),
    (f"{P}:risk.pyramid_cooldown_seconds", drop(
        "freqtrade has no wait between adds; max_entry_position_adjustment limits their number")),
    (f"{P}:risk.max_adds_per_asset_per_day", cover(
        "max_entry_position_adjustment limits adds per trade, not per day")),
    (f"{P}:risk.stop_loss_pct", x.stoploss),
    (f"{P}:risk.take_profit_pct", x.take_profit),
    (f"{P}:risk.max_order_age_seconds", cover("freqtrade's unfilledtimeout cancels old orders "
                                                "(from execution.cancel_after_seconds)")),
    (f"{P}:risk.*", m.same_key),  # 247trader's own risk keys (trim_interval_cycles, ...)
    # ------------------------------------------------------------------ exits
    (f"{P}:exits.enabled", x.exit_switch),
    (f"{P}:exits.check_*", x.exit_switch),
    (f"{P}:exits.use_trailing_stop", x.trailing),
    (f"{P}:exits.trailing_stop_pct", x.trailing),
    (f"{P}:exits.exit_order_type", x.exit_order_type),
    (f"{P}:exits.exit_slippage_tolerance_bps", drop(
        "freqtrade prices an exit at the order book (exit_pricing) and has no slippage "
        "tolerance; an unfilled exit is re-placed after unfilledtimeout")),
    (f"{P}:exits.tighten_stops_in_crash", cover(
        "Trader247Strategy exits every trade when BTC's regime turns to crash (exit signal "
        "regime_crash), more than a tighter stop")),
    (f"{P}:exits.widen_targets_in_bull", drop(
        "freqtrade's ROI table (from risk.take_profit_pct) is the same in every market regime")),
    # ------------------------------------------------------------------ position_sizing
    (f"{P}:position_sizing.allow_pyramiding", m.pyramiding),
    (f"{P}:position_sizing.max_pyramid_positions", m.pyramiding),
    (f"{P}:position_sizing.min_order_usd", m.min_notional),
    (f"{P}:position_sizing.max_order_usd", drop(
        "no per-order maximum in freqtrade's config; stakes are % of equity under the caps")),
    (f"{P}:position_sizing.**", cover(SIZING)),
    # ------------------------------------------------------------------ liquidity
    (f"{P}:liquidity.max_spread_bps", cover(SPREAD)),
    (f"{P}:liquidity.spreads_bps.*", cover(SPREAD)),
    (f"{P}:liquidity.min_depth_20bps_usd", drop(DEPTH)),
    (f"{P}:liquidity.require_depth_mult", drop(DEPTH)),
    (f"{P}:liquidity.min_depth_floor_usd.*", drop(DEPTH)),
    (f"{P}:liquidity.slippage_budget_bps.*", drop(SLIPPAGE)),
    (f"{P}:liquidity.eligibility_persistence.*", cover(
        "grace cycles: the nearest is liquidity.exit_band (from universe.yaml "
        "eligibility_hysteresis) with the pairlist's refresh_period")),
    (f"{P}:liquidity.*", m.same_key),  # min_24h_volume_usd and 247trader's own keys
    # ------------------------------------------------------------------ strategy, triggers
    (f"{P}:triggers.**", cover(TRIGGERS)),
    (f"{P}:strategy.base_position_pct.*", m.base_position),
    (f"{P}:strategy.max_open_positions", m.max_open),
    (f"{P}:strategy.min_conviction_to_propose", m.conviction),
    (f"{P}:strategy.max_new_positions_per_cycle", drop(
        "freqtrade enters every signal it has slots and stake for in one iteration")),
    (f"{P}:strategy.prefer_add_to_existing", drop(
        "Trader247Strategy does not add to open trades (no DCA)")),
    (f"{P}:strategy.conviction_weights.**", cover(TRIGGERS)),
    (f"{P}:strategy.canary.**", drop(
        "canary (reduced-size trial) entries have no freqtrade equivalent")),
    (f"{P}:strategy.**", cover(TRIGGERS)),  # reversal confirmation, dip buying, ...
    # ------------------------------------------------------------------ data freshness, breakers
    (f"{P}:microstructure.max_quote_age_seconds", cover(
        "freqtrade fetches prices each iteration; stale candles block entries (stale_data)")),
    (f"{P}:microstructure.max_expected_slippage_bps", drop(SLIPPAGE)),
    (f"{P}:microstructure.min_24h_volume_usd", m.old_global_floor),  # before `liquidity:`
    (f"{P}:microstructure.max_spread_bps", cover(SPREAD)),
    (f"{P}:microstructure.min_orderbook_depth_usd", drop(DEPTH)),
    (f"{P}:circuit_breakers.max_ohlcv_age_seconds", u.stale_candles),
    (f"{P}:circuit_breakers.min_eligible_assets", u.min_universe),
    (f"{P}:circuit_breakers.max_quote_age_seconds", cover(
        "freqtrade fetches prices each iteration; stale candles block entries (stale_data)")),
    (f"{P}:circuit_breakers.check_exchange_status", cover(
        "freqtrade trades only markets ccxt reports active and retries a failing exchange")),
    (f"{P}:circuit_breakers.check_product_status", cover(
        "freqtrade trades only markets ccxt reports active")),
    (f"{P}:circuit_breakers.halt_on_maintenance", cover(CCXT)),
    (f"{P}:circuit_breakers.max_consecutive_api_errors", cover(CCXT)),
    (f"{P}:circuit_breakers.api_error_window_seconds", cover(CCXT)),
    (f"{P}:circuit_breakers.pause_on_rate_limit", cover(CCXT)),
    (f"{P}:circuit_breakers.rate_limit_cooldown_seconds", cover(CCXT)),
    (f"{P}:circuit_breakers.max_realized_volatility_pct", cover(REGIME)),
    (f"{P}:circuit_breakers.volatility_lookback_hours", cover(REGIME)),
    (f"{P}:circuit_breakers.**", drop(
        "bad-tick / ATR signal filters of the original rules engine: Trader247Strategy's "
        "signals use closed candles only")),
    (f"{P}:circuit_breaker.**", cover(CCXT)),
    (f"{P}:regime.**", cover(REGIME)),
    (f"{P}:data.**", cover(
        "freqtrade fetches prices each iteration; stale candles block entries (stale_data)")),
    # ------------------------------------------------------------------ execution
    (f"{P}:execution.taker_fee_bps", m.fee),
    (f"{P}:execution.maker_fee_bps", cover(
        "freqtrade simulates one fee: the taker fee (config fee)")),
    (f"{P}:execution.default_order_type", x.order_type),
    (f"{P}:execution.limit_offset_bps", x.limit_offset),
    (f"{P}:execution.cancel_after_seconds", m.unfilled),
    (f"{P}:execution.preferred_quote_currencies", cover(
        "freqtrade trades one stake currency: USD, the quote of every universe symbol; USDC "
        "and USDT volume counts 1:1 (liquidity.pegged_quotes)")),
    (f"{P}:execution.hard_max_spread_bps", cover(SPREAD)),
    (f"{P}:execution.min_notional_usd", m.min_notional),
    (f"{P}:execution.slippage_budget_*", drop(SLIPPAGE)),
    (f"{P}:execution.**", drop(ROUTER)),
    # ------------------------------------------------------------------ portfolio management
    (f"{P}:portfolio_management.auto_trim_to_risk_cap", m.to_policy(
        ("trims", "enabled"), "trim back under the at-risk cap (false: only block entries)")),
    (f"{P}:portfolio_management.trim_target_buffer_pct", m.to_policy(
        ("risk", "trim_band_pct"), "trims aim at cap - band and entries stop there")),
    (f"{P}:portfolio_management.trim_max_liquidations", m.to_policy(
        ("risk", "max_trims_per_cycle"), "trim orders per round at most")),
    (f"{P}:portfolio_management.trim_tolerance_pct", cover(
        "trims start strictly above the cap; the band (trim_band_pct) absorbs price noise")),
    (f"{P}:portfolio_management.trim_min_value_usd", cover(DUST)),
    (f"{P}:portfolio_management.min_liquidation_value_usd", cover(DUST)),
    (f"{P}:portfolio_management.purge_execution.*", drop(TWAP)),
    (f"{P}:portfolio_management.auto_liquidate_ineligible", drop(
        "freqtrade keeps managing a trade whose pair left the whitelist; its exits are the "
        "strategy's (no forced liquidation)")),
    (f"{P}:portfolio_management.max_liquidations_per_cycle", drop(
        "belongs to auto_liquidate_ineligible, which has no equivalent")),
    (f"{P}:portfolio_management.**", drop(
        "cash management of the original bot (quote conversion, worst-performer sales): "
        "freqtrade trades one stake currency and sells only by strategy, ROI, stoploss or cap")),
    (f"{P}:twap.**", drop(TWAP)),
    (f"{P}:cooldowns.bypass_tags", cover(
        "protections never block exits; the cap's trims are exits")),
    (f"{P}:loop.interval_seconds", m.loop_interval),
    (f"{P}:loop.universe_cache_seconds", m.refresh_period),
    (f"{P}:loop.**", drop(LOOP)),
    # ------------------------------------------------------------------ rate limits, latency
    (f"{P}:rate_limits.public", r.request_rate),
    (f"{P}:rate_limits.private", r.request_rate),
    (f"{P}:rate_limits.endpoints.*", cover(
        "ccxt throttles all requests of the exchange alike (rateLimit from rate_limits."
        "public/private); there is no budget per endpoint")),
    (f"{P}:rate_limits.**", drop(
        "utilisation alert of the original's own limiter: ccxt's throttle keeps requests under "
        "the rate, and freqtrade retries a 429 with back-off")),
    (f"{P}:latency.**", drop(LATENCY)),
    (f"{P}:ai.**", drop(AI)),
    (f"{P}:governance.**", drop(GOVERNANCE)),
    # ------------------------------------------------------------------ universe.yaml
    (f"{U}:tiers.*.symbols", u.tier_symbols),
    (f"{U}:tiers.*.constraints.min_24h_volume_usd", u.tier_floor),
    (f"{U}:tiers.*.constraints.force_eligible_symbols", u.force_eligible),
    (f"{U}:tiers.*.constraints.max_allocation_pct", cover(
        "247trader has one per-asset cap for every tier: risk.max_per_asset_pct")),
    (f"{U}:tiers.*.constraints.min_allocation_pct", drop(
        "no minimum allocation: a tier's pairs are entered on signals only")),
    (f"{U}:tiers.*.constraints.max_spread_bps", cover(SPREAD)),
    (f"{U}:tiers.*.constraints.near_threshold_override.**", cover(
        "near-floor admission: liquidity.exit_band keeps a pair that slips just under its floor")),
    (f"{U}:tiers.*.constraints.max_hold_period_hours", cover(
        "Trader247Strategy ends each trade after its trigger's max hold (custom_exit)")),
    (f"{U}:tiers.*.constraints.max_drawdown_pct", cover(
        "per-trade stops: Trader247Strategy's trigger stops and config stoploss")),
    (f"{U}:tiers.*.max_tier_3_symbols", u.tier_count),
    (f"{U}:tiers.*.refresh", cover("the universe is recomputed every refresh_period of "
                                     "TieredLiquidityPairList, for every tier")),
    (f"{U}:tiers.*.filters", cover(TRIGGERS)),
    (f"{U}:tiers.*.constraints.**", drop(
        "a tier constraint of the original's universe manager with no equivalent: 247trader's "
        "tiers have a volume floor and force-eligible symbols (the caps are in risk.*)")),
    (f"{U}:tiers.*.**", drop(
        "event-driven admission by news verification (an AI/news feature): the tier's pairs "
        "are eligible by volume like any other")),
    (f"{U}:exclusions.never_trade", u.never_trade),
    (f"{U}:exclusions.**", drop(
        "red-flag bans come from news checks; freqtrade's pair_blacklist and /blacklist (or "
        "exclusions.never_trade) exclude a pair by hand")),
    (f"{U}:clusters.definitions.*", u.cluster_assets),
    (f"{U}:clusters.enabled", u.clusters_enabled),
    (f"{U}:clusters.limits.*", u.cluster_cap),
    (f"{U}:eligibility_hysteresis.enable", u.hysteresis_enabled),
    (f"{U}:eligibility_hysteresis.volume_24h.exit_mult", u.exit_mult),
    (f"{U}:eligibility_hysteresis.volume_24h.enter_mult", u.enter_mult),
    (f"{U}:eligibility_hysteresis.volume_24h.cycles_confirm_*", u.confirm_cycles),
    (f"{U}:liquidity.min_24h_volume_usd", cover(
        "the global floor is policy.yaml liquidity.min_24h_volume_usd (the original's single "
        "source of truth)")),
    (f"{U}:liquidity.max_spread_bps", cover(SPREAD)),
    (f"{U}:liquidity.max_quote_staleness_seconds", cover(
        "freqtrade fetches prices each iteration; stale candles block entries (stale_data)")),
    (f"{U}:liquidity.**", drop(DEPTH)),
    (f"{U}:regime_modifiers.**", cover(REGIME)),
    (f"{U}:universe.max_universe_size", m.universe_size),
    (f"{U}:universe.near_threshold.**", cover(
        "near-floor admission: liquidity.exit_band keeps a pair that slips just under its floor")),
    (f"{U}:universe.**", cover(
        "dynamic discovery: every USD pair in no tier is eligible at the global floor "
        "(liquidity.min_24h_volume_usd); freqtrade reloads markets hourly, so new listings "
        "appear on their own")),
    # ------------------------------------------------------------------ app.yaml
    (f"{A}:app.name", m.bot_name),
    (f"{A}:app.mode", m.app_mode),
    (f"{A}:app.version", drop("the original bot's own version number")),
    (f"{A}:exchange.name", m.exchange_name),
    (f"{A}:exchange.api_key", cover(
        "not copied: freqtrade reads FREQTRADE__EXCHANGE__KEY from the environment")),
    (f"{A}:exchange.api_secret", cover(
        "not copied: freqtrade reads FREQTRADE__EXCHANGE__SECRET from the environment")),
    (f"{A}:exchange.read_only", cover("dry_run: true is the read-only mode")),
    (f"{A}:exchange.rate_limit.public", r.request_rate),
    (f"{A}:exchange.rate_limit.private", r.request_rate),
    (f"{A}:exchange.rate_limit.*", cover(CCXT)),
    (f"{A}:loop.interval_minutes", m.loop_interval),
    (f"{A}:loop.interval.seconds", m.loop_interval),
    (f"{A}:loop.universe_cache_seconds", m.refresh_period),
    (f"{A}:loop.timezone", drop("freqtrade works in UTC")),
    (f"{A}:loop.skip_weekends", drop("crypto markets trade every day; freqtrade does too")),
    (f"{A}:loop.**", drop(LOOP)),
    (f"{A}:auto_tune.**", drop("automatic loosening of signal thresholds at run time: tune "
                               "offline with `freqtrade hyperopt` instead")),
    (f"{A}:logging.**", cover(LOGS)),
    (f"{A}:state.**", cover(STATE)),
    (f"{A}:monitoring.metrics_enabled", m.metrics("enabled")),
    (f"{A}:monitoring.metrics_port", m.metrics("port")),
    (f"{A}:monitoring.healthcheck_enabled", m.healthcheck),
    (f"{A}:monitoring.healthcheck_port", m.healthcheck),
    (f"{A}:monitoring.**", cover(ALERTS)),
    (f"{A}:ai.**", drop(AI)),
    (f"{A}:ai_trader.**", drop(AI)),
)


def _matches(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    for i, part in enumerate(pattern):
        if part == "**":
            return len(path) > i
        if i >= len(path):
            return False
        if part == "*" or part == path[i]:
            continue
        if part.endswith("*") and path[i].startswith(part[:-1]):
            continue
        return False
    return len(path) == len(pattern)


_COMPILED = [
    (rule.split(":", 1)[0], tuple(rule.split(":", 1)[1].split(".")), handler)
    for rule, handler in RULES
]


def rule_for(file: str, path: tuple[str | int, ...]) -> Handler | None:
    key = tuple(str(elem) for elem in path)
    for rule_file, pattern, handler in _COMPILED:
        if rule_file == file and _matches(pattern, key):
            return handler
    return None
