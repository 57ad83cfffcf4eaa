"""Cost of the at-risk cap in backtesting, and of one trim decision.

Three variants of ``Trader247Strategy`` are backtested over the same data and timerange, in the
same run, against one replay exchange (freqtrade loads markets even when backtesting):
1. cap on: the strategy as shipped (``ExposureCapMixin``);
2. no-op adjust: the same signals without the mixin, ``position_adjustment_enable`` on and an
   ``adjust_trade_position`` that returns None (freqtrade still deep-copies the trade per call);
3. adjustment off: the same signals, ``position_adjustment_enable = False``.
Goal: 1 / 2 <= 1.15x. Then ``plan_trims`` with 50 open positions over the cap (goal < 10 ms).

Two measurements, both on CPU time (user + system; other processes on the machine stretch
wall time far more than CPU time, which is printed too):
- whole runs: one ``freqtrade backtesting`` process per variant, start-up included;
- the backtest loop alone (the goal): one process loads the data once and runs freqtrade's own
  ``Backtesting.backtest`` for the three variants in turn, timing only that call
  (``time.process_time``); the cap's per-candle work is all in there.
``--repeat N`` runs the variants N times, interleaved in a rotating order, and keeps each
one's fastest run.

Run: ``.venv/bin/python bench/cap_backtest.py [--timerange 20250101-20250401] [--repeat 2]``;
``--smoke``: two weeks, one run of each, a few trim decisions (``bench/_smoke.py``).
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

import _smoke

REPO = Path(__file__).resolve().parents[1]
STRATEGY = REPO / "user_data" / "strategies" / "Trader247Strategy.py"

NOOP_ADJUST = '''
    def adjust_trade_position(self, trade, current_time, **kwargs):
        return None
'''
# The shipped strategy reads its sizing and universe rules from our YAML files through the
# mixin's ``trader247_settings``; without the mixin the variants load the same files the same
# way (``load_settings``), once, at the same point (``ft_bot_start``), and have no cap.
SETTINGS = '''
    @property
    def trader247_settings(self):
        if getattr(self, "_bench_settings", None) is None:
            from trader247.adapters.settings import load_settings

            self._bench_settings = load_settings(self.config)
        return self._bench_settings
'''


def variant(name: str, *, adjust: bool) -> str:
    """The shipped strategy's source with the mixin removed from its bases."""
    source = STRATEGY.read_text()
    source, count = re.subn(r"class Trader247Strategy\((.*?)\):",
                            lambda m: f"class {name}({_without_mixin(m.group(1))}):", source)
    if count != 1:
        raise SystemExit("bench: could not find `class Trader247Strategy(...)` to vary")
    body = NOOP_ADJUST if adjust else "\n    position_adjustment_enable = False\n"
    return source.rstrip() + "\n" + SETTINGS + body


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


LOOP_CHILD = """
import json, sys, time
from freqtrade.commands.arguments import Arguments
from freqtrade.data.history import get_timerange
from freqtrade.data.converter import trim_dataframes
from freqtrade.enums import RunMode
from freqtrade.optimize.backtesting import Backtesting
from freqtrade.commands.optimize_commands import setup_optimize_configuration

argv, repeat = json.loads(sys.argv[1]), int(sys.argv[2])
config = setup_optimize_configuration(Arguments(argv).get_parsed_arg(), RunMode.BACKTEST)
bt = Backtesting(config)
data, timerange = bt.load_bt_data()
times = {}
for round_ in range(repeat):
    shift = round_ % len(bt.strategylist)  # rotate the order: no variant always runs first
    for strategy in bt.strategylist[shift:] + bt.strategylist[:shift]:
        bt._set_strategy(strategy)
        processed = strategy.advise_all_indicators(data)
        start, end = get_timerange(trim_dataframes(processed, timerange, bt.required_startup))
        began = time.process_time()
        bt.backtest(processed=processed, start_date=start, end_date=end)
        times.setdefault(strategy.get_strategy_name(), []).append(time.process_time() - began)
print("LOOP_TIMES " + json.dumps(times))
"""


def loop_times(names: tuple[str, ...], strategy_dir: Path, timerange: str, port: int,
               repeat: int) -> dict[str, float]:
    """Best CPU seconds of freqtrade's backtest loop per variant, data loaded once."""
    from trader247.cli.demo import exchange_override

    override = strategy_dir / "exchange.json"
    override.write_text(json.dumps(exchange_override(port)))
    argv = ["backtesting", "-c", str(REPO / "config" / "config.json"), "-c", str(override),
            "--userdir", str(REPO / "user_data"), "--strategy-list", *names,
            "--strategy-path", str(strategy_dir), "--timerange", timerange,
            "--export", "none", "--cache", "none"]
    result = subprocess.run([sys.executable, "-c", LOOP_CHILD, json.dumps(argv), str(repeat)],
                            capture_output=True, text=True, cwd=REPO)
    line = next((x for x in result.stdout.splitlines() if x.startswith("LOOP_TIMES ")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"bench: loop timing failed:\n{result.stdout[-2000:]}"
                         f"{result.stderr[-2000:]}")
    return {name: min(values) for name, values in json.loads(line[11:]).items()}


def trim_decision_ms(positions: int = 50, repeats: int = 200, *,
                     clusters: bool = False) -> float:
    """Median ms of one ``plan_trims`` over the cap. ``clusters``: with 5 capped clusters of
    10 positions each and a per-asset cap as well ([M] phase 2), every cluster over its cap."""
    from dataclasses import replace

    from trader247.configfiles import load_policy, load_universe
    from trader247.core.clusters import ClusterLimits
    from trader247.core.exposure import Position, Snapshot
    from trader247.core.trims import TrimState, plan_trims

    shipped = load_policy(REPO / "config" / "policy.yaml")
    universe = load_universe(REPO / "config" / "universe.yaml")
    policy = shipped.risk.to_core(shipped.trims, universe.clusters)
    names = [f"C{i:03d}" for i in range(positions)]
    if clusters:
        definitions = {f"K{k}": names[k::5] for k in range(5)}
        policy = replace(policy, cluster_limits=ClusterLimits.from_definitions(
            definitions, dict.fromkeys(definitions, 2.0), 1.0))

    snapshot = Snapshot(stake_balance=1000.0, positions=tuple(
        Position(f"{name}/USD", 1.0 + i / 10, 10.0 + i) for i, name in enumerate(names)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        plan_trims(snapshot, policy, min_stake=1.0, state=TrimState(), cycle=1, now=0.0)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


VARIANTS = ("Trader247Strategy", "NoopAdjustStrategy", "NoAdjustStrategy")
LABELS = {"Trader247Strategy": "cap on (ExposureCapMixin):  ",
          "NoopAdjustStrategy": "no-op adjust_trade_position:",
          "NoAdjustStrategy": "position adjustment off:    "}


def measure(timerange: str, repeat: int, whole: tuple[str, ...]
            ) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Best loop CPU s of every variant; best (CPU s, wall s) of whole runs of ``whole``."""
    from trader247.cli.processes import free_port, start_replay, stop

    port = free_port()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in whole}
    with tempfile.TemporaryDirectory(prefix="bench-cap-") as tmp:
        strategies = Path(tmp)
        for name, adjust in (("NoopAdjustStrategy", True), ("NoAdjustStrategy", False)):
            (strategies / f"{name}.py").write_text(variant(name, adjust=adjust))
        (strategies / "Trader247Strategy.py").write_text(STRATEGY.read_text())
        replay = start_replay(REPO / "user_data" / "data" / "coinbase", port,
                              log=(strategies / "replay.log").open("w"))
        try:
            loops = loop_times(VARIANTS, strategies, timerange, port, repeat)
            for round_ in range(repeat):
                shift = round_ % len(whole)
                for name in whole[shift:] + whole[:shift]:
                    runs[name].append(backtest(name, strategies, timerange, port))
        finally:
            stop(replay, grace=5.0)
    return loops, {name: min(values) for name, values in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timerange", default="20250101-20250401")
    parser.add_argument("--repeat", type=int, default=1)
    _smoke.add_flag(parser)
    args = parser.parse_args()
    repeat = max(args.repeat, 1)
    # Smoke: every variant through the loop, one of them through a whole freqtrade process.
    whole = ("NoopAdjustStrategy",) if args.smoke else VARIANTS
    timerange = "20250601-20250615" if args.smoke else args.timerange
    loops, runs = measure(timerange, 1 if args.smoke else repeat, whole)
    repeats = 3 if args.smoke else 200
    decision = trim_decision_ms(repeats=repeats)
    grouped = trim_decision_ms(repeats=repeats, clusters=True)
    loop_on = loops["Trader247Strategy"]
    print(f"backtest, timerange {timerange}, best of {repeat}")
    print("  freqtrade's backtest loop alone, CPU s:")
    for name in VARIANTS:
        ratio = "" if name == VARIANTS[0] else f"   ratio {loop_on / loops[name]:.2f}x"
        goal = " (goal <= 1.15x)" if name == "NoopAdjustStrategy" else ""
        print(f"    {LABELS[name]}  {loops[name]:7.2f}{ratio}{goal}")
    print("  whole freqtrade process (start-up included), CPU s (wall s):")
    for name, (cpu, wall) in runs.items():
        ratio = ""
        if name != VARIANTS[0] and VARIANTS[0] in runs:
            on_cpu, on_wall = runs[VARIANTS[0]]
            ratio = f"   ratio {on_cpu / cpu:.2f}x CPU, {on_wall / wall:.2f}x wall"
        print(f"    {LABELS[name]}  {cpu:7.1f} ({wall:6.1f}){ratio}")
    print(f"one trim decision, 50 open positions:   {decision:7.3f} ms  (goal < 10 ms)")
    print(f"  with 5 cluster caps + an asset cap:   {grouped:7.3f} ms  ratio "
          f"{grouped / decision:.2f}x (goal < 10 ms)")
    met = loop_on / loops["NoopAdjustStrategy"] <= 1.15 and max(decision, grouped) < 10
    return _smoke.exit_code(args.smoke, met)


if __name__ == "__main__":
    sys.exit(main())
