"""Builds a strategy's :class:`~trader247.adapters.cap_adapter.CapAdapter` from freqtrade's
objects: the one place that reads the strategy's ``config``, ``dp``, ``wallets``, ``timeframe``
and ``stoploss`` and decides which parts a run mode gets.

- dry-run / live: live marks (price tape on the bot's exchange object), the stale-candle guard,
  chat and metrics, the state in the database (restored here, written ahead on every change);
- backtesting / hyperopt: marks from the candles freqtrade backtests, nothing persisted or sent.

- fleet (``fleet.enabled``, dry-run / live only): connect to the fleet's PostgreSQL database and
  join under freqtrade's ``bot_name`` at start; any problem stops the bot with one message
  (:class:`~trader247.adapters.settings.Trader247ConfigError`).

``dp._exchange`` is read here only (:func:`bot_exchange`): freqtrade's DataProvider has no
public accessor for the exchange object, and the price tape, the exchange's minimum stakes and the
order path (``ExposureCapMixin.ft_bot_start``) need it.
"""

from __future__ import annotations

import time
from typing import Any

from freqtrade.enums import RunMode
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.persistence import Trade

from trader247.adapters.backtest_marks import BacktestMarks, freqtrade_candles
from trader247.adapters.cap_adapter import CapAdapter
from trader247.adapters.cap_controller import CapController
from trader247.adapters.cap_exposure import (
    ExposureReader,
    exchange_increase_min_stake,
    exchange_min_stakes,
)
from trader247.adapters.cap_fleet import CapFleet, fleet_min_stakes, this_instance
from trader247.adapters.cap_freshness import CandleFreshness
from trader247.adapters.cap_locks import LockSync
from trader247.adapters.cap_marks import BacktestMarkSource, LiveMarks, MarkSource
from trader247.adapters.cap_persistence import CapStatePersistence
from trader247.adapters.cap_reporter import CapReporter
from trader247.adapters.cap_trims import TrimExecutor
from trader247.adapters.fleet_store import FleetConfigError, FleetStore, FleetUnavailable
from trader247.adapters.observability import runtime_of
from trader247.adapters.price_tape import PriceTape
from trader247.adapters.settings import Settings, Trader247ConfigError, load_settings
from trader247.adapters.state_store import StateStore

CAP_RUNMODES = (RunMode.DRY_RUN, RunMode.LIVE, RunMode.BACKTEST, RunMode.HYPEROPT)
PERSISTENT_RUNMODES = (RunMode.DRY_RUN, RunMode.LIVE)
BACKTEST_RUNMODES = (RunMode.BACKTEST, RunMode.HYPEROPT)


def open_trades() -> list[Any]:
    """The iteration's one open-trades query: the snapshot, a re-mark and the report share it."""
    trades: list[Any] = Trade.get_open_trades()
    return trades


def _no_latency(_seconds: float) -> None:
    return None


def persistent(config: dict[str, Any]) -> bool:
    return config.get("runmode") in PERSISTENT_RUNMODES


def bot_exchange(dp: Any) -> Any | None:
    """The bot's exchange object behind freqtrade's DataProvider (None without one): the one read
    of ``DataProvider._exchange`` (``trader247.freqtrade_surface``)."""
    return getattr(dp, "_exchange", None)


def _marks(strategy: Any, backtesting: bool) -> MarkSource:
    timeframe = strategy.timeframe
    if backtesting:
        return BacktestMarkSource(BacktestMarks(freqtrade_candles(strategy.config, timeframe),
                                                timeframe_to_seconds(timeframe)))
    dp = strategy.dp
    exchange = bot_exchange(dp)
    return LiveMarks(ticker=dp.ticker,
                     analyzed=lambda pair: dp.get_analyzed_dataframe(pair, timeframe),
                     tape=PriceTape.install(exchange) if exchange is not None else None)


def build_fleet(config: dict[str, Any], settings: Settings, wallets: Any) -> CapFleet | None:
    """This bot's fleet membership, joined; None unless ``fleet.enabled`` (dry-run / live)."""
    fleet = settings.policy.fleet
    if not fleet.enabled or not persistent(config):
        return None
    key = "fleet.db_url" if fleet.db_url else "fleet.db_url (null: freqtrade's db_url)"
    bot = str(config.get("bot_name") or "freqtrade")
    try:
        store = FleetStore.connect(fleet.db_url or str(config.get("db_url") or ""),
                                   fleet.to_core(), key=key)
        member = CapFleet(store, bot, settings.cap_policy.max_total_at_risk_pct,
                          this_instance(), time.time,
                          shared_wallet=config.get("runmode") is RunMode.LIVE)
        member.join(float(wallets.get_total(config["stake_currency"])) if wallets else None)
    except (FleetConfigError, FleetUnavailable) as exc:
        raise Trader247ConfigError(f"247trader fleet: {settings.policy_path}: {exc}") from None
    return member


def build_cap_adapter(strategy: Any, settings: Settings | None = None) -> CapAdapter:
    config: dict[str, Any] = strategy.config
    settings = settings or load_settings(config)
    backtesting = config.get("runmode") in BACKTEST_RUNMODES
    stored = persistent(config)
    controller = CapController(
        policy=settings.cap_policy, stake_currency=config["stake_currency"],
        cycle_seconds=float(timeframe_to_seconds(strategy.timeframe)) if backtesting
        else float(config.get("internals", {}).get("process_throttle_secs", 5)))
    marks = _marks(strategy, backtesting)
    # Backtests read neither tickers nor chat: a strategy object without a DataProvider yet
    # (freqtrade sets ``dp`` before ft_bot_start) still gets its cap.
    dp = getattr(strategy, "dp", None)
    guard = settings.policy.stale_data
    # Backtests report nothing: no runtime is added to their config.
    runtime = None if backtesting else runtime_of(config)
    fleet = build_fleet(config, settings, getattr(strategy, "wallets", None))
    min_stakes = exchange_min_stakes(bot_exchange(dp), lambda: strategy.stoploss)
    adapter = CapAdapter(
        settings=settings, controller=controller, backtesting=backtesting,
        exposure=ExposureReader(config["stake_currency"], marks, getattr(strategy, "wallets", None),
                                settings.cap_policy.count_external_holdings,
                                None if backtesting or dp is None else dp.ticker),
        marks=marks, open_trades=open_trades, locks=LockSync(watch=stored),
        trims=TrimExecutor(controller, runtime.record_trim_latency if runtime else _no_latency),
        min_stakes=min_stakes if fleet is None else fleet_min_stakes(min_stakes,
                                                                     fleet.stale_bots),
        freshness=CandleFreshness(lambda pair: dp.get_analyzed_dataframe(pair, strategy.timeframe),
                                  strategy.timeframe, guard.max_missing_candles)
        if stored and guard.block_entries and dp is not None else None,
        reporter=CapReporter(lambda text: dp.send_msg(text, always_send=True),
                             Trade.get_total_closed_profit, runtime)
        if runtime is not None and dp is not None else None,
        persistence=CapStatePersistence(StateStore.of_freqtrade()) if stored else None,
        fleet=fleet,
        increase_min_stake=exchange_increase_min_stake(bot_exchange(dp)),
    )
    if adapter.persistence is not None:
        adapter.persistence.restore_and_settle(controller)
        controller.on_change = adapter.persist
    return adapter
