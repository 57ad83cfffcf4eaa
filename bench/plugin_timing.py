"""Plugin-time accounting (``observability.timed``): what it costs and how close it is to real time.

freqtrade has no equivalent (it does not time plugin hooks), so the baseline is the same hook
undecorated, measured in the same run:
1. cost per call of a trivial hook: undecorated, decorated without an exporter (backtesting,
   hyperopt: the decorator must be nearly free there, the cap hooks run once per candle and
   trade) and decorated with an exporter (dry-run / live); goal: < 5 us added per call (a
   hundred hook calls an iteration then add 0.5 ms, a tenth of the 5 ms plugin budget);
2. accuracy: a hook that sleeps 2 ms, plugin time recorded for one iteration against the wall
   time measured around the same call; goal: ratio within 0.9-1.1 (the unit tests use a fake
   clock and hold no wall-clock threshold, see tests/monitoring/test_plugin_timing.py).

Run: ``.venv/bin/python bench/plugin_timing.py`` (``make bench``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import _smoke
from trader247.adapters import observability
from trader247.metrics.exporter import Metrics

CALLS = 200_000
SLEEPS = 50


class Plugin:
    """A plugin of one bot: ``timed`` finds the bot's runtime through ``config``."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}

    def hook(self, x: int) -> int:
        return x + 1

    @observability.timed("pairlist")
    def timed_hook(self, x: int) -> int:
        return x + 1

    @observability.timed("pairlist")
    def sleeping_hook(self, seconds: float) -> None:
        time.sleep(seconds)


PLUGIN = Plugin()
hook = PLUGIN.hook
timed_hook = PLUGIN.timed_hook


def per_call_ns(function: Callable[[int], Any], calls: int) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for i in range(calls):
            function(i)
        runs.append((time.perf_counter() - start) / calls * 1e9)
    return min(runs)


def accuracy(metrics: Metrics, sleeps: int) -> float:
    ratios = []
    for _ in range(sleeps):
        runtime = observability.runtime_of(PLUGIN.config)
        runtime.begin_iteration()
        start = time.perf_counter()
        PLUGIN.sleeping_hook(0.002)
        wall = time.perf_counter() - start
        before = metrics.value("trader247_bot_iteration_plugin_seconds_sum") or 0.0
        runtime.record_iteration(wall)
        recorded = (metrics.value("trader247_bot_iteration_plugin_seconds_sum") or 0.0) - before
        ratios.append(recorded / wall)
    return statistics.median(ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _smoke.add_flag(parser)
    args = parser.parse_args()
    calls, sleeps = (1000, 2) if args.smoke else (CALLS, SLEEPS)
    plain = per_call_ns(hook, calls)
    off = per_call_ns(timed_hook, calls)  # no runtime in the config: a backtest
    runtime = observability.runtime_of(PLUGIN.config)
    metrics = runtime.metrics = Metrics(process_collectors=False)  # what Runtime.start does
    runtime.begin_iteration()
    on = per_call_ns(timed_hook, calls)
    ratio = accuracy(metrics, sleeps)
    PLUGIN.config.clear()
    print(f"cost per call ({calls} calls, best of 5):")
    print(f"  undecorated hook:             {plain:8.0f} ns")
    print(f"  timed, no exporter:           {off:8.0f} ns  (+{off - plain:.0f} ns, "
          f"{off / plain:.1f}x)")
    print(f"  timed, exporter running:      {on:8.0f} ns  (+{on - plain:.0f} ns, "
          f"{on / plain:.1f}x)")
    print(f"accuracy: recorded plugin time / wall time of a 2 ms hook (median of {sleeps}): "
          f"{ratio:.3f}")
    ok = (on - plain) < 5000 and 0.9 <= ratio <= 1.1
    print(f"goal < 5 us added per call and ratio 0.9-1.1: {'OK' if ok else 'MISSED'}")
    return _smoke.exit_code(args.smoke, ok)


if __name__ == "__main__":
    sys.exit(main())
