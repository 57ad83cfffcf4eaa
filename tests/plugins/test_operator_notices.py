"""What the operator is told about the cap's decisions, through the adapter ([V] 1-3).

A strategy with the mixin and a reporter that records its chat messages (freqtrade's
``dp.send_msg``) stands in for a dry-run bot; the log lines are read from ``caplog``. The lock
tests use freqtrade's own ``PairLocks`` in its memory mode (as in backtests).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from freqtrade.enums import RunMode
from freqtrade.persistence import PairLocks
from tests.plugins.cap_fakes import FixedExposure, with_parts
from tests.strategy_double import StrategyDouble

from trader247.adapters.cap_locks import LockSync
from trader247.adapters.cap_marks import LiveMarks
from trader247.adapters.cap_reporter import CapReporter
from trader247.adapters.observability import Runtime
from trader247.core.cap_notices import EntryRequest
from trader247.core.exposure import CapState, EntryDecision, Position, Snapshot, measure
from trader247.strategy import ExposureCapMixin

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 6, 1, tzinfo=UTC)
FORCED = "force_entry"


class Capped(ExposureCapMixin, StrategyDouble):
    pass


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def memory_locks() -> Iterator[None]:
    """freqtrade's lock store without a database (its backtest mode), emptied around a test."""
    PairLocks.use_db = False
    PairLocks.timeframe = "1h"
    PairLocks.reset_locks()
    yield
    PairLocks.reset_locks()
    PairLocks.use_db = True


def bot(held: float, balance: float = 1000.0, **parts: Any) -> tuple[Any, list[str]]:
    """A capped strategy holding ``held`` of BTC at $100 with a reporter; its chat messages."""
    strategy = Capped()
    strategy.config = {"stake_currency": "USD", "dry_run": True, "runmode": RunMode.BACKTEST,
                       "config_files": [str(REPO / "config" / "config.json")],
                       "internals": {"process_throttle_secs": 5}}
    strategy.dp = SimpleNamespace(send_msg=lambda *_a, **_k: None, ticker=lambda _p: None)
    strategy.timeframe, strategy.stoploss = "1h", -0.1
    snapshot = Snapshot(balance - held, (Position("BTC/USD", held / 100.0, 100.0),)
                        if held else ())
    sent: list[str] = []
    reporter = CapReporter(send=sent.append, closed_profit=lambda: 0.0, runtime=Runtime(),
                           clock=Clock())
    parts = {"exposure": FixedExposure(snapshot), "open_trades": lambda: [],
             "locks": LockSync(watch=True), "reporter": reporter, **parts}
    with_parts(strategy, **parts)
    return strategy, sent


def stake(strategy: Any, pair: str, proposed: float, tag: str | None = None) -> float:
    return float(strategy.custom_stake_amount(
        pair=pair, current_time=NOW, current_rate=1.0, proposed_stake=proposed, min_stake=1.0,
        max_stake=10_000.0, leverage=1.0, entry_tag=tag, side="long"))


def chats(sent: list[str], word: str) -> list[str]:
    return [text for text in sent if word in text.split("\n")[0]]


# ------------------------------------------------------------------ entries


def test_a_forceenter_of_a_new_pair_clamped_to_the_headroom_is_told(
        caplog: pytest.LogCaptureFixture, memory_locks: None) -> None:
    strategy, sent = bot(held=223.09)
    caplog.set_level(logging.INFO)
    assert stake(strategy, "ADA/USD", 60.0, FORCED) == pytest.approx(6.91)
    assert ("ENTRY_CLAMPED: pair=ADA/USD via=force_entry position=new requested=60 "
            "granted=6.91 limited_by=headroom at_risk=22.3% cap=25.0% target=23.0% "
            "headroom=6.91") in caplog.text
    assert chats(sent, "ENTRY_CLAMPED") == [
        "📏 ENTRY_CLAMPED ADA/USD (/forceenter): $60.00 requested, $6.91 granted (limited by "
        "headroom). at_risk 22.3% ($223.09 of $1,000.00 equity); cap 25.0%, entries fill up to "
        "target 23.0%: headroom $6.91."]
    assert "ENTRY_REFUSED" not in caplog.text


def test_an_entry_granted_in_full_is_not_the_caps_news(
        caplog: pytest.LogCaptureFixture, memory_locks: None) -> None:
    strategy, sent = bot(held=100.0)
    caplog.set_level(logging.INFO)
    assert stake(strategy, "ADA/USD", 30.0, FORCED) == pytest.approx(30.0)
    assert sent == [] and "ENTRY_" not in caplog.text


def test_operators_are_answered_every_time_signals_once_per_episode(
        caplog: pytest.LogCaptureFixture, memory_locks: None) -> None:
    strategy, sent = bot(held=230.0)  # at the target: no headroom
    caplog.set_level(logging.INFO)
    for _ in range(3):
        assert stake(strategy, "ADA/USD", 60.0, FORCED) == 0.0
        assert stake(strategy, "SOL/USD", 60.0) == 0.0  # a strategy's signal, every iteration
    forced = [r for r in caplog.records if r.levelno == logging.WARNING
              and r.message.startswith("ENTRY_REFUSED NO_HEADROOM: pair=ADA/USD via=force_entry")]
    signal = [r for r in caplog.records if r.levelno == logging.WARNING
              and r.message.startswith("ENTRY_REFUSED NO_HEADROOM: pair=SOL/USD via=strategy")]
    assert len(forced) == 3 and len(signal) == 1
    assert len(chats(sent, "ENTRY_REFUSED ADA/USD")) == 3
    assert len(chats(sent, "ENTRY_REFUSED SOL/USD")) == 1
    reporter = strategy.cap_adapter.reporter
    assert reporter.episodes.repeats("ENTRY_REFUSED", "SOL/USD") == 2


def test_a_grant_or_a_new_cap_state_makes_the_next_refusal_news_again(
        memory_locks: None) -> None:
    strategy, sent = bot(held=230.0)
    adapter = strategy.cap_adapter
    assert stake(strategy, "SOL/USD", 60.0) == 0.0
    assert stake(strategy, "SOL/USD", 60.0) == 0.0
    assert len(chats(sent, "ENTRY_REFUSED SOL/USD")) == 1
    adapter.exposure = FixedExposure(Snapshot(900.0, (Position("BTC/USD", 1.0, 100.0),)))
    assert stake(strategy, "SOL/USD", 20.0) == pytest.approx(20.0)  # granted: episode over
    adapter.exposure = FixedExposure(Snapshot(770.0, (Position("BTC/USD", 2.3, 100.0),)))
    assert stake(strategy, "SOL/USD", 60.0) == 0.0
    assert len(chats(sent, "ENTRY_REFUSED SOL/USD")) == 2
    # REDUCING and back: each state is a new episode for every pair
    adapter.exposure = FixedExposure(Snapshot(700.0, (Position("BTC/USD", 3.0, 100.0),)))
    strategy.bot_loop_start(current_time=NOW)
    assert strategy.cap.state is CapState.REDUCING
    assert stake(strategy, "SOL/USD", 60.0) == 0.0
    refusals = chats(sent, "ENTRY_REFUSED SOL/USD")
    assert len(refusals) == 3 and "the cap is REDUCING" in refusals[-1]


def test_an_increase_under_the_exchange_minimum_is_refused_saying_why(
        caplog: pytest.LogCaptureFixture, memory_locks: None) -> None:
    """The $60 increase clamped to $0.02 ended as freqtrade's generic "Failed to enter
    position": freqtrade cannot raise $0.02 to its $1 minimum, so the cap refuses it itself."""
    asked: list[tuple[str, float]] = []

    def minimum(pair: str, price: float) -> float:
        asked.append((pair, price))
        return 1.0

    strategy, sent = bot(held=229.98, increase_min_stake=minimum)
    assert strategy._cap_gate_position_increase("BTC/USD", 60.0, FORCED) == 0.0
    assert asked == [("BTC/USD", 100.0)]  # at the held position's mark
    assert "ENTRY_REFUSED BELOW_MIN_STAKE: pair=BTC/USD via=force_entry position=held" \
        in caplog.text
    assert chats(sent, "ENTRY_REFUSED BTC/USD (/forceenter, increase of a held position")
    # one cent more headroom than the minimum: clamped, and placed
    strategy, sent = bot(held=228.99, increase_min_stake=minimum)
    assert strategy._cap_gate_position_increase("BTC/USD", 60.0, FORCED) == pytest.approx(1.01)
    assert chats(sent, "ENTRY_CLAMPED BTC/USD (/forceenter, increase of a held position)")


class FleetGate:
    """The fleet part as the entry gate sees it: the account is at its target."""

    def __init__(self) -> None:
        self.account = Snapshot(770.0, (Position("a|BTC/USD", 2.3, 100.0),))

    def reserve_measured(self, pair: str, own: Snapshot, state: CapState, controller: Any, *,
                         requested: float, min_stake: float | None,
                         max_stake: float) -> tuple[EntryDecision, Any]:
        exposure = measure(self.account, controller.policy)
        return EntryDecision(None, "BELOW_MIN_STAKE: stake=0 min_stake=1 "
                                   "limited_by=headroom"), exposure


def test_a_fleet_refusal_reads_fleet_over_cap(caplog: pytest.LogCaptureFixture,
                                             memory_locks: None) -> None:
    strategy, sent = bot(held=0.0, fleet=FleetGate())
    assert stake(strategy, "ADA/USD", 60.0, FORCED) == 0.0
    assert ("ENTRY_REFUSED FLEET_OVER_CAP: pair=ADA/USD via=force_entry position=new "
            "requested=60 scope=fleet at_risk=23.0%") in caplog.text
    assert "the fleet's account has no room" in chats(sent, "ENTRY_REFUSED")[0]


class FleetAway:
    """The fleet part while its database does not answer."""

    def reserve_measured(self, pair: str, *_args: Any, **_kwargs: Any) -> tuple[
            EntryDecision, None]:
        return EntryDecision(None, f"FLEET_UNAVAILABLE: pair={pair} (no entries until the fleet "
                                   "database answers)"), None


def test_a_refusal_because_the_fleet_database_is_away_is_told(
        caplog: pytest.LogCaptureFixture, memory_locks: None) -> None:
    strategy, sent = bot(held=0.0, fleet=FleetAway())
    assert stake(strategy, "ADA/USD", 60.0, FORCED) == 0.0
    assert ("ENTRY_REFUSED FLEET_UNAVAILABLE: pair=ADA/USD via=force_entry position=new "
            "requested=60 scope=fleet; reason FLEET_UNAVAILABLE") in caplog.text
    assert "the fleet database does not answer" in chats(sent, "ENTRY_REFUSED")[0]


def test_a_pair_in_trim_cooldown_is_refused_saying_so(
        caplog: pytest.LogCaptureFixture, memory_locks: None) -> None:
    from dataclasses import replace

    strategy, sent = bot(held=100.0, fleet=FleetAway())  # cooldown is decided before the fleet
    controller = strategy.cap
    controller.trim_state = replace(controller.trim_state, cooldowns={"ADA/USD": 7})
    controller.cycle = 6  # one cycle before the cooldown ends
    assert stake(strategy, "ADA/USD", 20.0, FORCED) == 0.0
    assert "ENTRY_REFUSED TRIM_COOLDOWN: pair=ADA/USD" in caplog.text
    assert "trimmed recently" in chats(sent, "ENTRY_REFUSED")[0]
    controller.cycle = 7
    caplog.clear()
    assert stake(strategy, "ADA/USD", 20.0, FORCED) == 0.0  # now the fleet decides (away)
    assert "ENTRY_REFUSED FLEET_UNAVAILABLE: pair=ADA/USD" in caplog.text


def test_chat_is_rate_limited_per_kind_and_nothing_disappears(memory_locks: None) -> None:
    strategy, sent = bot(held=230.0)
    reporter = strategy.cap_adapter.reporter
    for _ in range(7):  # an operator hammering /forceenter: 5 per 10 min reach the chat
        stake(strategy, "ADA/USD", 60.0, FORCED)
    assert len(chats(sent, "ENTRY_REFUSED")) == 5
    reporter.clock.now = 600.0
    strategy.bot_loop_start(current_time=NOW)  # the loop flushes what was held back
    assert any(text.startswith("⏸ 2 forceenter messages suppressed") for text in sent)


def test_a_strategys_refusals_cannot_use_up_the_operators_answers(memory_locks: None) -> None:
    strategy, sent = bot(held=230.0)
    for n in range(8):  # eight pairs signal at the target: the chat gets 5 of them
        stake(strategy, f"P{n}/USD", 60.0)
    assert len(chats(sent, "ENTRY_REFUSED")) == 5
    stake(strategy, "ADA/USD", 60.0, FORCED)
    assert len(chats(sent, "ENTRY_REFUSED ADA/USD (/forceenter")) == 1


# ------------------------------------------------------------------ the lock


def test_the_lock_follows_the_state_and_a_deleted_lock_comes_back_once(
        memory_locks: None) -> None:
    locks = LockSync(watch=True)
    reason = "EXPOSURE_OVER_CAP: at_risk=29.2% cap=25.0% target=23.0%"
    assert locks.sync(None, NOW) is None                 # ACTIVE, nothing to lift
    assert locks.sync(reason, NOW) == "placed"
    assert locks.sync(reason, NOW + timedelta(seconds=5)) is None
    (lock,) = PairLocks.get_pair_locks("*", NOW)
    lock.active = False                                  # FreqUI's delete button / DELETE
    assert PairLocks.get_pair_locks("*", NOW) == []
    assert locks.sync(reason, NOW + timedelta(seconds=10)) == "restored"
    assert len(PairLocks.get_pair_locks("*", NOW + timedelta(seconds=10))) == 1
    assert locks.sync(reason, NOW + timedelta(seconds=15)) is None  # one message per deletion
    assert locks.sync(None, NOW + timedelta(seconds=20)) == "lifted"
    assert PairLocks.get_pair_locks("*", NOW + timedelta(seconds=20)) == []
    assert locks.sync(None, NOW + timedelta(seconds=25)) is None


def test_the_locks_reason_shows_the_current_at_risk_while_it_stays(memory_locks: None) -> None:
    locks = LockSync(watch=True)
    placed = "EXPOSURE_OVER_CAP: at_risk=33.1% cap=25.0% target=23.0%"
    trimmed = "EXPOSURE_OVER_CAP: at_risk=30.7% cap=25.0% target=23.0%"
    assert locks.sync(placed, NOW) == "placed"
    assert locks.sync(trimmed, NOW + timedelta(seconds=5)) is None  # the same lock, no news
    (lock,) = PairLocks.get_pair_locks("*", NOW + timedelta(seconds=5))
    assert lock.reason == trimmed and locks.reason == trimmed


def test_backtests_do_not_read_the_store_every_candle(memory_locks: None) -> None:
    locks = LockSync(watch=False)
    reason = "EXPOSURE_OVER_CAP: at_risk=29.2% cap=25.0% target=23.0%"
    assert locks.sync(reason, NOW) == "placed"
    PairLocks.get_pair_locks("*", NOW)[0].active = False
    assert locks.sync(reason, NOW + timedelta(hours=1)) is None  # not read: nobody deletes
    # an hour before the lock would end it is renewed: the episode stays locked
    assert locks.sync(reason, NOW + timedelta(hours=23)) == "restored"


def test_a_lock_deleted_while_reducing_is_recreated_within_one_iteration_and_told(
        caplog: pytest.LogCaptureFixture, memory_locks: None) -> None:
    strategy, sent = bot(held=300.0)  # 30 % > 25 %
    strategy.bot_loop_start(current_time=NOW)
    assert [lock.reason for lock in PairLocks.get_pair_locks("*", NOW)] == [
        "EXPOSURE_OVER_CAP: at_risk=30.0% cap=25.0% target=23.0%"]
    assert len(chats(sent, "CAP_LOCK_PLACED")) == 1
    assert "CAP_STATE: ACTIVE -> REDUCING: at_risk=30.0%" in caplog.text
    PairLocks.get_pair_locks("*", NOW)[0].active = False
    later = NOW + timedelta(seconds=5)
    strategy.bot_loop_start(current_time=later)
    assert len(PairLocks.get_pair_locks("*", later)) == 1
    assert len(chats(sent, "CAP_LOCK_RESTORED")) == 1
    assert "CAP_LOCK_RESTORED: EXPOSURE_OVER_CAP: at_risk=30.0%" in caplog.text
    strategy.bot_loop_start(current_time=later + timedelta(seconds=5))
    assert len(chats(sent, "CAP_LOCK_RESTORED")) == 1
    strategy.cap_adapter.exposure = FixedExposure(
        Snapshot(780.0, (Position("BTC/USD", 2.2, 100.0),)))  # 22 %: under the target
    strategy.bot_loop_start(current_time=later + timedelta(seconds=10))
    assert PairLocks.get_pair_locks("*", later + timedelta(seconds=10)) == []
    assert len(chats(sent, "CAP_LOCK_LIFTED")) == 1
    assert chats(sent, "Exposure cap REDUCING → ACTIVE")


# ------------------------------------------------------------------ marks


def test_a_fallback_mark_is_told_once_until_the_price_is_current_again(
        caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"date": [NOW], "close": [101.5]})
    prices: dict[str, float | None] = {"BTC/USD": None}
    marks = LiveMarks(ticker=lambda pair: {"last": prices[pair]},
                      analyzed=lambda _pair: (frame, NOW))
    sent: list[str] = []
    reporter = CapReporter(send=sent.append, closed_profit=lambda: 0.0, runtime=Runtime(),
                           clock=Clock())
    for price in (None, None, 100.0, None):  # no ticker twice, a ticker, none again
        prices["BTC/USD"] = price
        marks.begin_iteration()
        marks.price("BTC/USD", 90.0, NOW)
        reporter.marks(marks.fallbacks())
    told = chats(sent, "MARK_FALLBACK")
    assert len(told) == 2 and "the last analyzed candle's close, 101.5" in told[0]
    assert caplog.text.count("MARK_FALLBACK: pair=BTC/USD source=candle_close price=101.5") == 2


def test_no_candle_either_marks_at_the_open_rate_and_says_so() -> None:
    marks = LiveMarks(ticker=lambda _pair: None, analyzed=lambda _pair: (pd.DataFrame(), None))
    marks.begin_iteration()
    assert marks.price("BTC/USD", 90.0, NOW) == 90.0
    assert marks.fallbacks() == {"BTC/USD": ("open_rate", 90.0)}
    marks.refresh()
    assert marks.fallbacks() == {}


def test_entry_request_labels() -> None:
    assert EntryRequest("A/USD", 1.0, forced=True, held=False).label == "/forceenter"
    assert EntryRequest("A/USD", 1.0, forced=False, held=True).label == "position increase"
    assert EntryRequest("A/USD", 1.0, forced=False, held=False).via == "strategy"
