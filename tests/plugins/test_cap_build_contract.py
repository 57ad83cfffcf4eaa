"""Which parts ``cap_build.build_cap_adapter`` gives a strategy in each run mode, and what each
part reads of freqtrade's objects (``config``, ``dp``, ``wallets``, ``timeframe``, ``stoploss``).

Parts are checked by what they do (a chat message sent, a mark read from the data file, an
exchange minimum asked with the strategy's stoploss, a state restored from the database), not by
their attributes. The fleet's database is replaced by recording fakes of ``FleetStore.connect``
and ``CapFleet`` (the real membership needs PostgreSQL: tests/plugins/test_cap_fleet.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from freqtrade.enums import RunMode
from freqtrade.persistence import PairLocks, Trade, init_db

from trader247.adapters import cap_build
from trader247.adapters.cap_fleet import CANNOT_SELL, this_instance
from trader247.adapters.cap_persistence import STATE_KEY
from trader247.adapters.fleet_store import FleetConfigError, FleetUnavailable
from trader247.adapters.observability import RUNTIME_KEY, Runtime
from trader247.adapters.settings import Settings, Trader247ConfigError, load_settings
from trader247.adapters.state_store import StateStore
from trader247.core.exposure import Position, Snapshot
from trader247.core.trims import TrimState
from trader247.metrics.exporter import Metrics

from .test_cap_mixin import REPO

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
TRADING = [RunMode.DRY_RUN, RunMode.LIVE]
TESTING = [RunMode.BACKTEST, RunMode.HYPEROPT]


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    init_db("sqlite://")
    PairLocks.use_db = True
    yield
    Trade.session.remove()


class Exchange:
    """freqtrade's exchange as the cap reads it: minimum stakes and tickers."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float, float]] = []

    def get_min_pair_stake_amount(self, pair: str, price: float, stoploss: float) -> float:
        self.asked.append((pair, price, stoploss))
        return 12.5

    def fetch_ticker(self, pair: str) -> dict[str, Any]:
        return {"symbol": pair, "last": 101.0}


def strategy(runmode: RunMode, *, exchange: Any = None, internals: dict[str, Any] | None = None,
             with_dp: bool = True, wallets: bool = True) -> Any:
    """A strategy as freqtrade hands it to ``ft_bot_start``; chat goes to ``.sent``, the
    analyzed-candle requests to ``.analyzed``."""
    config: dict[str, Any] = {
        # dry_run: the shipped config has no exchange keys; the cap reads the run mode only
        "stake_currency": "USD", "dry_run": True, "runmode": runmode,
        "config_files": [str(REPO / "config" / "config.json")],
        "datadir": REPO / "user_data" / "data" / "coinbase",
        RUNTIME_KEY: Runtime(metrics=Metrics(process_collectors=False))}
    if internals is not None:
        config["internals"] = internals
    bot = SimpleNamespace(config=config, timeframe="1h", stoploss=-0.1, sent=[], analyzed=[])
    if with_dp:
        bot.dp = SimpleNamespace(
            _exchange=exchange,
            ticker=lambda pair: {"last": 100.0},
            send_msg=lambda text, **kwargs: bot.sent.append((text, kwargs)),
            get_analyzed_dataframe=lambda *args: bot.analyzed.append(args) or (pd.DataFrame(),
                                                                             NOW))
    if wallets:
        bot.wallets = SimpleNamespace(get_total=lambda currency: 1000.0 if currency == "USD"
                                      else 0.0, get_all_balances=dict)
    return bot


# ------------------------------------------------------------------ per run mode
@pytest.mark.parametrize("runmode", TRADING)
def test_dry_run_and_live_get_live_marks_the_guard_chat_metrics_and_the_stored_state(
        runmode: RunMode) -> None:
    bot = strategy(runmode, exchange=Exchange(), internals={"process_throttle_secs": 7})
    adapter = cap_build.build_cap_adapter(bot)
    assert adapter.backtesting is False
    assert adapter.controller.cycle_seconds == 7.0  # a trim round's time in the plan line
    assert adapter.controller.stake_currency == "USD"
    assert adapter.locks.watch is True  # a deleted lock is put back while REDUCING
    # marks: the ticker now (the price tape is installed on the bot's exchange)
    assert adapter.marks.price("BTC/USD", 50.0, NOW) == 100.0
    assert adapter.marks.tape is not None
    assert bot.dp._exchange.fetch_ticker._trader247_tape is adapter.marks.tape
    adapter.marks.analyzed("ETH/USD")
    assert bot.analyzed == [("ETH/USD", "1h")]
    # the stale-candle guard reads the strategy's analyzed candles of its timeframe
    assert adapter.freshness is not None
    assert (adapter.freshness.timeframe, adapter.freshness.max_missing_candles) == ("1h", 0)
    adapter.freshness.analyzed("SOL/USD")
    assert bot.analyzed[-1] == ("SOL/USD", "1h")
    # chat: always sent (freqtrade's notification settings do not silence the cap)
    assert adapter.reporter is not None
    adapter.reporter.send("hello")
    assert bot.sent == [("hello", {"always_send": True})]
    assert adapter.reporter.closed_profit == Trade.get_total_closed_profit
    assert adapter.reporter.runtime is bot.config[RUNTIME_KEY]
    assert adapter.trims.record_latency == bot.config[RUNTIME_KEY].record_trim_latency
    assert adapter.persistence is not None
    assert adapter.fleet is None  # fleet.enabled is false in the shipped policy
    assert adapter.open_trades() == []  # freqtrade's open trades, read from its database
    assert adapter.settings.policy_path == REPO / "config" / "policy.yaml"
    assert adapter.exposure.ticker is bot.dp.ticker
    assert adapter.exposure.wallets is bot.wallets
    assert adapter.exposure.stake_currency == "USD"
    assert adapter.exposure.count_external == adapter.settings.cap_policy.count_external_holdings


@pytest.mark.parametrize("runmode", TESTING)
def test_backtests_mark_at_the_candles_and_report_nothing(runmode: RunMode) -> None:
    bot = strategy(runmode, exchange=Exchange(), internals={"process_throttle_secs": 7})
    del bot.config[RUNTIME_KEY]
    adapter = cap_build.build_cap_adapter(bot)
    assert adapter.backtesting is True
    assert adapter.controller.cycle_seconds == 3600.0  # one candle of the strategy's timeframe
    assert adapter.locks.watch is False
    assert (adapter.freshness, adapter.reporter, adapter.persistence, adapter.fleet) == (
        None, None, None, None)
    assert adapter.exposure.ticker is None  # no tickers in backtests
    assert adapter.trims.record_latency is cap_build._no_latency
    assert RUNTIME_KEY not in bot.config  # no metrics, no exporter for a backtest


def test_a_backtest_marks_at_the_close_of_the_data_file_of_the_strategys_timeframe() -> None:
    adapter = cap_build.build_cap_adapter(strategy(RunMode.BACKTEST))
    frame = cap_build.freqtrade_candles({"datadir": REPO / "user_data" / "data" / "coinbase"},
                                        "1h")("BTC/USD")
    assert len(frame) > 10
    candle = frame.iloc[5]
    closed_at = candle["date"].to_pydatetime() + pd.Timedelta(hours=1)
    assert adapter.marks.price("BTC/USD", -1.0, closed_at) == pytest.approx(candle["close"])


def test_a_backtest_strategy_without_a_data_provider_or_wallets_still_gets_its_cap() -> None:
    adapter = cap_build.build_cap_adapter(strategy(RunMode.BACKTEST, with_dp=False,
                                                   wallets=False))
    assert adapter.exposure.ticker is None and adapter.exposure.wallets is None
    assert adapter.min_stakes(Snapshot(100.0, (Position("BTC/USD", 1.0, 50.0),))) == {
        "BTC/USD": 0.0}
    assert adapter.increase_min_stake("BTC/USD", 50.0) is None


@pytest.mark.parametrize(("internals", "cycle_seconds"), [
    ({"process_throttle_secs": 7}, 7.0), ({}, 5.0), (None, 5.0)])
def test_a_bots_cycle_is_freqtrades_throttle_default_5_seconds(
        internals: dict[str, Any] | None, cycle_seconds: float) -> None:
    adapter = cap_build.build_cap_adapter(strategy(RunMode.DRY_RUN, internals=internals))
    assert adapter.controller.cycle_seconds == cycle_seconds


def test_without_an_exchange_object_live_marks_have_no_tape() -> None:
    adapter = cap_build.build_cap_adapter(strategy(RunMode.DRY_RUN))
    assert adapter.marks.tape is None
    assert adapter.marks.price("BTC/USD", 50.0, NOW) == 100.0


def test_minimum_stakes_ask_the_bots_exchange_with_the_strategys_stoploss_of_now() -> None:
    bot = strategy(RunMode.BACKTEST, exchange=Exchange())
    adapter = cap_build.build_cap_adapter(bot)
    bot.stoploss = -0.25  # hyperopt changes it per epoch
    assert adapter.min_stakes(Snapshot(100.0, (Position("BTC/USD", 1.0, 50.0),))) == {
        "BTC/USD": 12.5}
    assert adapter.increase_min_stake("ETH/USD", 20.0) == 12.5
    assert bot.dp._exchange.asked == [("BTC/USD", 50.0, -0.25), ("ETH/USD", 20.0, 0.0)]


def test_a_dry_run_restores_the_stored_state_and_writes_every_change_ahead() -> None:
    store = StateStore.of_freqtrade()
    store.save(STATE_KEY, json.dumps({"cycle": 41, "trim_state": TrimState().to_dict()}))
    adapter = cap_build.build_cap_adapter(strategy(RunMode.DRY_RUN))
    assert adapter.controller.cycle == 41
    assert adapter.controller.on_change == adapter.persist
    adapter.controller.cycle = 42
    assert adapter.controller.on_change() is True
    assert json.loads(store.load(STATE_KEY) or "{}")["cycle"] == 42


def test_a_backtest_neither_reads_nor_writes_the_stored_state() -> None:
    StateStore.of_freqtrade().save(STATE_KEY, json.dumps({"cycle": 41, "trim_state": TrimState().to_dict()}))
    adapter = cap_build.build_cap_adapter(strategy(RunMode.BACKTEST))
    assert adapter.controller.cycle == 0 and adapter.controller.on_change is None


def test_settings_passed_in_are_used_as_they_are() -> None:
    bot = strategy(RunMode.BACKTEST)
    settings = load_settings(bot.config)
    assert cap_build.build_cap_adapter(bot, settings).settings is settings


# ------------------------------------------------------------------ fleet
class Member:
    """``CapFleet`` as built: records its arguments and what it joined with."""

    made: list[Member] = []

    def __init__(self, store: Any, bot: str, cap_pct: float, instance: str, clock: Any, *,
                 shared_wallet: bool) -> None:
        self.args = (store, bot, cap_pct, instance, clock, shared_wallet)
        self.joined: list[float | None] = []
        Member.made.append(self)

    def join(self, balance: float | None) -> None:
        self.joined.append(balance)

    def stale_bots(self) -> set[str]:
        return {"old-bot"}


@pytest.fixture
def fleet_fakes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """``FleetStore.connect`` records its arguments; ``CapFleet`` is :class:`Member`."""
    connected: list[tuple[Any, ...]] = []

    def connect(url: str, fleet: Any, *, key: str) -> str:
        connected.append((url, fleet, key))
        return "store"

    monkeypatch.setattr(cap_build.FleetStore, "connect", staticmethod(connect))
    monkeypatch.setattr(cap_build, "CapFleet", Member)
    Member.made = []
    return connected


def fleet_settings(bot: Any, db_url: str | None) -> Settings:
    settings = load_settings(bot.config)
    fleet = settings.policy.fleet.model_copy(update={"enabled": True, "db_url": db_url})
    return replace(settings, policy=settings.policy.model_copy(update={"fleet": fleet}))


@pytest.mark.parametrize(("runmode", "shared_wallet"), [
    (RunMode.DRY_RUN, False), (RunMode.LIVE, True)])
def test_a_fleet_member_joins_under_its_bot_name_with_its_balance(
        runmode: RunMode, shared_wallet: bool, fleet_fakes: list[tuple[Any, ...]]) -> None:
    bot = strategy(runmode, exchange=Exchange())
    bot.config.update(bot_name="bot-a", db_url="sqlite://freqtrade")
    settings = fleet_settings(bot, "postgresql://fleet")
    adapter = cap_build.build_cap_adapter(bot, settings)
    assert fleet_fakes == [("postgresql://fleet", settings.policy.fleet.to_core(),
                            "fleet.db_url")]
    [member] = Member.made
    assert adapter.fleet is member
    assert member.args == ("store", "bot-a", settings.cap_policy.max_total_at_risk_pct,
                           this_instance(), time.time, shared_wallet)
    assert member.joined == [1000.0]
    # trims: a stale member's positions cannot be sold; the others' at the exchange minimum
    held = Snapshot(100.0, (Position("old-bot|BTC/USD", 1.0, 50.0),
                            Position("bot-a|ETH/USD", 1.0, 20.0)))
    assert adapter.min_stakes(held) == {"old-bot|BTC/USD": CANNOT_SELL, "bot-a|ETH/USD": 12.5}


def test_a_fleet_without_its_own_url_uses_freqtrades_database_and_says_so(
        fleet_fakes: list[tuple[Any, ...]]) -> None:
    bot = strategy(RunMode.DRY_RUN, wallets=False)
    bot.config["db_url"] = "postgresql://freqtrade"
    cap_build.build_cap_adapter(bot, fleet_settings(bot, None))
    assert [(url, key) for url, _fleet, key in fleet_fakes] == [
        ("postgresql://freqtrade", "fleet.db_url (null: freqtrade's db_url)")]
    [member] = Member.made
    assert member.args[1] == "freqtrade"  # freqtrade's own default bot_name
    assert member.joined == [None]  # no wallet to read: the balance is not published


def test_a_fleet_without_any_url_is_refused_by_the_store(
        fleet_fakes: list[tuple[Any, ...]]) -> None:
    bot = strategy(RunMode.DRY_RUN)
    cap_build.build_cap_adapter(bot, fleet_settings(bot, None))
    assert [url for url, _fleet, _key in fleet_fakes] == [""]


@pytest.mark.parametrize("runmode", TESTING)
def test_backtests_never_join_a_fleet(runmode: RunMode,
                                      fleet_fakes: list[tuple[Any, ...]]) -> None:
    bot = strategy(runmode)
    assert cap_build.build_cap_adapter(bot, fleet_settings(bot, "postgresql://x")).fleet is None
    assert fleet_fakes == [] and Member.made == []


@pytest.mark.parametrize("error", [FleetConfigError("not PostgreSQL"),
                                   FleetUnavailable("connection refused")])
def test_a_fleet_that_cannot_be_joined_stops_the_bot_with_one_message(
        error: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    def connect(*_args: Any, **_kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(cap_build.FleetStore, "connect", staticmethod(connect))
    bot = strategy(RunMode.LIVE)
    settings = fleet_settings(bot, "postgresql://fleet")
    with pytest.raises(Trader247ConfigError) as raised:
        cap_build.build_cap_adapter(bot, settings)
    assert str(raised.value) == f"247trader fleet: {settings.policy_path}: {error}"
