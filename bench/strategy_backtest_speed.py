"""Backtest cost of Trader247Strategy against freqtrade's SampleStrategy, same run (issue 13
item 5).

Both strategies are backtested alone (``trader247 backtest``: private replay exchange, plain
freqtrade), same config, pairs and timerange, alternately ``--repeat`` times. Reported: wall time
and CPU time of the freqtrade process (children's rusage), best of the repeats, and the ratio
ours / SampleStrategy (goal: wall time <= 1.5x). SampleStrategy is copied from freqtrade's
template into a temporary folder.

Usage: .venv/bin/python bench/strategy_backtest_speed.py [--timerange 20240601-20250601]
       [--timeframe 1h] [--repeat 3]
``--smoke``: two weeks, three pairs, once each (``bench/_smoke.py``).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import freqtrade

import _smoke

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "user_data" / "data" / "coinbase"
PAIRS = ["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD", "XRP/USD", "DOGE/USD", "AVAX/USD",
         "LINK/USD", "ATOM/USD", "UNI/USD", "GRT/USD", "SHIB/USD"]
GOAL = 1.5


def one(strategy: str, tmp: Path, args: argparse.Namespace) -> tuple[float, float]:
    command = [sys.executable, "-m", "trader247.cli", "backtest", "--", "-c",
               str(tmp / "pairs.json"), "--strategy", strategy, "--strategy-path",
               str(tmp / "strategies"), "--timerange", args.timerange, "--timeframe",
               args.timeframe, "--cache", "none", "--export", "none"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{strategy} backtest failed:\n{(done.stdout + done.stderr)[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timerange", default="20240601-20250601")
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--repeat", type=int, default=3)
    _smoke.add_flag(parser)
    args = parser.parse_args()
    pairs = PAIRS[:3] if args.smoke else PAIRS
    if args.smoke:
        args.timerange, args.repeat = "20250601-20250615", 1
    with tempfile.TemporaryDirectory(prefix="bench-strategy-") as name:
        tmp = Path(name)
        (tmp / "strategies").mkdir()
        shutil.copy(REPO / "user_data" / "strategies" / "Trader247Strategy.py", tmp / "strategies")
        shutil.copy(Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py",
                    tmp / "strategies")
        (tmp / "pairs.json").write_text(json.dumps({
            "exchange": {"pair_whitelist": pairs}, "pairlists": [{"method": "StaticPairList"}]}))
        runs: dict[str, list[tuple[float, float]]] = {"Trader247Strategy": [],
                                                      "SampleStrategy": []}
        for _ in range(args.repeat):
            for strategy, results in runs.items():
                results.append(one(strategy, tmp, args))
    best = {name: (min(w for w, _ in r), min(c for _, c in r)) for name, r in runs.items()}
    ours, stock = best["Trader247Strategy"], best["SampleStrategy"]
    print(f"{len(pairs)} pairs, {args.timeframe}, {args.timerange}, best of {args.repeat}")
    for name, (wall, cpu) in best.items():
        print(f"  {name:18s} wall {wall:6.1f} s   cpu {cpu:6.1f} s")
    ratio = ours[0] / stock[0]
    print(f"ratio wall {ratio:.2f}x (goal <= {GOAL}x), cpu {ours[1] / stock[1]:.2f}x")
    return _smoke.exit_code(args.smoke, ratio <= GOAL)


if __name__ == "__main__":
    raise SystemExit(main())
