"""What the cap adapter (``cap_adapter.CapAdapter``) does once per loop and per entry, seen
through the strategy's hooks as freqtrade calls them.

Dry-run bots read real freqtrade ``Trade`` / ``Order`` rows from an in-memory database and report
to a real metrics registry (no HTTP server); backtest bots use freqtrade's in-memory lock store.
The fleet is the one part replaced by a fake (its real behaviour needs PostgreSQL and is tested in
tests/plugins/test_cap_fleet.py). Shipped policy: cap 25 %, target 23 %, a round every 3 cycles.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from freqtrade.enums import RunMode
from freqtrade.persistence import PairLocks, Trade, init_db
from tests.plugins.cap_fakes import FixedExposure, with_parts
from tests.strategy_double import StrategyDouble

from trader247.adapters.observability import RUNTIME_KEY, Runtime
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.metrics.exporter import Metrics
from trader247.strategy import ExposureCapMixin

from .test_cap_mixin import REPO
from .test_cap_orm import buy, order, trade

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
ADAPTER = "trader247.adapters.cap_adapter"


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    init_db("sqlite://")
    PairLocks.use_db = True
    PairLocks.timeframe = "1h"
    yield
    PairLocks.use_db = False
    PairLocks.reset_locks()
    PairLocks.use_db = True
    PairLocks.timeframe = ""
    Trade.session.remove()


class Bot(ExposureCapMixin, StrategyDouble):
    pass


class DcaBot(ExposureCapMixin, StrategyDouble):
    """A strategy with its own position adjustment: answers ``self.dca``."""

    dca: Any = None

    def adjust_trade_position(self, **kwargs: Any) -> Any:
        return self.dca


def strategy(cls: type, runmode: RunMode, balance: float,
             prices: dict[str, float | None] | None = None) -> tuple[Any, list[str]]:
    """A bot of ``cls`` with ``balance`` USD; dry-run marks at ``prices`` (tickers), chat sent
    to the returned list, metrics in ``strategy.config[RUNTIME_KEY].metrics``."""
    bot = cls()
    bot.config = {"stake_currency": "USD", "dry_run": True, "runmode": runmode,
                  "config_files": [str(REPO / "config" / "config.json")],
                  "internals": {"process_throttle_secs": 5},
                  RUNTIME_KEY: Runtime(metrics=Metrics(process_collectors=False))}
    sent: list[str] = []
    quotes = prices or {}
    bot.dp = SimpleNamespace(
        ticker=lambda pair: {"last": quotes[pair]} if quotes.get(pair) else None,
        send_msg=lambda text, **_k: sent.append(text),
        get_analyzed_dataframe=lambda *_a: (pd.DataFrame(), NOW))
    bot.wallets = SimpleNamespace(get_total=lambda _currency: balance)
    bot.timeframe, bot.stoploss = "1h", -0.1
    return bot, sent


def backtest(cls: type, balance: float, held: float) -> Any:
    """A backtest bot holding ``held`` of BTC at $100 (its exposure reader answers so)."""
    PairLocks.use_db = False  # freqtrade's backtests keep locks in memory
    PairLocks.reset_locks()
    bot, _ = strategy(cls, RunMode.BACKTEST, balance)
    positions = (Position("BTC/USD", held / 100.0, 100.0),) if held else ()
    with_parts(bot, exposure=FixedExposure(Snapshot(balance, positions)), open_trades=lambda: [])
    return bot


def adapter_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == ADAPTER]


def gauge(bot: Any, name: str, **labels: str) -> float | None:
    value: float | None = bot.config[RUNTIME_KEY].metrics.registry.get_sample_value(name, labels)
    return value


# ------------------------------------------------------------------ the loop
def test_the_loop_tells_the_plan_the_lock_and_the_round_once(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bot = backtest(Bot, balance=700.0, held=300.0)  # 30 % > 25 %
    bot.bot_loop_start(current_time=NOW)
    assert adapter_lines(caplog) == [
        ("WARNING", "at_risk 30.0% > cap 25.0%: trimming $70.00 over ~1 round (~180 min)"),
        ("WARNING", "CAP_LOCK_PLACED: EXPOSURE_OVER_CAP: at_risk=30.0% cap=25.0% target=23.0%: "
                    "entries blocked until exposure is back under target"),
        ("INFO", "TRIM_ROUND: at_risk=30.0% cap=25.0% orders=1 selling=70 to_trim=70 cycle=1 "
                 "pairs=BTC/USD")]
    caplog.clear()
    bot.bot_loop_start(current_time=NOW + timedelta(hours=1))  # no round, no change
    assert adapter_lines(caplog) == []
    bot.cap_adapter.exposure = FixedExposure(Snapshot(900.0, (Position("BTC/USD", 1.0, 100.0),)))
    bot.bot_loop_start(current_time=NOW + timedelta(hours=2))
    assert adapter_lines(caplog) == [
        ("INFO", "CAP_LOCK_LIFTED: exposure back under target: entries resume (lock lifted)")]
    assert PairLocks.get_pair_locks("*", NOW + timedelta(hours=2)) == []


def test_a_round_of_several_trims_names_each_pair_once(caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    caplog.set_level(logging.INFO)
    bot = backtest(Bot, balance=400.0, held=0.0)
    with_parts(bot, exposure=FixedExposure(Snapshot(400.0, (
        Position("BTC/USD", 3.0, 100.0), Position("ETH/USD", 3.0, 100.0)))),
               open_trades=lambda: [])
    bot.bot_loop_start(current_time=NOW)
    assert adapter_lines(caplog)[-1] == (
        "INFO", "TRIM_ROUND: at_risk=60.0% cap=25.0% orders=2 selling=370 to_trim=370 cycle=1 "
                "pairs=BTC/USD,ETH/USD")


def test_a_dry_run_tells_the_lock_with_the_at_risk_and_target_of_this_iteration() -> None:
    trade("BTC/USD", buy(3.0, 100.0))
    bot, sent = strategy(Bot, RunMode.DRY_RUN, 700.0, {"BTC/USD": 100.0})
    bot.bot_loop_start(current_time=NOW)
    assert sent[0] == ('🔒 CAP_LOCK_PLACED: global lock "EXPOSURE_OVER_CAP: at_risk=30.0% '
                       'cap=25.0% target=23.0%" (FreqUI Pair Locks, /locks): no entries until '
                       'at_risk <= target 23.0%.')
    bot.cap_adapter.exposure = FixedExposure(Snapshot(900.0, (Position("BTC/USD", 1.0, 100.0),)))
    bot.bot_loop_start(current_time=NOW + timedelta(seconds=5))
    assert sent[3] == ("🔓 CAP_LOCK_LIFTED: at_risk 10.0%, back at or below target 23.0%: the "
                       "EXPOSURE_OVER_CAP lock is lifted, entries allowed.")


@pytest.mark.parametrize(("amount", "balance", "tickers"), [
    (1.0, 900.0, 1),   # under the cap: the iteration's mark is enough
    (3.0, 700.0, 2),   # over it: marked again at current prices before the trim is sized
])
def test_a_dry_run_loop_fetches_prices_again_only_over_the_cap(
        amount: float, balance: float, tickers: int) -> None:
    trade("BTC/USD", buy(amount, 100.0))
    bot, _ = strategy(Bot, RunMode.DRY_RUN, balance)
    asked: list[str] = []
    bot.dp.ticker = lambda pair: asked.append(pair) or {"last": 100.0}
    bot.bot_loop_start(current_time=NOW)
    assert asked == ["BTC/USD"] * tickers


@pytest.mark.parametrize(("hours", "cycles"), [
    ((0, 1, 2), (1, 2, 3)),      # one run, candle after candle
    ((0, 1, 1), (1, 2, 1)),      # the same candle again: a new run (a one-candle hyperopt epoch)
    ((0, 1, 0), (1, 2, 1)),      # back to the first candle: the next hyperopt epoch
])
def test_a_loop_time_not_after_the_last_starts_a_fresh_cap(
        hours: tuple[int, ...], cycles: tuple[int, ...]) -> None:
    bot = backtest(Bot, balance=700.0, held=300.0)
    seen = []
    for hour in hours:
        bot.bot_loop_start(current_time=NOW + timedelta(hours=hour))
        seen.append(bot.cap.cycle)
    assert tuple(seen) == cycles
    assert bot.cap.state is CapState.REDUCING  # the new run measured its own first candle


def test_a_fresh_run_lifts_the_previous_runs_lock_on_its_first_calm_candle() -> None:
    bot = backtest(Bot, balance=700.0, held=300.0)
    bot.bot_loop_start(current_time=NOW)
    assert len(PairLocks.get_pair_locks("*", NOW)) == 1
    bot.cap_adapter.exposure = FixedExposure(Snapshot(1000.0, ()))
    bot.bot_loop_start(current_time=NOW)  # the next epoch starts calm
    assert bot.cap.state is CapState.ACTIVE
    assert PairLocks.get_pair_locks("*", NOW) == []


class Minimums:
    """The ``min_stakes`` part: each position's exchange minimum, recording what it measured."""

    def __init__(self, minimum: float) -> None:
        self.minimum = minimum
        self.asked: list[tuple[str, ...]] = []

    def __call__(self, snapshot: Snapshot) -> dict[str, float]:
        self.asked.append(tuple(p.pair for p in snapshot.positions))
        return {p.pair: self.minimum for p in snapshot.positions}


@pytest.mark.parametrize(("minimum", "sold"), [
    (1.0, [70.0]),      # the $70 over the target
    (100.0, [100.0]),   # raised to the exchange minimum
    (300.01, []),       # a cent more than the whole position: nothing tradeable
])
def test_over_the_cap_the_exchange_minimums_bound_the_trim(minimum: float,
                                                           sold: list[float]) -> None:
    bot = backtest(Bot, balance=700.0, held=300.0)
    minimums = Minimums(minimum)
    bot.cap_adapter.min_stakes = minimums
    bot.bot_loop_start(current_time=NOW)
    plan = bot.cap.last_plan
    assert plan is not None and [o.stake_to_sell for o in plan.orders] == pytest.approx(sold)
    assert minimums.asked == [("BTC/USD",)]


def test_under_the_cap_no_exchange_minimum_is_looked_up() -> None:
    bot = backtest(Bot, balance=900.0, held=100.0)
    minimums = Minimums(1.0)
    bot.cap_adapter.min_stakes = minimums
    bot.bot_loop_start(current_time=NOW)
    assert minimums.asked == []


@pytest.mark.parametrize(("runmode", "judged"), [(RunMode.DRY_RUN, True),
                                                 (RunMode.BACKTEST, False)])
def test_a_trim_freqtrade_placed_no_order_for_is_settled_on_the_next_loop(
        runmode: RunMode, judged: bool, caplog: pytest.LogCaptureFixture) -> None:
    """Dry-run / live: no ``trim`` order since the trim was placed means freqtrade refused it.
    Backtests create the order in the same candle: their loop does not judge trims."""
    btc = trade("BTC/USD", buy(3.0, 100.0))  # $300 of $1000
    bot, _ = strategy(Bot, runmode, 700.0, {"BTC/USD": 100.0})
    if runmode is RunMode.BACKTEST:
        PairLocks.use_db = False
        bot.cap_adapter.marks.marks.preload("BTC/USD", pd.DataFrame({
            "date": [NOW - timedelta(hours=1)], "close": [100.0]}))
    bot.bot_loop_start(current_time=NOW)
    assert bot.adjust_trade_position(trade=btc, current_time=NOW) is not None
    assert "BTC/USD" in bot.cap.trim_state.open_trims
    bot.bot_loop_start(current_time=NOW + timedelta(seconds=5))
    rejected = ("TRIM_REJECTED: pair=BTC/USD no order was created for the trim placed 5s ago "
                "(see freqtrade's error above); the pair sits out this REDUCING episode")
    assert (rejected in caplog.text) is judged
    assert ("BTC/USD" in bot.cap.trim_state.open_trims) is not judged


def test_the_loop_reports_this_bots_money_and_fallback_marks() -> None:
    trade("BTC/USD", buy(1.0, 100.0))
    trade("ETH/USD", buy(2.0, 10.0))  # no ticker: marked at its open rate, and said so
    bot, sent = strategy(Bot, RunMode.DRY_RUN, 880.0, {"BTC/USD": 120.0, "ETH/USD": None})
    bot.bot_loop_start(current_time=NOW)
    usd = {"currency": "USD"}
    assert gauge(bot, "trader247_pnl_unrealised_stake", **usd) == pytest.approx(20.0)
    assert gauge(bot, "trader247_bot_open_trades") == 2
    assert gauge(bot, "trader247_exposure_at_risk_stake", **usd) == pytest.approx(140.0)
    fallbacks = [text for text in sent if "MARK_FALLBACK" in text]
    assert len(fallbacks) == 1 and "ETH/USD" in fallbacks[0]


# ------------------------------------------------------------------ a fleet member
class FakeFleet:
    """This bot in a fleet whose other member holds $200 of ETH."""

    def __init__(self, leader: bool) -> None:
        self.is_leader, self.calls = leader, []
        self.store = SimpleNamespace(policy=SimpleNamespace(name="main"))
        self.bot, self.members, self.reservations, self.available = "a", 2, 0, True

    def begin_iteration(self) -> None:
        self.calls.append(("begin",))

    def account(self, own: Snapshot, controller: Any) -> Snapshot:
        self.calls.append(("account", tuple(p.pair for p in own.positions), controller))
        return replace(own, positions=(*own.positions, Position("b|ETH/USD", 2.0, 100.0)))

    def round(self, controller: Any, now: float) -> None:
        self.calls.append(("round", controller, now))


@pytest.mark.parametrize("leader", [True, False])
def test_a_fleet_member_measures_the_account_and_only_the_leader_announces_a_round(
        leader: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    trade("BTC/USD", buy(1.0, 100.0))
    bot, sent = strategy(Bot, RunMode.DRY_RUN, 700.0, {"BTC/USD": 100.0})
    fleet = FakeFleet(leader)
    bot.cap_adapter.fleet = fleet
    bot.bot_loop_start(current_time=NOW)
    # alone 100 of 800 (12.5 %); with b's ETH 300 of 1000: over the cap
    assert bot.cap.state is CapState.REDUCING
    assert bot.cap.last_exposure is not None and bot.cap.last_exposure.at_risk == 300.0
    assert fleet.calls == [("begin",), ("account", ("BTC/USD",), bot.cap),
                           ("account", ("BTC/USD",), bot.cap), ("round", bot.cap, NOW.timestamp())]
    assert ("TRIM_ROUND:" in caplog.text) is leader
    assert bool([text for text in sent if text.startswith("✂️ Trim round")]) is leader
    assert gauge(bot, "trader247_fleet_at_risk_ratio", fleet="main") == pytest.approx(0.3)
    assert gauge(bot, "trader247_fleet_leader", fleet="main") == int(leader)
    # this bot's own money, not the account's
    assert gauge(bot, "trader247_bot_open_trades") == 1


# ------------------------------------------------------------------ entries
def test_an_entry_is_clamped_to_the_headroom_then_to_freqtrades_max_stake() -> None:
    bot = backtest(Bot, balance=900.0, held=100.0)  # $130 headroom
    adapter = bot.cap_adapter
    assert adapter.clamp_stake(50.0, "ETH/USD", NOW) == 50.0
    assert adapter.clamp_stake(500.0, "ETH/USD", NOW) == pytest.approx(130.0)
    assert adapter.clamp_stake(500.0, "ETH/USD", NOW, max_stake=100.0) == pytest.approx(100.0)
    assert adapter.clamp_stake(100.0, "ETH/USD", NOW, min_stake=130.01) == 0.0


def test_an_increase_of_a_position_without_a_price_asks_no_minimum() -> None:
    asked: list[tuple[str, float]] = []
    bot = backtest(Bot, balance=900.0, held=0.0)
    with_parts(bot, exposure=FixedExposure(Snapshot(900.0, (Position("BTC/USD", 1.0, 0.0),))),
               open_trades=lambda: [],
               increase_min_stake=lambda pair, price: asked.append((pair, price)) or 1.0)
    assert bot.cap_adapter.clamp_stake(20.0, "BTC/USD", NOW, held=True) == 20.0
    assert asked == []


def test_a_backtest_logs_a_refused_entry_at_debug_only(caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    """Backtests have no reporter: one DEBUG line per refused entry (one per candle)."""
    caplog.set_level(logging.DEBUG, logger=ADAPTER)
    bot = backtest(Bot, balance=700.0, held=300.0)  # over the cap
    bot.bot_loop_start(current_time=NOW)
    caplog.clear()
    assert bot.cap_adapter.clamp_stake(50.0, "ETH/USD", NOW) == 0.0
    calm = backtest(Bot, balance=900.0, held=100.0)
    assert calm.cap_adapter.clamp_stake(50.0, "ETH/USD", NOW) == 50.0
    assert adapter_lines(caplog) == [
        ("DEBUG", "entry skipped: EXPOSURE_OVER_CAP: at_risk=30.0% cap=25.0% target=23.0%")]


def test_an_increase_of_a_pair_not_held_asks_no_minimum() -> None:
    asked: list[tuple[str, float]] = []
    bot = backtest(Bot, balance=900.0, held=100.0)  # holds BTC only
    with_parts(bot, increase_min_stake=lambda pair, price: asked.append((pair, price)) or 1.0)
    assert bot.cap_adapter.clamp_stake(20.0, "ETH/USD", NOW, held=True) == 20.0
    assert asked == []


@pytest.mark.parametrize(("mark", "granted"), [(0.12, 0.0), (1.0, 0.0), (100.0, 20.0)])
def test_an_increase_of_a_held_coin_is_refused_under_the_exchange_minimum_at_its_mark(
        mark: float, granted: float) -> None:
    """A coin under a dollar has an exchange minimum like any other (min order of $25 at
    marks under $1.01 here): the cap refuses what freqtrade could not place."""
    asked: list[tuple[str, float]] = []
    bot = backtest(Bot, balance=900.0, held=0.0)
    held = Position("DOGE/USD", 100.0 / mark, mark)  # $100 of $1000: $130 headroom
    with_parts(bot, exposure=FixedExposure(Snapshot(900.0, (held,))),
               open_trades=lambda: [],
               increase_min_stake=lambda pair, price: asked.append((pair, price)) or (
                   25.0 if price < 1.01 else 5.0))
    assert bot.cap_adapter.clamp_stake(20.0, "DOGE/USD", NOW, held=True) == granted
    assert asked == [("DOGE/USD", mark)]


class ReservingFleet(FakeFleet):
    """A fleet whose gate grants $42 and says what it was asked."""

    def reserve_measured(self, pair: str, own: Snapshot, state: CapState, controller: Any, *,
                         requested: float, min_stake: float | None, max_stake: float) -> Any:
        from trader247.core.exposure import EntryDecision

        self.calls.append(("reserve", pair, own, state, requested, min_stake, max_stake))
        return EntryDecision(42.0, "limited_by=fleet"), None


def test_a_fleet_members_entry_is_reserved_for_its_pair_unless_the_pair_cools_down() -> None:
    bot = backtest(Bot, balance=900.0, held=100.0)
    fleet = ReservingFleet(leader=True)
    bot.cap_adapter.fleet = fleet
    assert bot.cap_adapter.clamp_stake(50.0, "ETH/USD", NOW, min_stake=5.0,
                                       max_stake=80.0) == 42.0
    own = Snapshot(900.0, (Position("BTC/USD", 1.0, 100.0),))  # this bot's, not the account's
    assert fleet.calls == [("reserve", "ETH/USD", own, CapState.ACTIVE, 50.0, 5.0, 80.0)]
    bot.cap.trim_state = replace(bot.cap.trim_state, cooldowns={"ADA/USD": 7})
    bot.cap.cycle = 6
    assert bot.cap_adapter.clamp_stake(50.0, "ADA/USD", NOW) == 0.0  # this bot's own gate
    assert len(fleet.calls) == 1


@pytest.mark.parametrize(("entry_tag", "allowed"), [(None, False), ("force_entry", True)])
def test_stale_candles_refuse_a_signal_but_not_an_operators_forceenter(
        entry_tag: str | None, allowed: bool) -> None:
    bot, _ = strategy(Bot, RunMode.DRY_RUN, 1000.0)
    old = pd.DataFrame({"date": pd.date_range(end=NOW - timedelta(hours=5), periods=3,
                                              freq="1h"), "close": [1.0, 1.0, 1.0]})
    bot.dp.get_analyzed_dataframe = lambda *_a: (old, NOW)
    assert bot.confirm_trade_entry(pair="ETH/USD", current_time=NOW,
                                   entry_tag=entry_tag) is allowed


def test_without_a_time_the_freshness_of_candles_is_judged_now() -> None:
    bot, _ = strategy(Bot, RunMode.DRY_RUN, 1000.0)
    newest = pd.Timestamp.now(tz="UTC").floor("1h") - pd.Timedelta(hours=1)
    fresh = pd.DataFrame({"date": pd.date_range(end=newest, periods=3, freq="1h"),
                          "close": [1.0, 1.0, 1.0]})
    bot.dp.get_analyzed_dataframe = lambda *_a: (fresh, NOW)
    assert bot.confirm_trade_entry(pair="ETH/USD") is True
    assert bot.confirm_trade_entry(pair="ETH/USD", current_time=NOW - timedelta(days=400)) is True
    assert bot.confirm_trade_entry(pair="ETH/USD", current_time=newest + timedelta(hours=3)
                                   ) is False


def test_a_pair_in_trim_cooldown_is_refused_and_others_are_not() -> None:
    bot = backtest(Bot, balance=900.0, held=100.0)
    bot.cap.trim_state = replace(bot.cap.trim_state, cooldowns={"ADA/USD": 7})
    bot.cap.cycle = 6
    assert bot.confirm_trade_entry(pair="ADA/USD", current_time=NOW) is False
    assert bot.confirm_trade_entry(pair="SOL/USD", current_time=NOW) is True


# ------------------------------------------------------------------ a strategy's DCA
def dca_kwargs(btc: Any, **changes: Any) -> dict[str, Any]:
    """What freqtrade passes to ``adjust_trade_position`` (no ``pair``: it is the trade's)."""
    return {"trade": btc, "current_time": NOW, "current_rate": 100.0, "current_profit": 0.0,
            "min_stake": 1.0, "max_stake": 10_000.0, "current_entry_rate": 100.0,
            "current_exit_rate": 100.0, "current_entry_profit": 0.0,
            "current_exit_profit": 0.0, **changes}


@pytest.mark.parametrize(("dca", "adjusted"), [
    (50.0, 50.0),                         # under the headroom: as asked
    (500.0, 130.0),                       # clamped to the $130 headroom
    ((500.0, "dca"), (130.0, "dca")),     # its order tag kept
    ((500.0,), 130.0),
    (None, None),                         # no adjustment
    (0.0, 0.0),
    (-20.0, -20.0),                       # a partial exit of the strategy's own: not gated
    ((-20.0, "take_profit"), (-20.0, "take_profit")),
])
def test_a_strategys_dca_is_clamped_like_an_entry(dca: Any, adjusted: Any) -> None:
    btc = trade("BTC/USD", buy(1.0, 100.0))
    bot = backtest(DcaBot, balance=900.0, held=100.0)
    bot.dca = dca
    result = bot.adjust_trade_position(**dca_kwargs(btc))
    assert result == (pytest.approx(adjusted) if isinstance(adjusted, float) else adjusted)


@pytest.mark.parametrize(("dca", "adjusted"), [(50.0, None), ((50.0, "dca"), (None, "dca")),
                                              (0.5, None)])  # 50 cents: gated too
def test_a_strategys_dca_is_refused_while_reducing(dca: Any, adjusted: Any) -> None:
    btc = trade("BTC/USD", buy(3.0, 100.0))
    bot = backtest(DcaBot, balance=700.0, held=300.0)
    bot.bot_loop_start(current_time=NOW)
    bot.cap.trim_for("BTC/USD")  # this round's trim went elsewhere
    bot.dca = dca
    assert bot.adjust_trade_position(**dca_kwargs(btc)) == adjusted


@pytest.mark.parametrize(("changes", "adjusted"), [
    ({"max_stake": 80.0}, 80.0),      # freqtrade's own maximum (wallet) is kept
    ({"min_stake": 130.0}, 130.0),    # the headroom is exactly the exchange minimum
    ({"min_stake": 130.01}, None),    # a cent more: freqtrade could not place it
])
def test_a_dca_keeps_freqtrades_stake_limits(changes: dict[str, float], adjusted: Any) -> None:
    btc = trade("BTC/USD", buy(1.0, 100.0))
    bot = backtest(DcaBot, balance=900.0, held=100.0)
    bot.dca = 500.0
    result = bot.adjust_trade_position(**dca_kwargs(btc, **changes))
    assert result == (None if adjusted is None else pytest.approx(adjusted))


def test_a_dry_run_dca_is_told_as_an_increase_of_a_held_position(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    btc = trade("BTC/USD", buy(1.0, 100.0))
    bot, sent = strategy(DcaBot, RunMode.DRY_RUN, 900.0, {"BTC/USD": 100.0})
    bot.dca = 500.0
    assert bot.adjust_trade_position(**dca_kwargs(btc)) == pytest.approx(130.0)
    assert sent == ["📏 ENTRY_CLAMPED BTC/USD (position increase): $500.00 requested, $130.00 "
                    "granted (limited by headroom). at_risk 10.0% ($100.00 of $1,000.00 equity);"
                    " cap 25.0%, entries fill up to target 23.0%: headroom $130.00."]
    assert [r.getMessage() for r in caplog.records if r.name.endswith("cap_reporter")] == [
        "ENTRY_CLAMPED: pair=BTC/USD via=strategy position=held requested=500 granted=130 "
        "limited_by=headroom at_risk=10.0% cap=25.0% target=23.0% headroom=130"]


def test_a_dca_on_a_pair_in_trim_cooldown_is_refused() -> None:
    """freqtrade names the pair only through ``trade``: the cooldown of the trimmed pair
    applies to the strategy's DCA on it (backtests have no second gate)."""
    btc = trade("BTC/USD", buy(1.0, 100.0))
    bot = backtest(DcaBot, balance=900.0, held=100.0)
    bot.cap.trim_state = replace(bot.cap.trim_state, cooldowns={"BTC/USD": 7})
    bot.cap.cycle = 6
    bot.dca = 50.0
    assert bot.adjust_trade_position(**dca_kwargs(btc)) is None
    eth = trade("ETH/USD", buy(1.0, 10.0))
    assert bot.adjust_trade_position(**dca_kwargs(eth)) == 50.0


def test_a_dca_is_measured_at_the_candle_of_its_time() -> None:
    """Backtest marks: BTC closed at $100, then $200 an hour later (the book doubles)."""
    btc = trade("BTC/USD", buy(1.0, 100.0))
    bot, _ = strategy(DcaBot, RunMode.BACKTEST, 900.0)
    PairLocks.use_db = False
    with_parts(bot, open_trades=lambda: [btc])
    bot.cap_adapter.marks.marks.preload("BTC/USD", pd.DataFrame({
        "date": [NOW - timedelta(hours=2), NOW - timedelta(hours=1)], "close": [100.0, 200.0]}))
    bot.dca = 500.0
    # at NOW: $200 of $1100 held, target 23 % = $253: $53 headroom
    assert bot.adjust_trade_position(**dca_kwargs(btc)) == pytest.approx(53.0)
    # an hour earlier: $100 of $1000, $130 headroom
    earlier = dca_kwargs(btc, current_time=NOW - timedelta(hours=1))
    assert bot.adjust_trade_position(**earlier) == pytest.approx(130.0)


# ------------------------------------------------------------------ fills and state
def test_a_trim_fill_records_its_latency() -> None:
    bot = backtest(Bot, balance=700.0, held=300.0)
    bot.bot_loop_start(current_time=NOW)
    btc = trade("BTC/USD", buy(3.0, 100.0))
    assert bot.adjust_trade_position(trade=btc, current_time=NOW) is not None
    fill = order("sell", 0.7, 100.0, filled=0.7, is_open=False, tag="trim")
    bot.order_filled(pair="BTC/USD", order=fill, current_time=NOW + timedelta(seconds=12.5))
    assert bot.cap.trim_latencies == [12.5]
    assert "BTC/USD" not in bot.cap.trim_state.open_trims


def test_without_a_state_store_every_write_succeeds() -> None:
    """Backtests persist nothing: a trim is never held back for a failed write."""
    bot = backtest(Bot, balance=700.0, held=300.0)
    assert bot.cap_adapter.persistence is None and bot.cap_adapter.persist() is True
