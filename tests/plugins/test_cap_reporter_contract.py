"""``adapters.cap_reporter``: what the operator reads (chat, logs) and the metrics it scrapes,
per bot iteration (README "What the operator sees").

A real :class:`CapController` decides; the reporter's chat is a list (freqtrade's
``dp.send_msg``), its metrics a real exporter (``Metrics``, no server), its clock a number.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from types import SimpleNamespace

import pytest
from tests.shipped import shipped_cap_policy, shipped_universe_rules

from trader247.adapters.cap_controller import CapController, CapEvents
from trader247.adapters.cap_reporter import REALISED_REFRESH_SECONDS, CapReporter
from trader247.adapters.observability import Runtime
from trader247.core import cap_notices
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.core.universe import MarketInfo, UniverseResult, UniverseState, evaluate_universe
from trader247.core.volume import TickerSnapshot
from trader247.metrics.exporter import Metrics

NOW = 1_700_000_000.0
# 400 of 1000 held: over the 25 % cap; one trim of $170 (1.7 BTC) down to the 23 % target.
OVER = Snapshot(600.0, (Position("BTC/USD", 4.0, 100.0),))
UNDER = Snapshot(780.0, (Position("BTC/USD", 2.2, 100.0),))  # 22 %: under the target

REDUCING_TEXT = (
    "🔻 Exposure cap ACTIVE → REDUCING: at_risk 40.0% ($400.00 of $1,000.00 equity) > cap 25.0% "
    "($250.00). New entries blocked; trimming down to target 23.0% ($230.00).\n"
    "at_risk 40.0% > cap 25.0%: trimming $170.00 over ~1 round (~15 s)")
TRIM_TEXT = ("✂️ Trim round (cycle 1): 1 order selling $170.00; at_risk 40.0% → target 23.0% "
             "(cap 25.0%)\n• BTC/USD: sell $170.00 (1.7 BTC)")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Profit:
    """freqtrade's ``Trade.get_total_closed_profit``: counts its (costly) calls."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.value


def reporter(metrics: bool = True) -> tuple[CapReporter, list[str]]:
    sent: list[str] = []
    runtime = Runtime(metrics=Metrics(stake_currency="USD", process_collectors=False)
                      if metrics else None)
    return CapReporter(send=sent.append, closed_profit=Profit(12.5), runtime=runtime,
                       clock=Clock()), sent


def controller(**policy: object) -> CapController:
    return CapController(shipped_cap_policy(**policy), "USD", cycle_seconds=5.0)


def gauge(reporter_: CapReporter, name: str, **labels: str) -> float | None:
    value: float | None = reporter_.runtime.metrics.value(name, labels)
    return value


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


# ------------------------------------------------------------------ state changes and rounds


def test_entering_reducing_tells_the_state_its_plan_and_the_trim_round(
        caplog: pytest.LogCaptureFixture) -> None:
    cap, (report, sent) = controller(), reporter()
    events = cap.evaluate(OVER, 1.0, now=NOW)
    caplog.set_level(logging.INFO)
    report.report(cap, events, OVER, open_stake=330.0, now=NOW)
    assert sent == [REDUCING_TEXT, TRIM_TEXT]
    assert messages(caplog) == [
        (logging.WARNING, "CAP_STATE: ACTIVE -> REDUCING: at_risk=40.0% cap=25.0% target=23.0%")]
    # the iteration's metrics: the cap's figures and the profit (held value - open stake)
    assert gauge(report, "trader247_exposure_at_risk_stake", currency="USD") == 400.0
    assert gauge(report, "trader247_pnl_realised_stake", currency="USD") == 12.5
    assert gauge(report, "trader247_pnl_unrealised_stake", currency="USD") == 70.0
    assert gauge(report, "trader247_bot_open_trades") == 1.0


def test_a_fleet_follower_announces_no_trim_round() -> None:
    """The leader plans and announces the fleet's rounds (``plans=False``)."""
    cap, (report, sent) = controller(), reporter()
    report.report(cap, cap.evaluate(OVER, 1.0, now=NOW), OVER, 330.0, NOW, plans=False)
    assert sent == [REDUCING_TEXT]


def test_leaving_reducing_is_told_at_info(caplog: pytest.LogCaptureFixture) -> None:
    cap, (report, sent) = controller(), reporter()
    report.report(cap, cap.evaluate(OVER, 1.0, now=NOW), OVER, 330.0, NOW)
    caplog.set_level(logging.INFO)
    caplog.clear()
    events = cap.evaluate(UNDER, 1.0, now=NOW + 5)
    assert events.state_changed and events.state is CapState.ACTIVE
    report.report(cap, events, UNDER, 220.0, NOW + 5)
    assert sent[2:] == [
        "✅ Exposure cap REDUCING → ACTIVE: at_risk 22.0% ($220.00 of $1,000.00 equity) <= "
        "target 23.0% ($230.00), cap 25.0% ($250.00). Entries allowed again."]
    assert messages(caplog) == [
        (logging.INFO, "CAP_STATE: REDUCING -> ACTIVE: at_risk=22.0% cap=25.0% target=23.0%")]


def test_an_iteration_without_news_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    cap, (report, sent) = controller(), reporter()
    caplog.set_level(logging.INFO)
    events = cap.evaluate(UNDER, 1.0, now=NOW)
    assert not events.state_changed
    report.report(cap, events, UNDER, 220.0, NOW)
    assert sent == [] and caplog.records == []


@pytest.mark.parametrize(("policy", "startup_hold"), [
    ({"trims_enabled": False}, False),  # trims.enabled: false
    ({}, True),                          # trim_on_start: false holds trims at start
])
def test_reducing_without_trims_promises_no_sale(policy: dict[str, object],
                                                 startup_hold: bool) -> None:
    cap, (report, sent) = controller(**policy), reporter()
    cap.evaluate(OVER, 1.0, now=NOW)
    cap.trim_state = replace(cap.trim_state, startup_hold=startup_hold)
    cap.last_plan = None  # no round this iteration: only the state is told
    events = CapEvents(state_changed=True, state=CapState.REDUCING, plan_line="the plan")
    report.report(cap, events, OVER, 330.0, NOW)
    assert sent == [
        "🔻 Exposure cap ACTIVE → REDUCING: at_risk 40.0% ($400.00 of $1,000.00 equity) > cap "
        "25.0% ($250.00). New entries blocked; no trims (nothing is sold): entries resume at or "
        "below target 23.0% ($230.00).\nthe plan"]


def test_state_and_trim_messages_are_rate_limited_per_kind_and_counted() -> None:
    """A flapping state or a trim loop: 5 of each kind per 10 minutes reach the chat, the rest
    is announced once the window has room (README: "what is held back is counted")."""
    cap, (report, sent) = controller(), reporter()
    cap.evaluate(OVER, 1.0, now=NOW)
    flap = CapEvents(state_changed=True, state=CapState.REDUCING, plan_line=None)
    for _ in range(7):
        report.report(cap, flap, OVER, 330.0, NOW)
    state_text, trim_text = REDUCING_TEXT.split("\n")[0], TRIM_TEXT
    assert sent == [state_text, trim_text] * 5
    report.clock.now = 600.0
    report.report(cap, CapEvents(state=CapState.REDUCING), OVER, 330.0, NOW)
    assert sent[10:] == [
        # this iteration's round, the window has room again: it carries the count
        trim_text + "\n(+2 earlier trims messages suppressed: limit 5 per 10 min)",
        "⏸ 2 state messages suppressed (limit 5 per 10 min); last: " + state_text]


# ------------------------------------------------------------------ the universe


def universe(volumes: dict[str, float], previous: UniverseResult | None = None
             ) -> UniverseResult:
    markets = [MarketInfo(p, *p.split("/"), active=True) for p in volumes]
    tickers = {p: TickerSnapshot(p, *p.split("/"), 1.0, v, None, NOW) for p, v in volumes.items()}
    state: UniverseState | None = previous.state if previous is not None else None
    return evaluate_universe(markets, tickers, shipped_universe_rules(), state,
                             max_ticker_age_s=300.0, now=NOW)


CORE = {"BTC/USD": 1e9, "ETH/USD": 1e9}


def test_a_whitelist_change_is_told_once_and_the_first_refresh_is_not() -> None:
    cap, (report, sent) = controller(), reporter()
    events = cap.evaluate(UNDER, 1.0, now=NOW)
    first = universe({**CORE, "ADA/USD": 9e6})
    report.runtime.publish_universe(first)
    report.report(cap, events, UNDER, 220.0, NOW)
    assert sent == []  # the start-up message names the universe
    report.runtime.publish_universe(universe({**CORE, "ADA/USD": 1e6, "DOGE/USD": 6e6}, first))
    report.report(cap, events, UNDER, 220.0, NOW)
    report.report(cap, events, UNDER, 220.0, NOW)  # the same refresh: told already
    assert sent == [
        "🌐 Universe: 3 pairs (+1 −1)\n➕ DOGE/USD (tier_2_rotational, $6.0M)\n"
        "➖ ADA/USD: BELOW_TIER_FLOOR: pair=ADA/USD tier=tier_2_rotational usd_volume=1000000 "
        "floor=5000000"]


def test_refreshes_that_change_nothing_use_up_no_universe_messages() -> None:
    cap, (report, sent) = controller(), reporter()
    events = cap.evaluate(UNDER, 1.0, now=NOW)
    result = universe({**CORE, "ADA/USD": 9e6})
    report.runtime.publish_universe(result)
    report.report(cap, events, UNDER, 220.0, NOW)
    for _ in range(6):  # a refresh every iteration, the same whitelist
        result = universe({**CORE, "ADA/USD": 9e6}, result)
        report.runtime.publish_universe(result)
        report.report(cap, events, UNDER, 220.0, NOW)
    assert sent == []
    for volume in (1e6, 9e6) * 3:  # ADA leaves and joins: six changes, five are told
        result = universe({**CORE, "ADA/USD": volume}, result)
        report.runtime.publish_universe(result)
        report.report(cap, events, UNDER, 220.0, NOW)
    assert [text.split("\n")[0] for text in sent] == [
        "🌐 Universe: 2 pairs (+0 −1)", "🌐 Universe: 3 pairs (+1 −0)"] * 2 + [
        "🌐 Universe: 2 pairs (+0 −1)"]
    report.clock.now = 600.0
    report.report(cap, events, UNDER, 220.0, NOW)
    assert sent[5:] == ["⏸ 1 universe message suppressed (limit 5 per 10 min); last: "
                        "🌐 Universe: 3 pairs (+1 −0)"]


# ------------------------------------------------------------------ metrics


def test_realised_profit_is_summed_again_after_a_minute_or_a_fill() -> None:
    cap, (report, _) = controller(), reporter()
    events = cap.evaluate(UNDER, 1.0, now=NOW)
    profit = report.closed_profit
    assert isinstance(profit, Profit)
    report.report(cap, events, UNDER, 220.0, NOW)
    profit.value = 20.0
    report.report(cap, events, UNDER, 220.0, NOW + REALISED_REFRESH_SECONDS - 1)
    assert profit.calls == 1
    assert gauge(report, "trader247_pnl_realised_stake", currency="USD") == 12.5
    report.report(cap, events, UNDER, 220.0, NOW + REALISED_REFRESH_SECONDS)
    assert profit.calls == 2
    assert gauge(report, "trader247_pnl_realised_stake", currency="USD") == 20.0
    profit.value = 25.0
    report.fill_seen()  # an exit filled: profit realised now
    report.report(cap, events, UNDER, 220.0, NOW + REALISED_REFRESH_SECONDS + 1)
    assert gauge(report, "trader247_pnl_realised_stake", currency="USD") == 25.0


def test_without_an_exporter_no_profit_query_runs() -> None:
    cap, (report, _) = controller(), reporter(metrics=False)
    report.report(cap, cap.evaluate(UNDER, 1.0, now=NOW), UNDER, 220.0, NOW)
    assert isinstance(report.closed_profit, Profit) and report.closed_profit.calls == 0


def fleet(**values: object) -> SimpleNamespace:
    return SimpleNamespace(store=SimpleNamespace(policy=SimpleNamespace(name="desk")),
                           bot="bot-a", members=3, reservations=2, is_leader=True,
                           available=False, **values)


def test_the_fleet_gauges_show_the_accounts_measure() -> None:
    cap, (report, _) = controller(), reporter()
    report.report_fleet(fleet(), cap)  # not measured yet: no fleet series
    assert gauge(report, "trader247_fleet_member", fleet="desk", bot="bot-a") is None
    cap.evaluate(OVER, 1.0, now=NOW)
    report.report_fleet(fleet(), cap)
    assert gauge(report, "trader247_fleet_member", fleet="desk", bot="bot-a") == 1.0
    assert [gauge(report, f"trader247_fleet_{name}", fleet="desk") for name in (
        "at_risk_ratio", "members", "reservations", "leader", "database_up")] == [
        pytest.approx(0.4), 3.0, 2.0, 1.0, 0.0]


# ------------------------------------------------------------------ notices


def test_a_notice_is_told_every_time_unless_throttled(caplog: pytest.LogCaptureFixture) -> None:
    report, sent = reporter()
    caplog.set_level(logging.DEBUG, logger="trader247.adapters.cap_reporter")
    notice = cap_notices.mark_notice("BTC/USD", "open_rate", 90.0)
    report.notify(notice)
    report.notify(notice)  # not throttled by default: an operator's answer
    report.notify(notice, throttled=True)
    report.notify(notice, throttled=True)  # once per pair and episode: the repeat to DEBUG
    assert sent == [notice.text] * 3
    assert messages(caplog) == [(logging.WARNING, notice.log)] * 3 + [
        (logging.DEBUG, notice.log)]
    assert report.episodes.repeats(notice.word, "BTC/USD") == 1
