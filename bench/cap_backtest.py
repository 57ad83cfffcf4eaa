"""Cost of the at-risk cap in backtesting, and of one trim decision.

Three variants of ``Trader247Strategy`` are backtested over the same data and timerange, in the
same run, against one replay exchange (freqtrade loads markets even when backtesting):
1. cap on: the strategy as shipped (``ExposureCapMixin``);
2. no-op adjust: the same signals without the mixin, ``position_adjustment_enable`` on and an
   ``adjust_trade_position`` that returns None (freqtrade still deep-copies the trade per call);
3. adjustment off: the same signals, ``position_adjustment_enable = False``.
Goal: 1 / 2 <= 1.15x. Then ``plan_trims`` with 50 open positions over the cap (goal < 10 ms).

The ratio is taken on the CPU time (user + system) of the ``freqtrade backtesting`` process,
start-up included: other processes on the machine stretch wall time, not CPU time. Wall time
is printed too. ``--repeat N`` runs the variants N times, interleaved, and keeps each one's
fastest run.

Run: ``.venv/bin/python bench/cap_backtest.py [--timerange 20250101-20250401] [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STRATEGY = REPO / "user_data" / "strategies" / "Trader247Strategy.py"

NOOP_ADJUST = '''
    def adjust_trade_position(self, trade, current_time, **kwargs):
        return None
'''


def variant(name: str, *, adjust: bool) -> str:
    """The shipped strategy's source with the mixin removed from its bases."""
    source = STRATEGY.read_text()
    source, count = re.subn(r"class Trader247Strategy\((.*?)\):",
                            lambda m: f"class {name}({_without_mixin(m.group(1))}):", source)
    if count != 1:
        raise SystemExit("bench: could not find `class Trader247Strategy(...)` to vary")
    body = NOOP_ADJUST if adjust else "\n    position_adjustment_enable = False\n"
    return source.rstrip() + "\n" + body


def _without_mixin(bases: str) -> str:
    kept = [b.strip() for b in bases.split(",") if b.strip() and "ExposureCapMixin" not in b]
    return ", ".join(kept) or "IStrategy"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def backtest(strategy: str, strategy_dir: Path, timerange: str, port: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one ``freqtrade backtesting`` process."""
    override = strategy_dir / "exchange.json"
    from trader247.cli.demo import exchange_override

    override.write_text(json.dumps(exchange_override(port)))
    command = [sys.executable, "-m", "freqtrade", "backtesting", "-c",
               str(REPO / "config" / "config.json"), "-c", str(override),
               "--userdir", str(REPO / "user_data"), "--strategy", strategy,
               "--strategy-path", str(strategy_dir), "--timerange", timerange,
               "--export", "none", "--cache", "none"]
    cpu_before = _children_cpu()
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    if result.returncode != 0:
        raise SystemExit(f"bench: backtest {strategy} failed:\n{result.stdout[-2000:]}"
                         f"{result.stderr[-2000:]}")
    return cpu, elapsed


def trim_decision_ms(positions: int = 50, repeats: int = 200) -> float:
    from trader247.core.exposure import CapPolicy, Position, Snapshot
    from trader247.core.trims import TrimState, plan_trims

    snapshot = Snapshot(stake_balance=1000.0, positions=tuple(
        Position(f"C{i:03d}/USD", 1.0 + i / 10, 10.0 + i) for i in range(positions)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        plan_trims(snapshot, CapPolicy(), min_stake=1.0, state=TrimState(), cycle=1, now=0.0)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timerange", default="20250101-20250401")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    from trader247.cli.processes import free_port, start_replay, stop

    port = free_port()
    variants = ("Trader247Strategy", "NoopAdjustStrategy", "NoAdjustStrategy")
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="bench-cap-") as tmp:
        strategies = Path(tmp)
        (strategies / "NoopAdjustStrategy.py").write_text(variant("NoopAdjustStrategy",
                                                                  adjust=True))
        (strategies / "NoAdjustStrategy.py").write_text(variant("NoAdjustStrategy",
                                                                adjust=False))
        replay = start_replay(REPO / "user_data" / "data" / "coinbase", port,
                              log=(strategies / "replay.log").open("w"))
        try:
            (strategies / "Trader247Strategy.py").write_text(STRATEGY.read_text())
            for _ in range(max(args.repeat, 1)):
                for name in variants:
                    runs[name].append(backtest(name, strategies, args.timerange, port))
        finally:
            stop(replay, grace=5.0)
    cap_on, noop, off = (min(runs[name]) for name in variants)
    decision = trim_decision_ms()
    print(f"backtest, timerange {args.timerange} (freqtrade start-up included), best of "
          f"{max(args.repeat, 1)}: CPU s (wall s)")
    print(f"  cap on (ExposureCapMixin):      {cap_on[0]:7.1f} ({cap_on[1]:6.1f})")
    print(f"  no-op adjust_trade_position:    {noop[0]:7.1f} ({noop[1]:6.1f})   ratio "
          f"{cap_on[0] / noop[0]:.2f}x CPU (goal <= 1.15x), {cap_on[1] / noop[1]:.2f}x wall")
    print(f"  position adjustment off:        {off[0]:7.1f} ({off[1]:6.1f})   ratio "
          f"{cap_on[0] / off[0]:.2f}x CPU, {cap_on[1] / off[1]:.2f}x wall")
    print(f"one trim decision, 50 open positions:   {decision:7.3f} ms  (goal < 10 ms)")
    return 0 if cap_on[0] / noop[0] <= 1.15 and decision < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
