"""Bot iteration time with 200 pairs at 5m: our plugins against the stock equivalent, same run.

One replay exchange serves a generated 200-pair data set (``tests/reliability/loadlab.py``:
the bundled USD pairs plus rescaled clones, ~1 in 8 under the $3M floor). Each side is a real
``freqtrade trade --dry-run`` with ``--open-trades`` slots filled by force entries:
- ours: TieredLiquidityPairList + Trader247Strategy (ExposureCapMixin);
- stock: VolumePairList (same $3M floor, up to 200 pairs) + freqtrade's SampleStrategy template.
Both run in two phases, each a fresh bot:
1. between candles, freqtrade's default (``process_only_new_candles``): the iterations a
   production bot runs almost all the time (goal: ours p95 < 2 s, hooks median < 5 ms);
2. candle iterations: every iteration analyses every pair as on a new 5m candle (the seed's
   budget: < 20 s).
Iteration and plugin times are exact per iteration: the start-up hook times every
``FreqtradeBot.process`` in both runs and ``/metrics`` is polled five times per iteration; only
polls where ``_count`` moved by exactly one are used. The first iteration (history download for
every pair) is shown apart. The polling itself costs the bot a little CPU, equally in both runs.

Run: ``.venv/bin/python bench/load_200_pairs.py [--iterations 30] [--candle-iterations 5]
[--open-trades 10]``. Exit code 3 when a goal is missed. ``--smoke``: the bundled pairs and a
few clones, one iteration between candles (the candle phase is the same code with one config
flag), no open trades (``bench/_smoke.py``; a natural entry of SampleStrategy whose limit order
rests would hold ``fill_slots`` for its whole 90 s timeout: filling slots is proven by
``tests/reliability/test_load.py``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the load lab lives with the reliability tests

from tests.reliability import loadlab  # noqa: E402

import _smoke  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=30,
                        help="measured iterations between candles, per side (0: skip)")
    parser.add_argument("--candle-iterations", type=int, default=5,
                        help="measured candle iterations per side (0: skip)")
    parser.add_argument("--open-trades", type=int, default=10)
    parser.add_argument("--throttle", type=int, default=1, help="process_throttle_secs")
    _smoke.add_flag(parser)
    args = parser.parse_args()
    pairs = loadlab.PAIRS
    if args.smoke:
        args.iterations, args.candle_iterations, args.open_trades = 1, 0, 0
        pairs = len(list(loadlab.BUNDLED.glob(f"*_USD-{loadlab.TIMEFRAME}.feather"))) + 4

    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        dataset = loadlab.build_dataset(work / "data", pairs)
        print(f"data: {len(dataset.pairs)} USD pairs, "
              f"{len(dataset.below(loadlab.GLOBAL_FLOOR_USD))} under the $3M global floor "
              "(mean day)", flush=True)
        replay, url = loadlab.start_replay(dataset.path, (work / "replay.log").open("w"))
        try:
            for every, iterations in ((False, args.iterations), (True, args.candle_iterations)):
                if iterations <= 0:
                    continue
                results = []
                for run in (loadlab.LoadRun.ours(), loadlab.LoadRun.stock(work)):
                    print(f"measuring {run.name} ({iterations} iterations)...", flush=True)
                    results.append(loadlab.measure(
                        run, url, work / f"{run.name}-{every}", iterations=iterations,
                        open_trades=args.open_trades, throttle_s=args.throttle,
                        analyze_every_iteration=every,
                        entry_pairs=dataset.most_liquid_clones(2 * args.open_trades)))
                ours, stock = results
                print("\n".join(["", *loadlab.summary(ours, stock,
                                                      analyze_every_iteration=every), ""]),
                      flush=True)
                ok &= loadlab.goals_met(ours, analyze_every_iteration=every)
        finally:
            loadlab.stop(replay, grace=5.0)
    print("goals met" if ok else "goal missed (see above)")
    return _smoke.exit_code(args.smoke, ok)


if __name__ == "__main__":
    sys.exit(main())
