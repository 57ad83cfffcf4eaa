"""Live-mode rows of the restart soak ([G2]): kill -9 of a LIVE bot right after it logged a trim
round (its market sells in flight), restart on the same database, repeated. ``soak``
(``make soak``), ~2 min for ``TRADER247_LIVE_RESTART_CYCLES`` (default 4) cycles.

After every restart, judged from the exchange's books: no open order the bot does not know, no
coins outside its open trades (dust under $0.05 aside), freqtrade's wallet = the exchange's
balances, the restarted cap's exposure (``/metrics``) = the exchange's coins at mid, and no
double trim: the trim sells the bot knows are exactly the exchange's sells, and no pair was sold
more often than trim rounds planned it.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.live import LiveReplay, live_bots, live_replay_factory, wait_for  # noqa: F401
from tests.e2e.support import Bot, policy_file
from tests.reliability.faultlab import REPORTS
from tests.reliability.livefaultlab import cap_bot_extra, orphans
from trader247.cli.processes import free_port
from trader247.metrics.scrape import scrape

CYCLES = int(os.environ.get("TRADER247_LIVE_RESTART_CYCLES", "4"))
PAIRS = ("BTC/USD", "ETH/USD", "SOL/USD")


def exchange_held(replay: LiveReplay) -> float:
    held = 0.0
    for currency, amount in replay.account("live")["balances"].items():
        if currency != "USD":
            bid, ask = replay.best(f"{currency}-USD")
            held += float(amount) * (bid + ask) / 2
    return held


def trim_sells(bot: Bot) -> dict[str, int]:
    trades = bot.get("status") + bot.get("trades?limit=500")["trades"]
    seen: dict[str, str] = {}
    for trade in trades:
        for order in trade["orders"]:
            if order["ft_order_tag"] == "trim" and (order["filled"] or 0) > 0:
                seen[order["order_id"]] = trade["pair"]
    counts: dict[str, int] = {}
    for pair in seen.values():
        counts[pair] = counts.get(pair, 0) + 1
    return counts


@pytest.mark.soak
def test_live_restarts_soak(tmp_path: Path, live_replay_factory: Callable[..., LiveReplay],  # noqa: F811
                            live_bots: Callable[..., Bot]) -> None:  # noqa: F811
    seed = int(os.environ.get("TRADER247_RESTART_SEED", str(random.randrange(1 << 30))))
    print(f"TRADER247_RESTART_SEED={seed}")
    rng = random.Random(seed)
    replay = live_replay_factory(accounts={"live": {"USD": "4000"}})
    port = free_port()
    extra = {**cap_bot_extra(policy_file(tmp_path, port=port)), "pairs": PAIRS}
    key = replay.key("live-1")
    bot = live_bots(replay, key, name="soak", db="soak.sqlite", strategy="CapProbeStrategy",
                    extra=extra)
    for n, pair in enumerate(PAIRS, start=1):
        bot.post("forceenter", {"pair": pair, "stakeamount": 300})
        wait_for(lambda n=n: len(bot.get("status")) == n  # type: ignore[misc]
                 and not any(t["has_open_orders"] for t in bot.get("status")), 30, pair)
    rows = []
    for cycle in range(1, CYCLES + 1):
        rounds_before = bot.log.read_text().count("TRIM_ROUND")
        replay.control("price_script", {"duration_s": 2, "to_multiplier": 1.3})
        wait_for(lambda b=bot, r=rounds_before: b.log.read_text().count(  # type: ignore[misc]
            "TRIM_ROUND") > r, 60, f"cycle {cycle}: a trim round")
        delay = rng.uniform(0.0, 0.3)
        time.sleep(delay)
        os.kill(bot.process.pid, signal.SIGKILL)
        bot.process.wait(timeout=10)
        bot = live_bots(replay, key, name="soak", db="soak.sqlite",
                        strategy="CapProbeStrategy", extra=extra)
        lifted = bot.log.read_text().count("entries resume (lock lifted)")
        wait_for(lambda b=bot, n=lifted: b.log.read_text().count(  # type: ignore[misc]
            "entries resume (lock lifted)") > n, 90, f"cycle {cycle}: back under the target")
        wait_for(lambda b=bot: not any(  # type: ignore[misc]
            t["has_open_orders"] for t in b.get("status")), 30, "settled")
        time.sleep(2.5)  # the exporter publishes the settled state
        unknown, coins = orphans(bot, replay, "live")
        metrics = scrape(f"http://127.0.0.1:{port}/metrics")
        held = exchange_held(replay)
        at_risk = metrics['trader247_exposure_at_risk_stake{currency="USD"}']
        planned: dict[str, int] = {}
        for pairs in re.findall(r"TRIM_ROUND: .* pairs=(\S+)", bot.log.read_text()):
            for pair in pairs.split(","):
                planned[pair] = planned.get(pair, 0) + 1
        sold = trim_sells(bot)
        doubles = {p: n for p, n in sold.items() if n > planned.get(p, 0)}
        rows.append((cycle, delay, unknown, coins, held, at_risk, doubles,
                     metrics['trader247_cap_state{state="ACTIVE"}']))
        assert not unknown and not coins, (cycle, unknown, coins)
        assert at_risk == pytest.approx(held, rel=0.005), (cycle, at_risk, held)
        assert not doubles, (cycle, sold, planned)
        assert metrics['trader247_cap_state{state="ACTIVE"}'] == 1.0
        assert held / (held + float(replay.account("live")["balances"]["USD"])) <= 0.25
    lines = ["| cycle | kill after TRIM_ROUND s | unknown orders | orphan coins | exchange held $ "
             "| cap at-risk $ | double trims | ACTIVE |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {c} | {d:.2f} | {len(u)} | {len(o)} | {h:.2f} | {a:.2f} | {len(x)} | {s:g} |"
              for c, d, u, o, h, a, x, s in rows]
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "live_restarts.md").write_text(f"# live_restarts (seed {seed})\n\n"
                                              + "\n".join(lines) + "\n")
    print("\n".join(lines))
