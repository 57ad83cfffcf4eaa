"""Could freqtrade's own rate cache mark the cap's positions instead of our price tape?

Issue [D] asked whether ``Exchange.get_rate(pair, refresh=False, side="exit", ...)`` (freqtrade's
``_exit_rate_cache``, filled by ``exit_positions`` on every iteration) gives the cap's marks the
freshness of ``adapters/price_tape.py`` (which records the prices freqtrade fetched through the
exchange object and serves one only if it arrived since the previous iteration began and within
``MAX_AGE_SECONDS``). This runs one dry-run ``trader247 run`` bot on the replay with 4 positions
while the replay moves prices (a ramp, then a drop), and at the start of every cap loop, before
the cap reads a price, records per open trade:

- the tape: its price and whether the cap would use it (fresh);
- the exit-rate cache: its price (read without a request) and its age (the probe wraps
  ``get_rate`` on the bot's exchange object to see when freqtrade wrote it);
- the truth: the replay's order book (best bid / ask, mid) and ticker ``last``, fetched directly
  with ccxt (not through freqtrade, so neither the tape nor the cache sees it).

Then ``/stop``, ``--pause`` seconds, ``/start``: what the first loop after it would mark with.

    .venv/bin/python bench/rate_cache_freshness.py [--iterations 40] [--throttle 2]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the e2e set-up lives with the tests

from tests.e2e import support  # noqa: E402

import _smoke  # noqa: E402
from trader247.cli.processes import free_port, start_replay, stop  # noqa: E402

PROBE = '''
import json, time
from trader247.adapters.cap_build import bot_exchange
from trader247.adapters.price_tape import MAX_AGE_SECONDS, PriceTape, clock
from freqtrade.persistence import Trade
from CapProbeStrategy import CapProbeStrategy

OUT = {out!r}


class RateCacheProbe(CapProbeStrategy):
    _written: dict = {{}}
    _previous_loop: float | None = None

    def _wrap_get_rate(self, exchange):
        if getattr(exchange.get_rate, "_probe", False):
            return
        original = exchange.get_rate

        def get_rate(pair, refresh, side, is_short, *args, **kwargs):
            cached = exchange._exit_rate_cache.get(pair) if side == "exit" else None
            rate = original(pair, refresh, side, is_short, *args, **kwargs)
            if side == "exit" and (refresh or not cached):
                self._written[pair] = time.time()
            return rate

        get_rate._probe = True
        exchange.get_rate = get_rate

    def _cap_loop(self, current_time):
        exchange = bot_exchange(self.dp)
        if exchange is not None:
            self._wrap_get_rate(exchange)
            self._measure(exchange)
        super()._cap_loop(current_time)

    def _measure(self, exchange):
        started = clock()
        fresh_since = self._previous_loop if self._previous_loop is not None else started
        self._previous_loop = started
        tape = PriceTape.install(exchange)
        rows = []
        for trade in Trade.get_open_trades():
            pair = trade.pair
            seen = tape._seen.get(pair)
            tape_fresh = bool(seen and seen[1] >= fresh_since
                              and started - seen[1] <= MAX_AGE_SECONDS)
            cached = exchange._exit_rate_cache.get(pair)
            written = self._written.get(pair)
            book = exchange._api.fetch_order_book(pair, 1)
            ticker = exchange._api.fetch_ticker(pair)
            rows.append({{
                "pair": pair, "tape": seen[0] if seen else None, "tape_fresh": tape_fresh,
                "tape_age": started - seen[1] if seen else None,
                "cache": cached, "cache_age": time.time() - written if cached and written else None,
                "bid": book["bids"][0][0], "ask": book["asks"][0][0], "last": ticker["last"],
            }})
        with open(OUT, "a") as out:
            out.write(json.dumps({{"t": time.time(), "rows": rows}}) + "\\n")
'''


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def bp(price: float | None, reference: float) -> float | None:
    return None if price is None else abs(price - reference) / reference * 1e4


def launch(tmp: Path, replay: support.Replay, throttle: int) -> support.Bot:
    strategies = tmp / "strategies"
    strategies.mkdir()
    (strategies / "CapProbeStrategy.py").write_text(
        (support.STRATEGIES / "CapProbeStrategy.py").read_text())
    (strategies / "RateCacheProbe.py").write_text(PROBE.format(out=str(tmp / "samples.jsonl")))
    original = support.STRATEGIES
    support.STRATEGIES = strategies  # launch_bot's --strategy-path
    try:
        return support.launch_bot(
            tmp, replay, support.policy_file(tmp), strategy="RateCacheProbe",
            extra={"internals": {"process_throttle_secs": throttle, "heartbeat_interval": 0}})
    finally:
        support.STRATEGIES = original


def run(iterations: int, throttle: int, pause: float, data_dir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rate-cache-") as name:
        tmp = Path(name)
        port = free_port()
        with (tmp / "replay.log").open("w") as log:
            process = start_replay(data_dir, port, log=log)
            replay = support.Replay(port, process)
            bot = None
            try:
                bot = launch(tmp, replay, throttle)
                support.enter(bot, 40.0)
                samples = tmp / "samples.jsonl"
                support.wait_for_log(bot.log, "Bot heartbeat|Whitelist", timeout=10)
                time.sleep(2 * throttle)
                start = len(samples.read_text().splitlines())
                script = [{"duration_s": iterations * throttle / 2, "to_multiplier": 1.2},
                          {"duration_s": iterations * throttle / 2, "to_multiplier": 0.85}]
                for step in script:
                    support.http("POST", f"{replay.url}/_replay/price_script", step, auth=False)
                    deadline = time.monotonic() + step["duration_s"] + 30 * throttle
                    target = start + (iterations // 2) * (script.index(step) + 1)
                    while len(samples.read_text().splitlines()) < target \
                            and time.monotonic() < deadline:
                        time.sleep(throttle)
                lines = samples.read_text().splitlines()[start:]
                restart = after_restart(bot, samples, pause, throttle)
            except (AssertionError, OSError):
                if bot is not None:
                    print(bot.log.read_text()[-6000:], file=sys.stderr)
                raise
            finally:
                if bot is not None:
                    stop(bot.process, grace=10.0)
                stop(process, grace=5.0)
    return {**summarise([json.loads(line) for line in lines], throttle),
            "after_stop_start": restart}


def after_restart(bot: support.Bot, samples: Path, pause: float, throttle: int) -> dict[str, Any]:
    """``/stop``, ``pause`` seconds, ``/start``: what the first loop after it would mark with."""
    bot.post("stop", {})
    time.sleep(pause)
    before = len(samples.read_text().splitlines())
    bot.post("start", {})
    deadline = time.monotonic() + 30 * throttle
    while len(samples.read_text().splitlines()) <= before and time.monotonic() < deadline:
        time.sleep(0.5)
    first = json.loads(samples.read_text().splitlines()[before])
    rows = first["rows"]
    return {"pause_s": pause, "marks": len(rows),
            "tape_fresh": sum(r["tape_fresh"] for r in rows),
            "cache_hit": sum(1 for r in rows if r["cache"]),
            "cache_age_s_max": max((r["cache_age"] or 0.0) for r in rows)}


def summarise(loops: list[dict[str, Any]], throttle: int) -> dict[str, Any]:
    rows = [row for loop in loops for row in loop["rows"]]
    mids = [(row["bid"] + row["ask"]) / 2 for row in rows]
    tape = [bp(r["tape"], m) for r, m in zip(rows, mids, strict=True) if r["tape_fresh"]]
    apart = [bp(r["cache"], r["tape"]) for r in rows if r["cache"] and r["tape_fresh"]]
    cache = [bp(r["cache"], m) for r, m in zip(rows, mids, strict=True) if r["cache"]]
    spread = [bp(r["ask"], m) for r, m in zip(rows, mids, strict=True)]
    ages = [r["cache_age"] for r in rows if r["cache_age"] is not None]
    return {
        "loops": len(loops), "marks": len(rows), "throttle_s": throttle,
        "tape_fresh": sum(r["tape_fresh"] for r in rows),
        "cache_hit": sum(1 for r in rows if r["cache"]),
        "cache_vs_tape_bp": {"p50": statistics.median(apart) if apart else None,
                             "max": max(apart) if apart else None},
        "tape_vs_mid_bp": {"p50": statistics.median(tape) if tape else None,
                           "p95": percentile([t for t in tape if t is not None], 0.95)},
        "cache_vs_mid_bp": {"p50": statistics.median(cache) if cache else None,
                            "p95": percentile([c for c in cache if c is not None], 0.95)},
        "half_spread_bp_p50": statistics.median(spread) if spread else None,
        "cache_age_s": {"p50": statistics.median(ages) if ages else None,
                        "max": max(ages) if ages else None},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--throttle", type=int, default=2, help="process_throttle_secs")
    parser.add_argument("--pause", type=float, default=90.0, help="seconds between /stop and "
                        "/start (the tape refuses prices older than MAX_AGE_SECONDS)")
    parser.add_argument("--data-dir", type=Path, default=REPO / "user_data" / "data" / "coinbase")
    _smoke.add_flag(parser)
    args = parser.parse_args()
    if args.smoke:  # a few loops and a short pause: the probe, the replay and /stop-/start work
        args.iterations, args.throttle, args.pause = 4, 1, 2.0
    print(json.dumps(run(args.iterations, args.throttle, args.pause, args.data_dir), indent=1))
    return _smoke.exit_code(args.smoke, True)  # a measurement without a goal


if __name__ == "__main__":
    raise SystemExit(main())
