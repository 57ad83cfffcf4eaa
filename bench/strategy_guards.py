"""Trader247Strategy's whipsaw guards (issue [S]) at FIXED parameters over the walk-forward's
out-of-sample span, against SampleStrategy and buy-and-hold.

Why this exists: ``trader247 walk-forward`` re-tunes every window with hyperopt, which on the
shared 2-core machine took about an hour per window and data set (load 20-40), so the candidates
could not all be walk-forwarded in a session. This runs ONE ``freqtrade backtesting`` per data
set and candidate over the span the walk-forward's test windows cover (2024-09-20 -> 2025-06-30
with its default windows), with FIXED hyperopt parameters (``FIXED_PARAMS``: ma 600 h, band
3.9 %, momentum -1 %, stop -21.5 %, issue 13's walk-forward choice on the real USD candles,
written as the strategy's parameter file so that the rows do not move when the strategy's
defaults do) and only the ``policy.yaml`` ``strategy:`` guards changed per candidate. Same
config, fees (1.2 % per side), replay exchange and metrics as the walk-forward
(``trader247.core.walkforward``: daily mark-to-market equity, Sharpe x sqrt(365));
buy-and-hold pays the fee on entry and exit.

Read the real-data rows with care: the fixed parameters were chosen on those candles (issue 13),
so only the guards are out of sample there; the generated sets were never used for tuning.

Usage: .venv/bin/python bench/strategy_guards.py --sets usd btc seed7 seed2026
       [--candidates combo baseline market ... market_all] [--out reports/guards]
Each candidate is a set of ``policy.yaml`` ``strategy:`` values (CANDIDATES); the README's
selection rule picks the shipped default from the goals each one meets.
Generated sets are read from reports/walk-forward/data/seed<N> (``make walk-forward`` writes
them; missing ones are generated here with the same command).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import _smoke  # noqa: E402
from trader247.cli.demo import exchange_override  # noqa: E402
from trader247.cli.processes import free_port, start_replay, stop  # noqa: E402
from trader247.cli.walk_forward import BUY_HOLD, SAMPLE, _read_results, buy_and_hold  # noqa: E402
from trader247.core.walkforward import (  # noqa: E402
    CandidateScore,
    PerformanceMetrics,
    Window,
    goals,
    rank_candidates,
    score_candidate,
)

USD = ["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD"]
SETS: dict[str, tuple[str, list[str], float]] = {  # name -> (data dir, pairs, wallet)
    "usd": ("user_data/data/coinbase", USD, 1000.0),
    "btc": ("user_data/data/coinbase", ["ETH/BTC", "SOL/BTC", "ADA/BTC"], 1.0),
}
OFF: dict[str, Any] = {"market_filter": "false", "reentry_cooldown_hours": "0.0"}
VOL_STAKE = {"stake": "volatility"}
VOL_BAND = {"band": "volatility"}
TOP_2 = {"momentum_top_n": "2"}
# combo (the shipped default) first: the README's selection rule breaks a last tie by this order.
CANDIDATES: dict[str, dict[str, Any]] = {
    "combo": {"market_filter": "true", "reentry_cooldown_hours": "168.0"},
    "baseline": OFF,
    "market": {**OFF, "market_filter": "true"},
    "cooldown": {**OFF, "reentry_cooldown_hours": "168.0"},
    "trailing": {**OFF, "exit": "trailing"},
    "wide_exit": {**OFF, "exit_band_scale": "2.0"},
    "vol_stake": {**OFF, **VOL_STAKE},
    "vol_band": {**OFF, **VOL_BAND},
    "momentum": {**OFF, **TOP_2},
    "market_wide": {**OFF, "market_filter": "true", "exit_band_scale": "2.0"},
    "market_all": {**OFF, "market_filter": "true", **VOL_STAKE, **VOL_BAND, **TOP_2},
}
FIXED_PARAMS: dict[str, Any] = {
    "strategy_name": "Trader247Strategy",
    "params": {"buy": {"buy_trend_ma_hours": 600, "buy_trend_band_pct": 3.9,
                       "buy_trend_min_momentum_pct": -1.0, "buy_triggers_required": False},
               "stoploss": {"stoploss": -0.215}},
}
SPAN = Window(0, datetime(2024, 5, 23, tzinfo=UTC), datetime(2024, 9, 20, tzinfo=UTC),
              datetime(2025, 6, 30, tzinfo=UTC))


def data_set(name: str) -> tuple[Path, list[str], float]:
    if name in SETS:
        folder, pairs, wallet = SETS[name]
        return REPO / folder, pairs, wallet
    seed = name.removeprefix("seed")
    folder = REPO / "reports" / "walk-forward" / "data" / f"seed{seed}"
    if not folder.exists():
        subprocess.run([sys.executable, "-m", "trader247.datagen", "--out", str(folder),
                        "--variant", "synthetic", "--seed", seed, "--timeframes", "1h",
                        "--pairs", *USD, "ETH/BTC", "SOL/BTC", "ADA/BTC"], check=True)
    return folder, USD, 1000.0


def config_dir(tmp: Path, guards: dict[str, Any]) -> Path:
    """config/ with the candidate's ``strategy:`` values (policy.yaml edited line by line)."""
    folder = tmp / "config"
    shutil.copytree(REPO / "config", folder)
    policy = folder / "policy.yaml"
    lines = policy.read_text().splitlines()
    for key, value in guards.items():
        lines = [f"  {key}: {value}" if line.startswith(f"  {key}:") else line for line in lines]
    policy.write_text("\n".join(lines) + "\n")
    return folder


def backtest(tmp: Path, data: Path, pairs: list[str], wallet: float, guards: dict[str, Any],
             sample: bool, port: int, timerange: str) -> dict[str, Any]:
    import freqtrade

    config = config_dir(tmp, guards)
    strategies = tmp / "strategies"
    strategies.mkdir()
    shutil.copy(REPO / "user_data" / "strategies" / "Trader247Strategy.py", strategies)
    (strategies / "Trader247Strategy.json").write_text(json.dumps(FIXED_PARAMS))
    shutil.copy(Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py", strategies)
    override: dict[str, Any] = exchange_override(port)
    override["exchange"]["pair_whitelist"] = pairs
    override.update({"pairlists": [{"method": "StaticPairList"}], "dry_run_wallet": wallet,
                     "stake_currency": pairs[0].partition("/")[2]})
    (tmp / "override.json").write_text(json.dumps(override))
    results = tmp / "results"
    results.mkdir()
    names = ["Trader247Strategy", SAMPLE] if sample else ["Trader247Strategy"]
    command = [sys.executable, "-m", "freqtrade", "backtesting", "-c", str(config / "config.json"),
               "-c", str(tmp / "override.json"), "--userdir", str(tmp), "--strategy-path",
               str(strategies), "--datadir", str(data), "--timeframe", "1h", "--timerange",
               timerange, "--strategy-list", *names, "--export", "trades",
               "--backtest-directory", str(results), "--cache", "none"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"backtest failed:\n{(done.stdout + done.stderr)[-3000:]}")
    archive = next(results.glob("backtest-result-*.zip"))
    out, fee = _read_results(archive, pairs[0].partition("/")[2])
    row: dict[str, Any] = {name: (m, trades) for name, (m, _, trades, _) in out.items()}
    if sample:
        metric, _, trades, _ = buy_and_hold(data, pairs, "1h", SPAN, fee, wallet)
        row[BUY_HOLD] = (metric, trades)
    return row


def select(tables: list[Path]) -> list[CandidateScore]:
    """The README's selection rule over the rows of ``tables`` (this script's csv files):
    candidates present in every set, best first. Sharpe edges from the csv's rounded values."""
    rows = [row for table in tables for row in csv.DictReader(table.open())]
    sets = sorted({row["set"] for row in rows})
    hold = {row["set"]: float(row["Sharpe"]) for row in rows if row["strategy"] == BUY_HOLD}
    if set(hold) != set(sets):
        sys.exit(f"--select: no buy & hold row for {sorted(set(sets) - set(hold))}")
    goal_names = [name for name in rows[0] if name.startswith(("Sharpe >", "max DD", "return"))]
    scores = []
    for name in dict.fromkeys(row["strategy"] for row in rows):
        mine = [row for row in rows if row["strategy"] == name]
        if name in (SAMPLE, BUY_HOLD) or len({row["set"] for row in mine}) != len(sets):
            continue
        met = sum(row[goal] == "met" for row in mine for goal in goal_names if row.get(goal))
        scores.append(CandidateScore(
            name, met, min(float(row["Sharpe"]) - hold[row["set"]] for row in mine),
            round(sum(float(row["profit %"]) for row in mine), 2)))
    return rank_candidates(scores)


WALK_FORWARD_SETS = ("real-usd", "real-btc", "seed7", "seed2026")  # make walk-forward's --out dirs


def _overall(table: Path) -> dict[str, PerformanceMetrics]:
    rows = [row for row in csv.DictReader(table.open()) if row["window"] == "overall"]
    return {row["strategy"]: PerformanceMetrics(
        float(row["profit %"]), float(row["Sharpe"]), float(row["Sortino"]),
        float(row["max DD %"]), int(row["days"])) for row in rows}


def select_walk_forward(candidates: list[str]) -> list[CandidateScore]:
    """The README's selection rule over whole walk-forwards: NAME=DIR, DIR holding
    ``make walk-forward``'s four set folders (each its ``walk-forward.csv``)."""
    scores = []
    for spec in candidates:
        name, sep, folder = spec.partition("=")
        if not sep:
            sys.exit(f"--select-walk-forward: {spec!r} is not NAME=DIR")
        sets = {}
        for set_name in WALK_FORWARD_SETS:
            table = Path(folder) / set_name / "walk-forward.csv"
            if not table.is_file():
                sys.exit(f"--select-walk-forward: {name}: no {table}")
            rows = _overall(table)
            sets[set_name] = (rows["Trader247Strategy"], rows[SAMPLE], rows[BUY_HOLD])
        scores.append(score_candidate(name, sets))
    return rank_candidates(scores)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", default=["usd", "btc", "seed7", "seed2026"])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "guards")
    parser.add_argument("--select", nargs="+", type=Path, metavar="CSV",
                        help="apply the README's selection rule to these tables; no backtest")
    parser.add_argument("--select-walk-forward", nargs="+", metavar="NAME=DIR",
                        help="the same rule over walk-forwards (DIR: make walk-forward's --out "
                        "folder with real-usd, real-btc, seed7, seed2026); no backtest")
    _smoke.add_flag(parser)
    args = parser.parse_args()
    if args.select or args.select_walk_forward:
        ranked = (select(args.select) if args.select
                  else select_walk_forward(args.select_walk_forward))
        for rank, score in enumerate(ranked, 1):
            print(f"{rank:2d}. {score.name:14s} goals met {score.goals_met:2d}, min Sharpe - "
                  f"buy & hold {score.min_sharpe_edge:+.2f}, "
                  f"summed return {score.profit_sum:+.2f} %")
        return 0
    timerange = SPAN.test_range
    if args.smoke:  # one set, one candidate, one month: the whole path, no figure that counts
        args.sets, args.candidates, timerange = ["usd"], ["market_all"], "20250601-20250630"
        args.out = Path(tempfile.mkdtemp(prefix="guards-smoke-"))
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for set_name in args.sets:
        data, pairs, wallet = data_set(set_name)
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="guards-") as name:
            replay = start_replay(data, port, log=(Path(name) / "replay.log").open("w"))
            try:
                reference: dict[str, Any] = {}
                for i, candidate in enumerate(args.candidates):
                    tmp = Path(name) / candidate
                    tmp.mkdir()
                    got = backtest(tmp, data, pairs, wallet, CANDIDATES[candidate], i == 0, port,
                                   timerange)
                    reference = reference or got
                    ours = got["Trader247Strategy"][0]
                    verdict = goals(ours, reference[SAMPLE][0], reference[BUY_HOLD][0])
                    rows.append({"set": set_name, "strategy": candidate, **ours.row(),
                                 "trades": got["Trader247Strategy"][1],
                                 **{k: "met" if v else "MISSED" for k, v in verdict.items()}})
                    print(rows[-1], flush=True)
                for other in (SAMPLE, BUY_HOLD):
                    metric, trades = reference[other]
                    rows.append({"set": set_name, "strategy": other, **metric.row(),
                                 "trades": trades})
                    print(rows[-1], flush=True)
            finally:
                stop(replay, grace=5.0)
    out = args.out / f"guards-{'-'.join(args.sets)}.csv"
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"table: {out}")
    return _smoke.exit_code(args.smoke, True)  # a comparison table, no goal


if __name__ == "__main__":
    raise SystemExit(main())
