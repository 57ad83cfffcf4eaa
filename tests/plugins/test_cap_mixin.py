"""ExposureCapMixin: the cap applies even to hooks a strategy defines itself (issue [C])."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from freqtrade.enums import RunMode
from tests.plugins.cap_fakes import FixedExposure, RecordedLocks, with_parts
from tests.shipped import shipped_cap_policy
from tests.strategy_double import StrategyDouble

from trader247.adapters.cap_controller import CapController, stake_to_return
from trader247.adapters.cap_freshness import CandleFreshness
from trader247.adapters.cap_marks import LiveMarks
from trader247.adapters.cap_reporter import CapReporter
from trader247.adapters.observability import Runtime
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.core.trims import TrimOrder
from trader247.strategy import ExposureCapMixin

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 6, 1, tzinfo=UTC)


class SizingStrategy(ExposureCapMixin, StrategyDouble):
    def custom_stake_amount(self, **kwargs: Any) -> float:
        return 500.0  # a strategy's own sizing, far above the headroom

    def confirm_trade_entry(self, **kwargs: Any) -> bool:
        self.confirm_calls = getattr(self, "confirm_calls", 0) + 1
        return True


def make(strategy_cls: type, balance: float, held: float,
         runmode: RunMode = RunMode.BACKTEST) -> Any:
    """A strategy whose exposure reader answers ``held`` of BTC at $100 and ``balance`` USD.
    Backtest mode by default: the cap runs, nothing is persisted (there is no database)."""
    strategy = strategy_cls()
    strategy.config = {"stake_currency": "USD", "dry_run": True, "runmode": runmode,
                       "config_files": [str(REPO / "config" / "config.json")],
                       "internals": {"process_throttle_secs": 5}}
    strategy.dp = SimpleNamespace(send_msg=lambda *_a, **_k: None, ticker=lambda _p: None)
    strategy.timeframe = "1h"
    strategy.stoploss = -0.1
    snapshot = Snapshot(stake_balance=balance,
                        positions=(Position("BTC/USD", held / 100.0, 100.0),) if held else ())
    with_parts(strategy, exposure=FixedExposure(snapshot), open_trades=lambda: [],
               locks=RecordedLocks())
    return strategy


def stake_kwargs(proposed: float) -> dict[str, Any]:
    return {"pair": "ETH/USD", "current_time": NOW, "current_rate": 1.0,
            "proposed_stake": proposed, "min_stake": 5.0, "max_stake": 1000.0,
            "leverage": 1.0, "entry_tag": None, "side": "long"}


def test_strategy_sizing_is_clamped_to_the_target_headroom() -> None:
    strategy = make(SizingStrategy, balance=900.0, held=100.0)  # 10 % of 1000, target 23 %
    assert strategy.custom_stake_amount(**stake_kwargs(50.0)) == pytest.approx(130.0)


def test_default_sizing_passes_under_the_headroom() -> None:
    class Plain(ExposureCapMixin, StrategyDouble):
        pass

    strategy = make(Plain, balance=900.0, held=100.0)
    assert strategy.custom_stake_amount(**stake_kwargs(50.0)) == pytest.approx(50.0)


def test_over_the_cap_blocks_entries_and_confirm_is_anded() -> None:
    strategy = make(SizingStrategy, balance=700.0, held=300.0)  # 30 % > 25 %
    strategy.bot_loop_start(current_time=NOW)
    assert strategy.cap.state is CapState.REDUCING
    assert strategy.custom_stake_amount(**stake_kwargs(50.0)) == 0.0
    assert strategy.confirm_trade_entry(pair="ETH/USD", current_time=NOW) is False
    assert getattr(strategy, "confirm_calls", 0) == 0  # ours refuses first; the user's is skipped


def test_exactly_at_the_cap_stays_active_one_cent_over_reduces() -> None:
    at_cap = make(SizingStrategy, balance=750.0, held=250.0)
    at_cap.bot_loop_start(current_time=NOW)
    assert at_cap.cap.state is CapState.ACTIVE
    over = make(SizingStrategy, balance=749.99, held=250.01)
    over.bot_loop_start(current_time=NOW)
    assert over.cap.state is CapState.REDUCING


@pytest.mark.parametrize(
    ("order", "trade_stake", "trade_amount", "expected"),
    [
        (TrimOrder("BTC/USD", 50.0, 0.5, "r"), 80.0, 1.0, -40.0),   # cost basis, not mark
        (TrimOrder("BTC/USD", 50.0, 2.0, "r"), 80.0, 1.0, -80.0),   # never more than held
        (TrimOrder("BTC/USD", 50.0, 0.5, "r", full_exit=True), 80.0, 1.0, -80.0),
    ],
)
def test_stake_to_return_uses_freqtrades_cost_basis(
    order: TrimOrder, trade_stake: float, trade_amount: float, expected: float
) -> None:
    assert stake_to_return(order, trade_stake, trade_amount) == pytest.approx(expected)


def test_controller_hands_out_each_trim_once_and_measures_latency() -> None:
    controller = CapController(shipped_cap_policy(), "USD", cycle_seconds=5.0)
    snapshot = Snapshot(600.0, (Position("BTC/USD", 2.0, 100.0), Position("ETH/USD", 2.0, 100.0)))
    events = controller.evaluate(snapshot, 1.0, now=1000.0)
    assert events.state is CapState.REDUCING and events.lock_reason is not None
    order = controller.trim_for("BTC/USD")
    assert order is not None and controller.trim_for("BTC/USD") is None
    controller.trim_placed(order, now=1000.0)
    assert controller.trim_filled("BTC/USD", now=1012.5) == pytest.approx(12.5)


def test_controller_state_survives_a_restart_without_double_trim() -> None:
    controller = CapController(shipped_cap_policy(), "USD", cycle_seconds=5.0)
    snapshot = Snapshot(600.0, (Position("BTC/USD", 2.0, 100.0), Position("ETH/USD", 2.0, 100.0)))
    controller.evaluate(snapshot, 1.0, now=1000.0)
    for pair in ("BTC/USD", "ETH/USD"):
        order = controller.trim_for(pair)
        if order is not None:
            controller.trim_placed(order, now=1000.0)
    saved = controller.to_dict()
    restarted = CapController(shipped_cap_policy(), "USD", cycle_seconds=5.0)
    restarted.restore(saved)
    restarted.evaluate(snapshot, 1.0, now=1010.0)
    # The open trims restored from state block new trims for those pairs.
    assert restarted.trim_for("BTC/USD") is None and restarted.trim_for("ETH/USD") is None


def frame_until(newest: datetime) -> Any:
    import pandas as pd

    return pd.DataFrame({"date": pd.date_range(end=newest, periods=3, freq="1h"),
                         "close": [1.0, 1.0, 1.0]})


@pytest.mark.parametrize(
    ("newest", "allowed"),
    [
        (datetime(2025, 6, 1, 9, tzinfo=UTC), True),   # newest closed at 10:30
        (datetime(2025, 6, 1, 8, tzinfo=UTC), False),  # the 09:00 candle missing
    ],
)
def test_entries_on_stale_candles_are_refused(
    newest: datetime, allowed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    guard = CandleFreshness(lambda _pair: (frame_until(newest), NOW), "1h", max_missing_candles=0)
    now = datetime(2025, 6, 1, 10, 30, tzinfo=UTC)
    for _ in range(3):
        assert guard.allows("ETH/USD", now) is allowed
    refusals = [r for r in caplog.records if "ENTRY_REFUSED stale_candles: ETH/USD" in r.message]
    assert len(refusals) == (0 if allowed else 1)  # once per pair and newest candle, not per call


@pytest.mark.parametrize(("runmode", "guarded"), [
    (RunMode.DRY_RUN, True), (RunMode.LIVE, True), (RunMode.BACKTEST, False)])
def test_the_stale_candle_guard_applies_in_dry_run_and_live_only(
    runmode: RunMode, guarded: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trader247.adapters import cap_build

    # No database here: the state store is not what this test is about.
    monkeypatch.setattr(cap_build, "CapStatePersistence", lambda _store: None)
    monkeypatch.setattr(cap_build.StateStore, "of_freqtrade", staticmethod(lambda: None))
    strategy = make(SizingStrategy, balance=1000.0, held=0.0, runmode=runmode)
    stale = frame_until(datetime(2025, 6, 1, 8, tzinfo=UTC))
    strategy.dp.get_analyzed_dataframe = lambda *_a: (stale, NOW)
    now = datetime(2025, 6, 1, 10, 30, tzinfo=UTC)
    assert strategy.confirm_trade_entry(pair="ETH/USD", current_time=now) is not guarded


def test_force_entries_and_unanalysed_pairs_pass_and_the_guard_rolls_back_by_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pandas as pd

    from trader247.adapters import cap_build

    monkeypatch.setattr(cap_build, "CapStatePersistence", lambda _store: None)
    monkeypatch.setattr(cap_build.StateStore, "of_freqtrade", staticmethod(lambda: None))
    now = datetime(2025, 6, 1, 10, 30, tzinfo=UTC)
    stale = frame_until(datetime(2025, 6, 1, 8, tzinfo=UTC))
    frames = {"ETH/USD": stale}

    def dry_run(config_file: Path) -> Any:
        strategy = SizingStrategy()
        strategy.config = {"stake_currency": "USD", "dry_run": True, "runmode": RunMode.DRY_RUN,
                           "config_files": [str(config_file)]}
        strategy.dp = SimpleNamespace(
            send_msg=lambda *_a, **_k: None, ticker=lambda _p: None,
            get_analyzed_dataframe=lambda pair, _tf: (frames.get(pair, pd.DataFrame()), NOW))
        strategy.timeframe, strategy.stoploss = "1h", -0.1
        with_parts(strategy, exposure=FixedExposure(Snapshot(1000.0, ())),
                   open_trades=lambda: [], locks=RecordedLocks())
        return strategy

    strategy = dry_run(REPO / "config" / "config.json")
    assert strategy.confirm_trade_entry(pair="ETH/USD", current_time=now) is False
    assert strategy.confirm_trade_entry(pair="ETH/USD", current_time=now,
                                        entry_tag="force_entry") is True
    assert strategy.confirm_trade_entry(pair="ADA/USD", current_time=now) is True  # no candles

    policy = (REPO / "config" / "policy.yaml").read_text().replace(
        "  block_entries: true", "  block_entries: false")
    (tmp_path / "policy.yaml").write_text(policy)
    (tmp_path / "universe.yaml").write_text((REPO / "config" / "universe.yaml").read_text())
    (tmp_path / "config.json").write_text("{}")
    # The files are read once per strategy: a changed policy applies to the next one
    # (freqtrade's /reload_config builds a new strategy).
    rolled_back = dry_run(tmp_path / "config.json")
    assert rolled_back.confirm_trade_entry(pair="ETH/USD", current_time=now) is True


def test_forced_increase_of_a_held_position_is_refused_over_the_cap_and_clamped_under(
    caplog: pytest.LogCaptureFixture,
) -> None:
    over = make(SizingStrategy, balance=700.0, held=300.0)  # 30 % > 25 %
    sent: list[str] = []
    # the increase gate runs in dry-run / live only, where the adapter has a reporter
    over.cap_adapter.reporter = CapReporter(send=sent.append, closed_profit=lambda: 0.0,
                                            runtime=Runtime())
    over.bot_loop_start(current_time=NOW)
    assert over._cap_gate_position_increase("BTC/USD", 20.0, "force_entry") == 0.0
    assert ("ENTRY_REFUSED EXPOSURE_OVER_CAP: pair=BTC/USD via=force_entry position=held "
            "requested=20 at_risk=30.0%") in caplog.text
    assert [t for t in sent if t.startswith("⛔ ENTRY_REFUSED BTC/USD (/forceenter, increase")]
    under = make(SizingStrategy, balance=900.0, held=100.0)  # 10 %, target 23 %: $130 headroom
    under.bot_loop_start(current_time=NOW)
    assert under._cap_gate_position_increase("BTC/USD", 50.0) == pytest.approx(50.0)
    assert under._cap_gate_position_increase("BTC/USD", 500.0) == pytest.approx(130.0)


def test_shutdown_persists_the_cap_state_after_a_flush_the_signal_interrupted(
    db_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    """SIGTERM raises KeyboardInterrupt inside whatever the bot does, also a flush; the shared
    session then refuses every statement until rolled back (seen in CI: state not persisted;
    on PostgreSQL freqtrade's final commit then failed with PendingRollbackError)."""
    from freqtrade.persistence import Order, Trade, init_db

    from trader247.adapters.state_store import StateStore

    caplog.set_level(logging.INFO)
    init_db(db_url)
    strategy = make(SizingStrategy, balance=700.0, held=300.0, runmode=RunMode.DRY_RUN)
    strategy.bot_loop_start(current_time=NOW)
    strategy.cap.cycle = 99  # changed since the last write: only the shutdown write has it
    Trade.session.add(Order(ft_order_side="sell", ft_pair="BTC/USD", ft_is_open=True,
                            order_id="interrupted"))  # no trade id: the flush fails
    with pytest.raises(Exception, match="IntegrityError|NOT NULL|NotNullViolation"):
        Trade.session.flush()

    strategy.ft_bot_cleanup()
    Trade.commit()  # freqtrade's own last step of cleanup: must not raise PendingRollbackError
    saved = StateStore.of_freqtrade().load("trader247_cap_state")
    assert saved is not None and json.loads(saved)["cycle"] == 99
    assert "cap state persisted on shutdown" in caplog.text


class CountingExchange:
    """``fetch_ticker`` as freqtrade's Exchange has it, counting the requests."""

    def __init__(self, prices: dict[str, float]) -> None:
        self.prices = prices
        self.requests: list[str] = []
        self.bids_empty = False

    def fetch_ticker(self, pair: str) -> dict[str, Any]:
        self.requests.append(pair)
        return {"symbol": pair, "last": self.prices[pair]}

    def fetch_l2_order_book(self, pair: str, limit: int = 100) -> dict[str, Any]:
        price = self.prices[pair]
        bids = [] if self.bids_empty else [[price - 0.5, 1.0]]
        return {"symbol": pair, "bids": bids, "asks": [[price + 0.5, 1.0]]}

    def get_min_pair_stake_amount(self, *_args: Any) -> float:
        return 1.0


@pytest.fixture
def tape_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The price tape's clock; tests move it by setting element 0."""
    from trader247.adapters import price_tape

    now = [1000.0]
    monkeypatch.setattr(price_tape, "clock", lambda: now[0])
    return now


def live_marks(exchange: CountingExchange) -> LiveMarks:
    """The dry-run / live mark source of a bot whose exchange object is ``exchange``."""
    from trader247.adapters.price_tape import PriceTape

    tape = PriceTape.install(exchange)
    # freqtrade's dp.ticker goes through the exchange object, so the tape sees it too.
    return LiveMarks(ticker=lambda pair: exchange.fetch_ticker(pair),
                     analyzed=lambda _p: ([], None), tape=tape)


def test_marks_reuse_the_tickers_freqtrade_fetched_since_the_previous_iteration(
    tape_clock: list[float],
) -> None:
    now = tape_clock
    exchange = CountingExchange({"BTC/USD": 100.0, "ETH/USD": 10.0})
    marks = live_marks(exchange)
    pairs = ["BTC/USD", "ETH/USD"]

    marks.begin_iteration()
    assert [marks.price(p, 1.0, None) for p in pairs] == [100.0, 10.0]
    assert exchange.requests == ["BTC/USD", "ETH/USD"]  # nothing seen yet: fetched
    assert [marks.price(p, 1.0, None) for p in pairs] == [100.0, 10.0]
    assert len(exchange.requests) == 2  # the entry gate reuses the loop's marks

    # Later in the iteration freqtrade fetches each open trade's ticker itself (exit_positions).
    now[0] = 1002.0
    exchange.prices = {"BTC/USD": 101.0, "ETH/USD": 11.0}
    for pair in pairs:
        exchange.fetch_ticker(pair)  # the instance attribute: the tape
    exchange.requests.clear()

    now[0] = 1005.0
    marks.begin_iteration()
    assert [marks.price(p, 1.0, None) for p in pairs] == [101.0, 11.0]
    assert exchange.requests == []  # no second request per trade

    # Nothing fetched during that iteration: the next one does not mark with older prices.
    now[0] = 1010.0
    exchange.prices = {"BTC/USD": 102.0, "ETH/USD": 12.0}
    marks.begin_iteration()
    assert marks.price("BTC/USD", 1.0, None) == 102.0
    assert exchange.requests == ["BTC/USD"]


def test_a_price_older_than_the_age_limit_is_fetched_again(tape_clock: list[float]) -> None:
    from trader247.adapters import price_tape

    now = tape_clock
    now[0] = 0.0
    exchange = CountingExchange({"BTC/USD": 100.0})
    marks = live_marks(exchange)
    marks.begin_iteration()
    marks.price("BTC/USD", 1.0, None)
    # A long process_throttle_secs: the next iteration begins a minute later.
    now[0] = price_tape.MAX_AGE_SECONDS
    marks.begin_iteration()
    marks.price("BTC/USD", 1.0, None)
    assert exchange.requests == ["BTC/USD"]  # exactly at the limit: reused
    # Still fresh by the iteration window (the previous one began at 0), but 10 ms too old.
    now[0] = price_tape.MAX_AGE_SECONDS + 0.01
    marks.begin_iteration()
    marks.price("BTC/USD", 1.0, None)
    assert exchange.requests == ["BTC/USD", "BTC/USD"]


def test_over_the_cap_a_trim_is_worked_out_at_current_prices_not_the_reused_ones(
    tape_clock: list[float], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trader247.adapters import cap_build

    monkeypatch.setattr(cap_build, "CapStatePersistence", lambda _store: None)
    monkeypatch.setattr(cap_build.StateStore, "of_freqtrade", staticmethod(lambda: None))
    now = tape_clock
    exchange = CountingExchange({"BTC/USD": 100.0})
    strategy = make(SizingStrategy, 0.0, 0.0, runmode=RunMode.DRY_RUN)
    strategy.dp = SimpleNamespace(_exchange=exchange, send_msg=lambda *_a, **_k: None,
                                  ticker=lambda pair: exchange.fetch_ticker(pair),
                                  get_analyzed_dataframe=lambda *_a: ([], None))
    strategy.wallets = SimpleNamespace(get_total=lambda _currency: 700.0)
    held = SimpleNamespace(pair="BTC/USD", amount=3.0, nr_of_successful_entries=1,
                           open_orders=[], orders=[], entry_side="buy", open_rate=100.0,
                           stake_amount=300.0)
    with_parts(strategy, open_trades=lambda: [held], locks=RecordedLocks())

    strategy.bot_loop_start(current_time=NOW)  # $300 of $1000: over the cap
    exchange.fetch_ticker("BTC/USD")  # freqtrade's own fetch later in the iteration
    exchange.prices["BTC/USD"] = 120.0  # a rally before the next iteration
    exchange.requests.clear()
    now[0] = 1005.0
    strategy.bot_loop_start(current_time=NOW)

    assert exchange.requests == ["BTC/USD"]  # fetched again although a fresh price was on tape
    exposure = strategy.cap.last_exposure
    assert exposure is not None and exposure.at_risk == pytest.approx(3 * 120.0)


def test_order_books_freqtrade_priced_with_mark_at_their_mid_one_sided_books_do_not(
    tape_clock: list[float],
) -> None:
    """Our config prices from the order book (``use_order_book``): those are what freqtrade
    fetches for every open trade, so the tape must take them too."""
    now = tape_clock
    exchange = CountingExchange({"BTC/USD": 100.0, "ETH/USD": 10.0})
    marks = live_marks(exchange)
    marks.begin_iteration()
    assert marks.price("BTC/USD", 1.0, None) == 100.0
    exchange.prices = {"BTC/USD": 101.0, "ETH/USD": 11.0}
    exchange.fetch_l2_order_book("BTC/USD", 1)  # freqtrade's get_rate with use_order_book
    exchange.requests.clear()
    now[0] = 1001.0
    marks.begin_iteration()
    assert marks.price("BTC/USD", 1.0, None) == 101.0  # (100.5 + 101.5) / 2
    assert exchange.requests == []

    exchange.bids_empty = True
    exchange.fetch_l2_order_book("ETH/USD", 1)
    assert marks.price("ETH/USD", 1.0, None) == 11.0  # nothing usable recorded: a ticker
    assert exchange.requests == ["ETH/USD"]


def test_realised_profit_is_summed_again_after_a_fill_or_a_minute() -> None:
    totals = iter([10.0, 12.5, 13.0])
    queries: list[float] = []

    def total_closed_profit() -> float:
        queries.append(1.0)
        return next(totals)

    reporter = CapReporter(send=lambda _t: None, closed_profit=total_closed_profit, runtime=None)
    strategy = make(SizingStrategy, balance=900.0, held=100.0)
    strategy.cap_adapter.reporter = reporter  # backtests have none: the fill path is the same
    assert reporter.realised_profit(0.0) == 10.0
    assert reporter.realised_profit(59.9) == 10.0 and len(queries) == 1
    strategy.order_filled(pair="BTC/USD", order=SimpleNamespace(ft_order_tag="exit_signal"),
                          current_time=NOW)
    assert reporter.realised_profit(60.0) == 12.5  # the fill: summed at once
    assert reporter.realised_profit(119.9) == 12.5 and len(queries) == 2
    assert reporter.realised_profit(120.0) == 13.0  # exactly a minute later


def entering_strategy(cls: type, balance: float) -> Any:
    """BTC held for 200 and an open ETH entry of 100 stake ([G2])."""
    strategy = make(cls, balance=balance, held=200.0)
    snapshot = Snapshot(balance, (Position("BTC/USD", 2.0, 100.0),
                                  Position("ETH/USD", 0.0, 100.0, open_entry_stake=100.0)))
    with_parts(strategy, exposure=FixedExposure(snapshot), open_trades=lambda: [],
               locks=RecordedLocks())
    return strategy


def entry_timeout_kwargs(pair: str = "ETH/USD") -> dict[str, Any]:
    order = SimpleNamespace(ft_order_side="buy", order_id="o1", safe_remaining=1.0)
    return {"pair": pair, "trade": SimpleNamespace(entry_side="buy"), "order": order,
            "current_time": NOW}


def test_reducing_cancels_open_entry_orders_through_check_entry_timeout() -> None:
    class Plain(ExposureCapMixin, StrategyDouble):
        pass

    over = entering_strategy(Plain, balance=700.0)  # 300 of 900 at risk: REDUCING
    over.bot_loop_start(current_time=NOW)
    assert over.cap.state is CapState.REDUCING
    assert over.check_entry_timeout(**entry_timeout_kwargs()) is True
    assert over.check_entry_timeout(**entry_timeout_kwargs("BTC/USD")) is False  # no entry open
    calm = entering_strategy(Plain, balance=5000.0)
    calm.bot_loop_start(current_time=NOW)
    assert calm.check_entry_timeout(**entry_timeout_kwargs()) is False


def test_a_strategys_own_check_entry_timeout_is_or_ed_with_the_cap() -> None:
    class OwnTimeout(ExposureCapMixin, StrategyDouble):
        def check_entry_timeout(self, **kwargs: Any) -> bool:
            self.own_calls = getattr(self, "own_calls", 0) + 1
            return kwargs["pair"] == "XRP/USD"

    over = entering_strategy(OwnTimeout, balance=700.0)
    over.bot_loop_start(current_time=NOW)
    assert over.check_entry_timeout(**entry_timeout_kwargs()) is True
    assert getattr(over, "own_calls", 0) == 0  # the cap decided; the user's is not asked
    calm = entering_strategy(OwnTimeout, balance=5000.0)
    calm.bot_loop_start(current_time=NOW)
    assert calm.check_entry_timeout(**entry_timeout_kwargs()) is False
    assert calm.check_entry_timeout(**entry_timeout_kwargs("XRP/USD")) is True
    assert calm.own_calls == 2


class TrimsOnly(ExposureCapMixin, StrategyDouble):
    pass


class OwnAdjust(ExposureCapMixin, StrategyDouble):
    def adjust_trade_position(self, **kwargs: Any) -> Any:
        return None


class AdjustOff(ExposureCapMixin, StrategyDouble):
    position_adjustment_enable = False


@pytest.mark.parametrize("cls, runmode, calm, trimming", [
    (TrimsOnly, RunMode.BACKTEST, False, True),  # the hook is asked on trim candles only
    (TrimsOnly, RunMode.HYPEROPT, False, True),
    (OwnAdjust, RunMode.BACKTEST, True, True),  # the strategy's own DCA is asked every candle
    (AdjustOff, RunMode.BACKTEST, False, False),  # off stays off
])
def test_backtests_ask_adjust_trade_position_only_on_trim_candles(
    cls: type, runmode: RunMode, calm: bool, trimming: bool
) -> None:
    under = make(cls, balance=1000.0, held=200.0, runmode=runmode)  # 16.7 %: no trim
    under.bot_loop_start(current_time=NOW)
    assert under.position_adjustment_enable is calm
    over = make(cls, balance=500.0, held=500.0, runmode=runmode)  # 50 %: a trim round
    over.bot_loop_start(current_time=NOW)
    plan = over.cap.last_plan
    assert plan is not None and plan.orders
    assert over.position_adjustment_enable is trimming
