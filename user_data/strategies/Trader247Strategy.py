"""Trader247Strategy: a long-only trend filter on each pair's own 1h candles (the walk-forward
choice, ``trader247 walk-forward``), optionally confirmed by the original bot's five triggers,
with tier sizing, a BTC market regime and point-in-time eligibility. Spot, long only.

Every decision is in the pure core; this file maps freqtrade's hooks onto it. Signals:
``trader247.core.signals`` (trend, guards, triggers, regime); data plumbing (1h frames merged
or built from sub-hour candles, regime and market trend, eligibility, the history the signals
need): ``trader247.core.strategy_data``; sizing: ``trader247.core.sizing``. The guards against
whipsaw (market filter, re-entry cooldown, exits, volatility-scaled bands and stakes,
cross-sectional momentum) are ``policy.yaml`` ``strategy:``.
README "Trader247Strategy" describes the rules and their out-of-sample results.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from freqtrade.configuration import TimeRange
from freqtrade.enums import RunMode
from freqtrade.exceptions import OperationalException
from freqtrade.exchange import timeframe_to_minutes
from freqtrade.persistence import Trade
from freqtrade.strategy import (
    BooleanParameter,
    CategoricalParameter,
    DecimalParameter,
    IStrategy,
    stoploss_from_absolute,
)
from pandas import DataFrame, Timestamp

from trader247.adapters.strategy_candles import OFFLINE_MODES, CandleFiles
from trader247.core.scaling import VOLATILITY
from trader247.core.signals import (
    TRIGGERS,
    Regime,
    SignalParams,
    add_indicators,
    exit_rule,
    strength_column,
)
from trader247.core.sizing import describe_sizing, strategy_stake
from trader247.core.strategy_data import Frames, MarketCache, PairData, history_need, source_pairs
from trader247.core.trend import TrendParams, add_trend_entries, trend_lost, trend_params
from trader247.core.universe import tier_of
from trader247.protection_list import strategy_protections
from trader247.strategy import ExposureCapMixin

logger = logging.getLogger(__name__)


def _weight(default: float) -> DecimalParameter:
    # Not searched by default: the walk-forward found the trend filter alone better out of
    # sample, and 5 more dimensions only taught hyperopt to fit noise.
    return DecimalParameter(0.0, 2.0, default=default, decimals=1, space="buy", optimize=False)


TREND_MA_HOURS = (300, 450, 600, 800)  # hyperopt's choices (categorical: one column each)
TREND_MOMENTUM_HOURS = 168.0


class Trader247Strategy(ExposureCapMixin, IStrategy):  # type: ignore[misc]  # untyped base
    INTERFACE_VERSION = 3
    timeframe = "1h"
    can_short = False
    process_only_new_candles = True
    position_adjustment_enable = True
    use_exit_signal = True
    use_custom_stoploss = True
    # Defaults below: `trader247 walk-forward` on the real Coinbase USD candles with the shipped
    # policy.yaml `strategy:` (exit band 2x, volatility-scaled stakes) and the triggers not
    # searched: its recommended-params.json (median / most frequent of the five windows' results;
    # README "Out-of-sample results", issue [S]'s third round, 2026-12-07).
    # Stop of trend trades and hard floor under every per-trigger stop.
    stoploss = -0.289
    # Off: a trend trade runs until the trend is lost; trigger trades take profits in
    # custom_exit. A ROI table would cut exactly the few large winners a trend follower lives on.
    minimal_roi = {"0": 100.0}
    startup_candle_count = 169  # recomputed for the configured timeframe in __init__

    buy_trend_ma_hours = CategoricalParameter(TREND_MA_HOURS, default=800, space="buy")
    buy_trend_band_pct = DecimalParameter(0.0, 8.0, default=5.0, decimals=1, space="buy")
    buy_trend_min_momentum_pct = DecimalParameter(-15.0, 5.0, default=-11.6, decimals=1,
                                                  space="buy")
    # Not searched (issue [S], third round): per-window hyperopt switched the triggers on where
    # the next window trended, and their take-profits cut the trend. A parameter file may still
    # set it.
    buy_triggers_required = BooleanParameter(default=False, space="buy", optimize=False)
    buy_conviction = DecimalParameter(0.15, 0.60, default=SignalParams.conviction_threshold,
                                      decimals=2, space="buy", optimize=False)
    buy_weight_price_move = _weight(SignalParams.weight_price_move)
    buy_weight_volume_spike = _weight(SignalParams.weight_volume_spike)
    buy_weight_breakout = _weight(SignalParams.weight_breakout)
    buy_weight_reversal = _weight(SignalParams.weight_reversal)
    buy_weight_momentum = _weight(SignalParams.weight_momentum)
    sell_take_profit_scale = DecimalParameter(0.5, 1.5, default=1.0, decimals=2, space="sell",
                                              optimize=False)
    sell_max_hold_scale = DecimalParameter(0.5, 1.5, default=1.0, decimals=2, space="sell",
                                           optimize=False)

    plot_config = {
        "main_plot": {"ma_fast": {"color": "orange"}, "ma_slow": {"color": "blue"},
                      "breakout_level": {"color": "grey"}, "trend_ma": {"color": "black"}},
        "subplots": {
            "conviction": {"conviction": {"color": "purple"},
                           "conviction_needed": {"color": "red"}},
            "triggers": {strength_column(name): {} for name in TRIGGERS},
            "rsi": {"rsi": {"color": "green"}},
        },
    }

    @property
    def protections(self) -> list[dict[str, Any]]:
        return strategy_protections(self.config)  # ExposureCap + policy.yaml `protections:`

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        timeframe = config.get("timeframe") or self.timeframe
        try:
            self._signal_base = SignalParams.for_timeframe(timeframe)
            self._entry_params()
        except ValueError as exc:
            raise OperationalException(f"Trader247Strategy: {exc}") from None
        # The regime needs a week of history; 1h candles keep that within the exchange's limits.
        higher = timeframe if timeframe_to_minutes(timeframe) > 60 else "1h"
        self._frames = Frames(timeframe, timeframe_to_minutes(timeframe), higher,
                              timeframe_to_minutes(higher))
        self._regime_params = SignalParams.for_timeframe(higher)
        # Hyperopt computes indicators once for all epochs: one trend mean per choice. Otherwise
        # only the chosen one (from the parameter file: freqtrade sets values in ft_bot_start,
        # after it has read startup_candle_count).
        self._hyperopt = config.get("runmode") == RunMode.HYPEROPT
        # Hyperopt needs the triggers' columns only if it may switch them on.
        self._triggers_searched = self._hyperopt and self.buy_triggers_required.optimize
        chosen = self.load_params_from_file().get("params", {}).get("buy", {}).get(
            "buy_trend_ma_hours", self.buy_trend_ma_hours.value)
        self._trend_ma_hours = tuple(float(h) for h in TREND_MA_HOURS) if self._hyperopt else (
            float(chosen),)
        self._need = history_need(self._frames, self._signal_base, self._regime_params,
                                  self._trend_ma_hours, TREND_MOMENTUM_HOURS, triggers=True)
        self.startup_candle_count = self._need.startup_candles
        start = TimeRange.parse_timerange(config.get("timerange")).startdt
        self._start = None if start is None else Timestamp(start)
        self._logged: set[str] = set()

    def ft_bot_start(self, **kwargs: Any) -> None:
        super().ft_bot_start(**kwargs)  # loads hyperopt values from the parameter file
        try:
            self._entry_params()
            self._trend_params()
        except ValueError as exc:
            raise OperationalException(f"Trader247Strategy: {exc}") from None
        self._rules = self.trader247_settings.universe_rules
        stake, higher = self.config["stake_currency"], self._frames.higher
        files = CandleFiles(self.config, self._frames)
        sources = source_pairs(stake, self._rules.pegged_quotes,
                               lambda pair: bool(self.dp.market(pair)), files.available,
                               self._frames)
        for note in sources.notes(stake, self._frames, self._rules,
                                  self.config["exchange"]["name"]):
            (logger.warning if note.warning else logger.info)("%s", note.text)
        if sources.regime:
            files.require(sources.regime, higher)
        guards = self.trader247_settings.policy.strategy
        scaled = "volatility" in (guards.band, guards.stake)
        self._data = PairData(self._frames, MarketCache(self._regime_params, self._trend_ma_hours),
                              self._rules, TREND_MOMENTUM_HOURS, self._signal_base.candles(24),
                              sources, guards.volatility_hours if scaled else 0.0,
                              guards.momentum_top_n)
        self._start_exits()
        logger.info("Trader247Strategy: signals need %s", self._need.describe())
        sizing = self.trader247_settings.policy.sizing
        logger.info("Trader247Strategy: %s", describe_sizing(
            self.config.get("stake_amount"), stake, sizing.tier_stake_pct,
            sizing.default_stake_pct, (guards.reference_volatility_pct, guards.volatility_hours,
                                       guards.volatility_stake_min_scale)
            if guards.stake == "volatility" else None))

    def _start_exits(self) -> None:
        """Exits of trend trades: the band (``trend_lost``) or a stop trailing from the high.
        Without the triggers no trade has a per-trigger stop, take-profit or max hold: hand
        those callbacks back to freqtrade's defaults. Freqtrade deep-copies the trade for every
        callback a strategy implements, on every candle of every open trade, and those copies
        were two thirds of a backtest's time. If hyperopt may switch the triggers on per epoch,
        it keeps them."""
        guards = self.trader247_settings.policy.strategy
        self.trailing_stop = guards.exit == "trailing"
        if self.buy_triggers_required.value or self._triggers_searched:
            return
        self.use_custom_stoploss = False
        self.custom_exit = IStrategy.custom_exit.__get__(self)  # type: ignore[method-assign]
        logger.info("Trader247Strategy: trend filter alone: exits by %s, %sstoploss (%.1f %%) "
                    "and regime_crash; market filter %s, re-entry cooldown %g h, %s bands, "
                    "momentum top %s", "trend_lost" if guards.exit == "band" else "no band",
                    "trailing " if self.trailing_stop else "", -100 * self.stoploss,
                    "on" if guards.market_filter else "off", guards.reentry_cooldown_hours,
                    guards.band, guards.momentum_top_n or "off")

    def informative_pairs(self) -> list[tuple[str, str]]:
        sources, higher = self._data.sources, self._frames.higher
        pairs = [(p, higher) for p in dict.fromkeys([sources.regime, sources.market]) if p]
        if not self._frames.same:  # each pair's own trend (and regime without BTC)
            pairs += [(pair, higher) for pair in self.dp.current_whitelist()]
        if sources.usd:
            pairs.append((sources.usd, self.timeframe))
        return pairs

    def _entry_params(self) -> SignalParams:
        weights = {f"weight_{name}": getattr(self, f"buy_weight_{name}").value
                   for name in TRIGGERS}
        return self._signal_base.with_changes(
            conviction_threshold=self.buy_conviction.value, **weights)

    def _trend_params(self) -> TrendParams:
        return trend_params(
            self.trader247_settings.policy.strategy, ma_hours=float(self.buy_trend_ma_hours.value),
            band_pct=float(self.buy_trend_band_pct.value),
            min_momentum_pct=float(self.buy_trend_min_momentum_pct.value),
            momentum_hours=TREND_MOMENTUM_HOURS,
            triggers_required=bool(self.buy_triggers_required.value))

    # ------------------------------------------------------------------ signals
    def populate_indicators(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        df, notes = self._data.columns(dataframe, metadata["pair"], self.dp.get_pair_dataframe,
                                       lambda: self._pairs(metadata["pair"]))
        if self.config.get("runmode") in OFFLINE_MODES:
            ma = max(self._trend_ma_hours) if self._hyperopt else self.buy_trend_ma_hours.value
            notes.append(self._data.history_note(
                df, metadata["pair"], float(ma), self._need, self._start,
                self.config["exchange"]["name"], lambda: self._pairs(metadata["pair"])))
        for note in notes:
            if note.key not in self._logged:
                self._logged.add(note.key)
                (logger.warning if note.warning else logger.info)("%s", note.text)
        # The five triggers cost most of the analysis; the trend filter alone does not need
        # them. Hyperopt computes indicators once for every epoch: it gets them if it may switch
        # the triggers on.
        # (runmode first: freqtrade warns about a parameter read during indicator calculation)
        if self._triggers_searched or self.buy_triggers_required.value:
            return add_indicators(df, self._signal_base)
        return df

    def _pairs(self, pair: str) -> list[str]:
        try:
            return list(self.dp.current_whitelist())
        except OperationalException:  # plot-dataframe: no pairlist
            return [pair]

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        params = self._entry_params()
        trend = self._trend_params()
        if sum(params.weights.values()) == 0:  # hyperopt may draw all-zero weights: no entries
            dataframe["enter_long"] = 0
            return dataframe
        return add_trend_entries(dataframe, params, trend)  # with trend_ma, the plotted line

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        # A crash of the whole market is a reason to be out, whichever way we came in.
        crash = dataframe["regime"] == Regime.CRASH.value
        lost = trend_lost(dataframe, self._trend_params()) & ~crash
        dataframe.loc[lost, ["exit_long", "exit_tag"]] = (1, "trend_lost")
        dataframe.loc[crash, ["exit_long", "exit_tag"]] = (1, "regime_crash")
        return dataframe

    # ------------------------------------------------------------------ sizing and exits
    # freqtrade's documented signature (it calls with keywords, as the mixin's accepts).
    def custom_stake_amount(  # type: ignore[override]
            self, pair: str, current_time: datetime, current_rate: float,
            proposed_stake: float, min_stake: float | None, max_stake: float,
            leverage: float, entry_tag: str | None, side: str, **kwargs: Any) -> float:
        if entry_tag == "force_entry":
            # An operator's /forceenter stake is theirs (the cap still clamps it).
            return proposed_stake
        tier = tier_of(pair, self._rules)
        policy = self.trader247_settings.policy
        return strategy_stake(
            policy.sizing, policy.strategy, None if tier is None else tier.name,
            fixed_stake=self.config.get("stake_amount") != "unlimited",
            proposed_stake=proposed_stake, equity=float(self.wallets.get_total_stake_amount()),
            max_stake=max_stake, volatility=lambda: self._volatility(pair))

    def _volatility(self, pair: str) -> float:
        # The last analysed candle is the signal candle (backtests slice it): no look-ahead.
        df, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        return float(df[VOLATILITY].iat[-1]) if VOLATILITY in df and len(df) else float("nan")

    def custom_stoploss(self, pair: str, trade: Trade, current_time: datetime,
                        current_rate: float, current_profit: float, after_fill: bool,
                        **kwargs: Any) -> float | None:
        if trade.enter_tag == "trend":
            return None  # the strategy's stoploss (hyperopt's stoploss space) stays
        # From the entry PRICE: stoploss_from_open works on the fee-adjusted profit, which with
        # 2 x 1.2 % fees would put a "6 %" stop 3.6 % under the entry.
        stop_rate = trade.open_rate * (1 - exit_rule(trade.enter_tag).stop_loss)
        return float(stoploss_from_absolute(stop_rate, current_rate, is_short=trade.is_short,
                                            leverage=trade.leverage))

    def custom_exit(self, pair: str, trade: Trade, current_time: datetime, current_rate: float,
                    current_profit: float, **kwargs: Any) -> str | None:
        if trade.enter_tag == "trend":
            return None  # leaves on trend_lost, the stoploss or a crash
        rule = exit_rule(trade.enter_tag)
        tag = trade.enter_tag or "untagged"
        if current_profit >= rule.take_profit * self.sell_take_profit_scale.value:
            return f"take_profit_{tag}"
        held = current_time - trade.open_date_utc
        if held >= timedelta(hours=rule.max_hold_hours * self.sell_max_hold_scale.value):
            return f"max_hold_{tag}"
        return None
