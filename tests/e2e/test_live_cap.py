"""The at-risk cap in LIVE mode on the replay ([G2]): real ``freqtrade trade`` processes without
``--dry-run`` place, partly fill, cancel and get refused real orders.

At-risk is judged from the replay's own books (the exchange's truth), never from the bot's view:
``exchange_at_risk`` values every non-stake balance at the replay's mid price.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.live import (  # noqa: F401 - fixtures
    LIMIT_ENTRY_MARKET_EXIT,
    LiveReplay,
    live_bots,
    live_replay_factory,
    wait_for,
    wallet_vs_exchange,
)
from tests.e2e.support import CHILD_ENV, REPO, Bot, policy_file
from tests.monitoring._tools import ALERTS, promtool
from trader247.cli.processes import free_port, stop
from trader247.metrics.scrape import scrape

pytestmark = pytest.mark.e2e

ORDER_TYPES = LIMIT_ENTRY_MARKET_EXIT
PAIRS = ("BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD")
CAP, TARGET = 25.0, 23.0  # config/policy.yaml


def policy(tmp_path: Path, name: str, **risk: Any) -> Path:
    """The shipped policy.yaml with ``risk`` changes; the exporter on a free port (other test
    runs may share the machine)."""
    folder = tmp_path / name
    folder.mkdir()
    return policy_file(folder, port=free_port(), **risk)


def cap_extra(policy_path: Path, **more: Any) -> dict[str, Any]:
    """A live bot with the cap's pairlist (it carries our policy file) and four pairs."""
    return {"order_types": ORDER_TYPES, "pairs": PAIRS,
            "unfilledtimeout": {"entry": 60, "exit": 60, "unit": "minutes"},
            "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                           "policy_file": str(policy_path),
                           "universe_file": str(REPO / "config" / "universe.yaml")}], **more}


def exchange_at_risk(replay: LiveReplay, account: str) -> tuple[float, float]:
    """(at_risk, equity) in USD from the replay's balances at its mid prices."""
    balances = {c: float(v) for c, v in replay.account(account)["balances"].items()}
    held = 0.0
    for currency, amount in balances.items():
        if currency != "USD":
            bid, ask = replay.best(f"{currency}-USD")
            held += amount * (bid + ask) / 2
    return held, balances.get("USD", 0.0) + held


def trim_orders(bot: Bot) -> dict[str, list[dict[str, Any]]]:
    trades = bot.get("status") + bot.get("trades?limit=50")["trades"]
    out: dict[str, list[dict[str, Any]]] = {}
    for trade in trades:
        for order in trade["orders"]:
            if order["ft_order_tag"] == "trim":
                out.setdefault(trade["pair"], []).append(order)
    return {pair: list({o["order_id"]: o for o in orders}.values())
            for pair, orders in out.items()}


def over_cap_start(tmp_path: Path, replay: LiveReplay, start: Callable[..., Bot]) -> float:
    """A bot with an 80 % cap holds 3 x $900 and a resting $300 ADA entry of $4000; stopped.
    Returns the stake of the resting entry."""
    loose = policy(tmp_path, "loose", max_total_at_risk_pct=80.0,
                   acknowledge_high_cap_live="true")
    bot = start(replay, replay.key("live-1"), name="loose", db="cap.sqlite",
                strategy="CapProbeStrategy", extra=cap_extra(loose))
    for n, pair in enumerate(PAIRS[:3], start=1):
        # one at a time: until freqtrade has seen a market buy fill, the stake the exchange
        # already spent is in neither its balance nor a position (the gate would refuse)
        bot.post("forceenter", {"pair": pair, "stakeamount": 900})
        wait_for(lambda n=n: len(bot.get("status")) == n  # type: ignore[misc]
                 and not any(t["has_open_orders"] for t in bot.get("status")), 30, pair)
    # Without patches.market_fill the iteration after a market buy saw the stake spent on the
    # exchange while freqtrade's order was still open (at risk, but not in equity): the cap
    # flipped to REDUCING and refused the next entry. Now the buy is recorded at once.
    assert "EXPOSURE_OVER_CAP" not in bot.log.read_text()
    wait_for(lambda: not [lock for lock in bot.get("locks")["locks"]
                          if lock["reason"].startswith("EXPOSURE_OVER_CAP")
                          and lock["active"]], 30, "no exposure lock")
    bid, _ = replay.best("ADA-USD")
    bot.post("forceenter", {"pair": "ADA/USD", "ordertype": "limit",
                            "price": round(bid * 0.9, 4), "stakeamount": 300})
    wait_for(lambda: len(bot.get("status")) == 4
             and len(replay.account("live")["open_orders"]) == 1, 60, "3 fills + 1 resting")
    at_risk, equity = exchange_at_risk(replay, "live")
    assert 60.0 < 100 * (at_risk + 300) / equity < 80.0
    stop(bot.process, grace=15.0)
    assert len(replay.account("live")["open_orders"]) == 1  # the entry survives the stop
    return 300.0


def test_live_over_cap_start_cancels_entries_first_and_follows_a_partial_trim_up(
        tmp_path: Path, live_replay_factory: Callable[..., LiveReplay],  # noqa: F811
        live_bots: Callable[..., Bot]) -> None:  # noqa: F811
    replay = live_replay_factory(accounts={"live": {"USD": "4000"}})
    entry_stake = over_cap_start(tmp_path, replay, live_bots)
    held_before, equity_before = exchange_at_risk(replay, "live")
    excess_before = held_before + entry_stake - TARGET / 100 * equity_before
    bought = {p: float(replay.account("live")["balances"][p.split("/")[0]]) for p in PAIRS[:3]}

    # the first trim of BTC meets half a book: an IOC market sell that ends CANCELLED half filled
    replay.fault(kind="partial_fill", endpoint="create_order", pair="BTC/USD", fraction=0.5,
                 max_hits=1)
    strict = policy(tmp_path, "strict")
    bot = live_bots(replay, replay.key("live-1"), name="strict", db="cap.sqlite",
                    strategy="CapProbeStrategy", extra=cap_extra(strict))
    wait_for(lambda: "entries resume (lock lifted)" in bot.log.read_text(), 90,
             "exposure back under the target")
    wait_for(lambda: not any(t["has_open_orders"] for t in bot.get("status")), 30, "settled")
    log = bot.log.read_text()

    # 1. the resting entry was cancelled (freqtrade's own cancel path), never filled
    assert "ENTRY_CANCELLED exposure_cap: pair=ADA/USD" in log
    assert replay.account("live")["open_orders"] == []
    assert "ADA" not in replay.account("live")["balances"]
    assert "ADA/USD" not in {t["pair"] for t in bot.get("status")}

    # 2. at-risk from the exchange's balances: under the cap, not sold far below the target
    held, equity = exchange_at_risk(replay, "live")
    assert 100 * held / equity <= CAP
    assert 100 * held / equity > TARGET - 3.0
    # cancelling first: what was sold covers the excess minus the cancelled stake, not all of it
    orders = trim_orders(bot)
    sold = sum(o["cost"] for group in orders.values() for o in group)
    assert sold == pytest.approx(excess_before - entry_stake, rel=0.08)
    assert sold < excess_before - entry_stake / 2

    # 3. the partial trim: not complete, followed up once for the remainder; nothing sold twice
    assert re.search(r"TRIM_PARTIAL: pair=BTC/USD filled=\S+ of \S+ \(status canceled\)", log)
    btc = sorted(orders["BTC/USD"], key=lambda o: o["order_timestamp"])
    assert len(btc) == 2, btc
    assert btc[0]["filled"] == pytest.approx(btc[0]["amount"] / 2, rel=0.01)
    assert btc[1]["filled"] == pytest.approx(btc[1]["amount"], rel=1e-9)
    assert btc[1]["amount"] == pytest.approx(btc[0]["amount"] / 2, rel=0.1)  # the remainder
    for pair, group in orders.items():
        assert sum(o["filled"] for o in group) <= bought[pair], pair
        # one trim at a time per pair: each was closed before the next was placed
        group = sorted(group, key=lambda o: o["order_timestamp"])
        for earlier, later in zip(group, group[1:], strict=False):
            assert earlier["order_filled_timestamp"] <= later["order_timestamp"], pair
    # after the two rounds only fee-sized tails (the exchange minimum) may follow
    assert all(o["cost"] < 5.0 for group in orders.values() for o in group[1:]
               if o not in btc), orders
    rounds = [int(n) for n in re.findall(r"TRIM_ROUND: .*?orders=(\d+)", log)]
    assert rounds[:2] == [3, 1] and all(n <= 3 for n in rounds)

    # 4. freqtrade's wallet is the exchange's
    wallet, exchange = wallet_vs_exchange(bot, replay, "live")
    for currency, total in exchange.items():
        assert wallet.get(currency, 0.0) == pytest.approx(total, rel=1e-9, abs=1e-12), currency
    assert "Traceback" not in log
    # the latency of every trim fill is logged (bench/live_trims.py reads these lines)
    assert len(re.findall(r"trim filled: pair=\S+ latency=", log)) >= 3


class Recorder:
    """Scrapes a bot's ``/metrics`` once a second in a thread: the series of a run."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(OSError, urllib.error.URLError):  # not listening yet
                self.samples.append(scrape(self.url))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def series(self, name: str) -> list[float]:
        return [sample[name] for sample in self.samples if name in sample]


def promtool_fires(tmp_path: Path, failed: list[float]) -> str:
    """A promtool test of alerts.yml fed with the recorded ``failed`` counter, one scrape per
    minute: quiet before the first failure, firing at the end. Returns promtool's output."""
    first = next(i for i, value in enumerate(failed) if value > 0)
    series = 'trader247_trims_total{job="bot", instance="bot:9090", outcome="failed"}'
    labels = {"severity": "warning", "job": "bot", "instance": "bot:9090", "outcome": "failed"}
    count = int(failed[-1] - failed[max(0, len(failed) - 31)])
    test = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [{
            "name": "recorded live run: a rejected trim",
            "interval": "1m",
            "input_series": [{"series": series,
                              "values": " ".join(f"{v:g}" for v in failed)}],
            "alert_rule_test": [
                {"eval_time": f"{max(first - 1, 0)}m", "alertname": "Trader247TrimFailures",
                 "exp_alerts": []},
                {"eval_time": f"{len(failed) - 1}m", "alertname": "Trader247TrimFailures",
                 "exp_alerts": [{"exp_labels": labels, "exp_annotations": {
                     "summary": "Trim orders failed",
                     "description": f"bot:9090: {count} trim order(s) failed or timed out in "
                                    "30 min; exposure stays above the cap until they are "
                                    "re-planned."}}]},
            ],
        }],
    }
    path = tmp_path / "recorded_trim_failures.yml"
    path.write_text(json.dumps(test, indent=1))  # JSON is YAML
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr + path.read_text()
    return result.stdout


def test_live_trim_rejected_as_too_small_does_not_loop_and_fires_trim_failures(
        tmp_path: Path, live_replay_factory: Callable[..., LiveReplay],  # noqa: F811
        live_bots: Callable[..., Bot]) -> None:  # noqa: F811
    replay = live_replay_factory(accounts={"live": {"USD": "4000"}})
    strict = policy(tmp_path, "strict")
    port = int(re.findall(r"\n  port: (\d+)", strict.read_text())[0])
    bot = live_bots(replay, replay.key("live-1"), name="reject", strategy="CapProbeStrategy",
                    extra=cap_extra(strict, pairs=PAIRS[:3]))
    recorder = Recorder(f"http://127.0.0.1:{port}/metrics")
    try:
        for n, pair in enumerate(PAIRS[:3], start=1):
            bot.post("forceenter", {"pair": pair, "stakeamount": 300})
            wait_for(lambda n=n: len(bot.get("status")) == n  # type: ignore[misc]
                     and not any(t["has_open_orders"] for t in bot.get("status")), 30, pair)
        # the exchange raises SOL's minimum after freqtrade loaded its markets: freqtrade still
        # believes $1 is enough, the exchange answers "Too small order size" to a SOL trim
        replay.control("products", {"SOL-USD": {"quote_min_size": "250"}})
        replay.control("price_script", {"duration_s": 3, "to_multiplier": 1.5})
        wait_for(lambda: "entries resume (lock lifted)" in bot.log.read_text(), 120,
                 "exposure back under the target without SOL")
        time.sleep(2.5)  # the exporter publishes the final state
    finally:
        recorder.stop()
    log = bot.log.read_text()
    # freqtrade's line, with the exchange's answer on it (or on the next line when wrapped)
    refusals = re.findall(r"Unable to adjust position of trade for (\S+): (?:.*\n)?.*Too small",
                          log)
    assert refusals == ["SOL/USD"], log[-4000:]  # one create refused, never retried
    assert re.search(r"TRIM_REJECTED: pair=SOL/USD", log)
    rounds = [(int(n), p) for n, p in re.findall(r"TRIM_ROUND: .*?orders=(\d+) .*pairs=(\S+)",
                                                 log)]
    assert rounds and all(n <= 3 for n, _ in rounds)
    # SOL was planned in the round it was refused in, never again in this episode
    assert sum("SOL/USD" in pairs for _, pairs in rounds) == 1
    held, equity = exchange_at_risk(replay, "live")
    assert 100 * held / equity <= CAP

    failed = recorder.series('trader247_trims_total{outcome="failed"}')
    assert failed and failed[-1] == 1.0 and failed[0] == 0.0
    promtool_fires(tmp_path, failed)


def test_live_stop_with_liquidate_on_stop_sells_through_real_orders_and_reports_the_rest(
        tmp_path: Path, live_replay_factory: Callable[..., LiveReplay],  # noqa: F811
        live_bots: Callable[..., Bot]) -> None:  # noqa: F811
    replay = live_replay_factory(accounts={"live": {"USD": "4000"}})
    liquidating = policy(tmp_path, "liquidate", liquidate_on_stop="true",
                         liquidate_timeout_seconds=6)
    key = replay.key("live-1")
    bot = live_bots(replay, key, name="liq", strategy="CapProbeStrategy",
                    extra=cap_extra(liquidating, pairs=PAIRS[:3]))
    for n, pair in enumerate(PAIRS[:3], start=1):
        bot.post("forceenter", {"pair": pair, "stakeamount": 300})
        wait_for(lambda n=n: len(bot.get("status")) == n  # type: ignore[misc]
                 and not any(t["has_open_orders"] for t in bot.get("status")), 30, pair)
    # BTC's first sell meets half a book; SOL cannot be sold at all (trading disabled on the
    # exchange after the bot loaded its markets)
    replay.fault(kind="partial_fill", endpoint="create_order", pair="BTC/USD", fraction=0.5,
                 max_hits=1)
    replay.control("products", {"SOL-USD": {"trading_disabled": True}})
    orders_before = replay.account("live")["orders"]

    result = subprocess.run(
        [sys.executable, "-m", "trader247.cli", "stop", "--pid-file", str(bot.pid_file),
         "-c", str(REPO / "config" / "config.json"), "-c", str(tmp_path / "liq.json"),
         "-c", str(key.config)],
        capture_output=True, text=True, timeout=120, env=CHILD_ENV, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert bot.process.wait(timeout=15) == 0
    line = next(x for x in result.stdout.splitlines() if x.startswith("liquidation:"))
    head, *rest = line.split("; ")
    # freqtrade answers its own uncaught TemporaryError with a bare 500 (its log has the reason)
    assert re.fullmatch(r"liquidation: NOT closed within 6s: SOL/USD \(trade 3\): .+", head), line
    balances = {c: float(v) for c, v in replay.account("live")["balances"].items()}
    assert balances.get("ETH", 0.0) < 1e-6 and balances["SOL"] > 1.0
    sells = replay.account("live")["orders"] - orders_before
    if balances.get("BTC", 0.0) < 1e-6:
        # the rest of BTC was asked for again and sold: two BTC sells and one ETH sell
        assert rest == [] and sells == 3, (line, sells)
    else:
        # freqtrade closed the trade when its half-filled full exit was processed in its
        # "not enough BTC in wallet" recovery (it compares the order's amount with the
        # trade's): the other half is still on the exchange and the report names it
        assert sells == 2, (line, sells)
        assert len(rest) == 1 and rest[0].startswith(f"BTC {balances['BTC']:.10g} (~"), line
        assert rest[0].endswith(" USD) held on the exchange after its trade was closed"), line
    assert replay.account("live")["open_orders"] == []
