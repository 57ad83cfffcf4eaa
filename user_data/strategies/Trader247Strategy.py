"""Trader247Strategy: the original bot's five triggers (``trader247.core.signals``) as a freqtrade
strategy, with tier sizing, per-trigger exits, a BTC market regime and point-in-time eligibility.

Spot, long only. Every decision is in the pure core; this file maps freqtrade's hooks onto it.
- Regime: BTC/<stake> on 1h (or the strategy timeframe if longer), merged without look-ahead.
  With no BTC/<stake> market (stake BTC) each pair's own candles give its regime.
- Eligibility: trailing 24 h USD volume from the candles through the universe rules of our YAML
  (same floors, force-eligible list and hysteresis as the live pairlist). A stake currency that
  is neither USD nor pegged is valued with its ``<stake>/USD`` candles; without them only
  force-eligible pairs are eligible (the live pairlist's NO_USD_PRICE).
- Sizing: tier % of equity, at most freqtrade's max_stake; ExposureCapMixin then clamps it to
  the at-risk cap headroom.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from freqtrade.exceptions import OperationalException
from freqtrade.exchange import timeframe_to_minutes
from freqtrade.persistence import Trade
from freqtrade.strategy import (
    DecimalParameter,
    IStrategy,
    merge_informative_pair,
    stoploss_from_absolute,
)
from pandas import DataFrame

from trader247.core.signals import (
    TRIGGERS,
    Regime,
    SignalParams,
    add_entries,
    add_indicators,
    exit_rule,
    regime,
    strength_column,
)
from trader247.core.universe import tier_of
from trader247.core.universe_series import eligible_series, rolling_usd_volume
from trader247.protections import strategy_protections
from trader247.strategy import ExposureCapMixin

logger = logging.getLogger(__name__)


def _weight(default: float) -> DecimalParameter:
    return DecimalParameter(0.0, 2.0, default=default, decimals=1, space="buy")


class Trader247Strategy(ExposureCapMixin, IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1h"
    can_short = False
    process_only_new_candles = True
    position_adjustment_enable = True
    use_exit_signal = True
    use_custom_stoploss = True
    # Hard floor under every per-trigger stop (the widest is 7 %).
    stoploss = -0.10
    # Safety net only: custom_exit takes profits and ends trades after their max hold.
    minimal_roi = {"0": 0.30, "14400": 0.0}
    startup_candle_count = 169  # recomputed for the configured timeframe in __init__

    buy_conviction = DecimalParameter(0.15, 0.60, default=SignalParams.conviction_threshold,
                                      decimals=2, space="buy")
    buy_weight_price_move = _weight(SignalParams.weight_price_move)
    buy_weight_volume_spike = _weight(SignalParams.weight_volume_spike)
    buy_weight_breakout = _weight(SignalParams.weight_breakout)
    buy_weight_reversal = _weight(SignalParams.weight_reversal)
    buy_weight_momentum = _weight(SignalParams.weight_momentum)
    sell_take_profit_scale = DecimalParameter(0.5, 1.5, default=1.0, decimals=2, space="sell")
    sell_max_hold_scale = DecimalParameter(0.5, 1.5, default=1.0, decimals=2, space="sell")

    plot_config = {
        "main_plot": {"ma_fast": {"color": "orange"}, "ma_slow": {"color": "blue"},
                      "breakout_level": {"color": "grey"}},
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
        self._regime_tf = timeframe if timeframe_to_minutes(timeframe) > 60 else "1h"
        self._regime_params = SignalParams.for_timeframe(self._regime_tf)
        self.startup_candle_count = max(
            self._signal_base.warmup_candles(include_regime=False),
            self._regime_params.regime_warmup_candles(),
            self._signal_base.candles(24) + 1,
        )
        self._regime_pair: str | None = None
        self._usd_pair: str | None = None
        self._no_regime_data: set[str] = set()
        self._regime_cache: dict[str, tuple[tuple[int, Any], DataFrame]] = {}

    def ft_bot_start(self, **kwargs: Any) -> None:
        super().ft_bot_start(**kwargs)  # loads hyperopt values from the parameter file
        try:
            self._entry_params()
        except ValueError as exc:
            raise OperationalException(f"Trader247Strategy: {exc}") from None
        self._rules = self.trader247_settings.universe_rules
        stake = self.config["stake_currency"]
        btc = f"BTC/{stake}"
        self._regime_pair = btc if self.dp.market(btc) else None
        source = (f"{btc} {self._regime_tf}" if self._regime_pair
                  else f"each pair's own {self._regime_tf} candles ({btc} does not exist)")
        logger.info("Trader247Strategy: market regime from %s", source)
        if stake != "USD" and stake not in self._rules.pegged_quotes:
            self._usd_pair = f"{stake}/USD" if self.dp.market(f"{stake}/USD") else None
            if self._usd_pair is None:
                logger.warning("Trader247Strategy: no %s/USD market: only force-eligible pairs "
                               "are eligible in backtests (no USD volume)", stake)

    def informative_pairs(self) -> list[tuple[str, str]]:
        pairs = [(self._regime_pair, self._regime_tf)] if self._regime_pair else [
            (pair, self._regime_tf) for pair in self.dp.current_whitelist()]
        if self._usd_pair:
            pairs.append((self._usd_pair, self.timeframe))
        return pairs

    def _entry_params(self) -> SignalParams:
        weights = {f"weight_{name}": getattr(self, f"buy_weight_{name}").value
                   for name in TRIGGERS}
        return self._signal_base.with_changes(
            conviction_threshold=self.buy_conviction.value, **weights)

    # ------------------------------------------------------------------ signals
    def _merge_regime(self, df: DataFrame, pair: str) -> DataFrame:
        source = self._regime_pair or pair
        inf = self.dp.get_pair_dataframe(source, self._regime_tf)
        if inf.empty:
            if source not in self._no_regime_data:
                self._no_regime_data.add(source)
                logger.warning("Trader247Strategy: no %s %s candles: regime unknown, no entries",
                               source, self._regime_tf)
            df["regime"] = Regime.UNKNOWN.value
            return df
        inf = self._regime_frame(source, inf)
        df = merge_informative_pair(df, inf, self.timeframe, self._regime_tf, ffill=True,
                                    append_timeframe=False, suffix="mkt")
        df["regime"] = df.pop("regime_mkt").fillna(Regime.UNKNOWN.value)
        return df.drop(columns=["date_mkt"])

    def _regime_frame(self, source: str, candles: DataFrame) -> DataFrame:
        """BTC's regime per candle, computed once per new BTC candle rather than once per pair."""
        key = (len(candles), candles["date"].iat[-1])
        cached = self._regime_cache.get(source)
        if cached is None or cached[0] != key:
            frame = DataFrame({"date": candles["date"],
                               "regime": regime(candles["close"], self._regime_params)})
            cached = self._regime_cache[source] = (key, frame)
        return cached[1]

    def _eligibility(self, df: DataFrame, pair: str) -> DataFrame:
        quote_usd: Any = 1.0
        if self.config["stake_currency"] not in ("USD", *self._rules.pegged_quotes):
            usd = self.dp.get_pair_dataframe(self._usd_pair, self.timeframe) if self._usd_pair \
                else DataFrame()
            quote_usd = float("nan") if usd.empty else df[["date"]].merge(
                usd[["date", "close"]], on="date", how="left")["close"].to_numpy()
        window = self._signal_base.candles(24)
        df["usd_volume_24h"] = rolling_usd_volume(df["close"], df["volume"], window, quote_usd)
        df["eligible"] = eligible_series(pair, df["usd_volume_24h"], self._rules)
        return df

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        df = self._merge_regime(dataframe, metadata["pair"])
        df = self._eligibility(df, metadata["pair"])
        return add_indicators(df, self._signal_base)

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        params = self._entry_params()
        if sum(params.weights.values()) == 0:  # hyperopt may draw all-zero weights: no entries
            dataframe["enter_long"] = 0
            return dataframe
        return add_entries(dataframe, params)

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        # A crash of the whole market is a reason to be out, whichever trigger brought us in.
        crash = dataframe["regime"] == Regime.CRASH.value
        dataframe.loc[crash, ["exit_long", "exit_tag"]] = (1, "regime_crash")
        return dataframe

    # ------------------------------------------------------------------ sizing and exits
    def custom_stake_amount(self, pair: str, current_time: datetime, current_rate: float,
                            proposed_stake: float, min_stake: float | None, max_stake: float,
                            leverage: float, entry_tag: str | None, side: str,
                            **kwargs: Any) -> float:
        if entry_tag == "force_entry":
            return proposed_stake  # an operator's /forceenter stake is theirs (the cap still clamps)
        tier = tier_of(pair, self._rules)
        pct = self.trader247_settings.policy.sizing.stake_pct(None if tier is None else tier.name)
        equity = float(self.wallets.get_total_stake_amount())
        return min(equity * pct / 100.0, max_stake)

    def custom_stoploss(self, pair: str, trade: Trade, current_time: datetime,
                        current_rate: float, current_profit: float, after_fill: bool,
                        **kwargs: Any) -> float | None:
        # From the entry PRICE: stoploss_from_open works on the fee-adjusted profit, which with
        # 2 x 1.2 % fees would put a "6 %" stop 3.6 % under the entry.
        stop_rate = trade.open_rate * (1 - exit_rule(trade.enter_tag).stop_loss)
        return stoploss_from_absolute(stop_rate, current_rate, is_short=trade.is_short,
                                      leverage=trade.leverage)

    def custom_exit(self, pair: str, trade: Trade, current_time: datetime, current_rate: float,
                    current_profit: float, **kwargs: Any) -> str | None:
        rule = exit_rule(trade.enter_tag)
        tag = trade.enter_tag or "untagged"
        if current_profit >= rule.take_profit * self.sell_take_profit_scale.value:
            return f"take_profit_{tag}"
        held = current_time - trade.open_date_utc
        if held >= timedelta(hours=rule.max_hold_hours * self.sell_max_hold_scale.value):
            return f"max_hold_{tag}"
        return None
