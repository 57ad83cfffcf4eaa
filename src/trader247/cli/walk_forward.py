"""``trader247 walk-forward``: rolling out-of-sample evaluation with freqtrade's own tools.

For each window: ``freqtrade hyperopt`` on the train range (the best parameters are exported by
freqtrade next to a private copy of the strategy), then ``freqtrade backtesting`` of the tuned
strategy and of freqtrade's SampleStrategy (its template, copied at run time) on the following
test range, with the same config, pairs and fees; equal-weight buy-and-hold of the same pairs
is scored from the candles with the same fee on entry and exit. No second backtester: returns
come from freqtrade's wallet history (``--export trades``). A private replay exchange serves the
markets, as for ``trader247 backtest``. Metrics and the parameter choice:
``trader247.core.walkforward``. Outputs in ``--out``: ``walk-forward.csv``, ``walk-forward.html``
(plotly, as freqtrade's plots; skipped with a note when plotly is not importable),
``recommended-params.json`` (freqtrade's parameter-file format) and ``logs/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from trader247.cli.demo import exchange_override
from trader247.cli.interrupts import Interrupted, run_in_group, stop_on_signals
from trader247.cli.processes import StartupFailed, free_port, start_replay, stop
from trader247.cli.progress import EpochWatch, Progress, duration, remaining_walk
from trader247.core.plugin_names import STRATEGY
from trader247.core.walkforward import (
    PerformanceMetrics,
    Window,
    chain,
    choose_params,
    daily_equity,
    goals,
    metrics,
    windows,
)

SAMPLE = "SampleStrategy"
BUY_HOLD = "buy & hold (equal weight)"
DEFAULT_PAIRS = ("BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=Path("config/config.json"))
    parser.add_argument("--data-dir", type=Path, default=Path("user_data/data/coinbase"))
    parser.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS),
                        help="pairs (one quote: it becomes the stake currency)")
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--timerange", help="YYYYMMDD-YYYYMMDD (default: all candles of the "
                        "pairs, after --warmup-days)")
    parser.add_argument("--warmup-days", type=int, default=35,
                        help="candles kept before the first train window for indicator start-up")
    parser.add_argument("--train-days", type=int, default=120)
    parser.add_argument("--test-days", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--spaces", nargs="+", default=["buy", "stoploss"])
    parser.add_argument("--hyperopt-loss", default="SharpeHyperOptLossDaily")
    parser.add_argument("--random-state", type=int, default=1)
    parser.add_argument("-j", "--jobs", type=int, default=1, help="hyperopt worker processes")
    parser.add_argument("--strategy", default=STRATEGY)
    parser.add_argument("--strategy-path", type=Path, default=Path("user_data/strategies"))
    parser.add_argument("--wallet", type=float, default=1000.0, help="dry_run_wallet")
    parser.add_argument("--out", type=Path, default=Path("user_data/walk-forward"))
    parser.add_argument("--label", help="data set name in the tables (default: the data dir)")
    parser.set_defaults(handler=run)


@dataclass
class Run:
    """What the freqtrade subprocesses need: paths, the replay's config layer, the log dir;
    where progress goes."""

    args: argparse.Namespace
    work: Path
    override: Path
    logs: Path
    progress: Progress = field(default_factory=Progress)

    def freqtrade(self, command: str, name: str, *extra: str,
                  poll: Callable[[], None] | None = None) -> None:
        """Run freqtrade in a process group of its own (stopped whole on an interrupt:
        ``trader247.cli.interrupts``), calling ``poll`` every second."""
        cmd = [sys.executable, "-m", "freqtrade", command, "-c", str(self.args.config),
               "-c", str(self.override), "--userdir", str(self.work / "ud"),
               "--strategy-path", str(self.work / "strategies"),
               "--datadir", str(self.args.data_dir), "--timeframe", self.args.timeframe, *extra]
        log = self.logs / f"{name}.log"
        with log.open("w") as handle:
            code = run_in_group(cmd, log=handle, name=f"freqtrade {command}", poll=poll)
        if code != 0:
            tail = log.read_text()[-2500:]
            raise SystemExit(f"error: freqtrade {command} failed (exit {code}); "
                             f"log {log}:\n{tail}")


def run(args: argparse.Namespace) -> int:
    """The command; Ctrl-C / SIGTERM stop it with one line and exit 130 / 143 (module
    ``trader247.cli.interrupts``), every freqtrade and replay process stopped."""
    progress = Progress()
    try:
        with stop_on_signals():
            return _run(args, progress)
    except Interrupted as stop:
        stop.add_note(f"partial logs in {args.out / 'logs'}")
        progress.line(stop.line("walk-forward"))
        return stop.exit_code


def _run(args: argparse.Namespace, progress: Progress) -> int:
    try:
        stake = _stake_of(args.pairs)
        start, end = _range(args)
        plan = windows(start, end, args.train_days, args.test_days)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "logs").mkdir(exist_ok=True)
    label = args.label or args.data_dir.name
    progress.line(f"walk-forward on {label}: {len(args.pairs)} pairs ({', '.join(args.pairs)}), "
                  f"{len(plan)} windows of {args.train_days} d train + {args.test_days} d test, "
                  f"{args.epochs} epochs, spaces {' '.join(args.spaces)}")
    with tempfile.TemporaryDirectory(prefix="trader247-wf-") as tmp:
        work = Path(tmp)
        _prepare(work, args, stake)
        port = free_port()
        try:
            replay = start_replay(args.data_dir, port, log=(work / "replay.log").open("w"))
        except StartupFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            (work / "exchange.json").write_text(json.dumps(_override(args, port, stake)))
            session = Run(args, work, work / "exchange.json", args.out / "logs", progress)
            rows, curves, chosen = _all_windows(session, plan, label, stake)
        finally:
            stop(replay, grace=5.0)
    _report(args, label, rows, curves, chosen)
    return 0


def _stake_of(pairs: list[str]) -> str:
    quotes = {pair.partition("/")[2] for pair in pairs}
    if len(quotes) != 1 or "" in quotes:
        raise ValueError(f"--pairs must share one quote currency (got {', '.join(pairs)})")
    return quotes.pop()


def _candles(data_dir: Path, pair: str, timeframe: str) -> pd.DataFrame:
    path = data_dir / f"{pair.replace('/', '_')}-{timeframe}.feather"
    if not path.exists():
        raise ValueError(f"no candles for {pair} {timeframe}: {path} is missing (run `freqtrade "
                         f"download-data --pairs {pair} --timeframes {timeframe}`)")
    return pd.read_feather(path)


def _range(args: argparse.Namespace) -> tuple[datetime, datetime]:
    if args.timerange:
        first, _, last = args.timerange.partition("-")
        try:
            return (datetime.strptime(first, "%Y%m%d").replace(tzinfo=UTC),
                    datetime.strptime(last, "%Y%m%d").replace(tzinfo=UTC))
        except ValueError:
            raise ValueError(
                f"--timerange {args.timerange!r}: expected YYYYMMDD-YYYYMMDD") from None
    frames = [_candles(args.data_dir, pair, args.timeframe) for pair in args.pairs]
    start = max(f["date"].iat[0] for f in frames).to_pydatetime()
    end = min(f["date"].iat[-1] for f in frames).to_pydatetime()
    start = (start + timedelta(days=args.warmup_days)).replace(hour=0, minute=0, second=0)
    return start, end.replace(hour=0, minute=0, second=0)


def _prepare(work: Path, args: argparse.Namespace, stake: str) -> None:
    import freqtrade

    strategies = work / "strategies"
    strategies.mkdir()
    source = args.strategy_path / f"{args.strategy}.py"
    if not source.exists():
        raise SystemExit(f"error: strategy file {source} not found (--strategy-path)")
    shutil.copy(source, strategies)
    template = Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py"
    shutil.copy(template, strategies / "sample_strategy.py")
    (work / "ud").mkdir()


def _override(args: argparse.Namespace, port: int, stake: str) -> dict[str, Any]:
    config: dict[str, Any] = exchange_override(port)
    config["exchange"]["pair_whitelist"] = list(args.pairs)
    config.update({"pairlists": [{"method": "StaticPairList"}], "stake_currency": stake,
                   "dry_run_wallet": args.wallet, "timeframe": args.timeframe})
    return config


def _all_windows(session: Run, plan: list[Window], label: str, stake: str
                 ) -> tuple[list[dict[str, Any]], dict[str, list[tuple[pd.Series, float]]],
                            dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[tuple[pd.Series, float]]] = {}
    tuned: list[dict[str, Any]] = []
    took: list[float] = []
    for window in plan:
        started = time.monotonic()
        params = _hyperopt(session, window, len(plan))
        tuned.append(params)
        for name, (metric, curve, trades, start) in _test(session, window, len(plan),
                                                           stake).items():
            curves.setdefault(name, []).append((curve, start))
            rows.append({"data set": label, "window": window.index, "train": window.train_range,
                         "test": window.test_range, "strategy": name, **metric.row(),
                         "trades": trades})
        took.append(time.monotonic() - started)
        _window_done(session.progress, window, len(plan), took)
    grouped = [{space: values for space, values in p.items() if isinstance(values, dict)}
               for p in tuned]
    return rows, curves, choose_params(grouped)


def _window_done(progress: Progress, window: Window, total: int, took: list[float]) -> None:
    left = total - window.index
    tail = (f"{left} windows left, ~{duration(remaining_walk(took, left))} "
            f"({duration(sum(took) / len(took))} per window so far)" if left
            else f"all {total} done in {duration(sum(took))}")
    progress.line(f"[{window.index}/{total}] window done in {duration(took[-1])}; {tail}")


def _hyperopt(session: Run, window: Window, total: int) -> dict[str, Any]:
    args = session.args
    exported = session.work / "strategies" / f"{args.strategy}.json"
    exported.unlink(missing_ok=True)  # every window starts from the strategy's own defaults
    prefix = f"[{window.index}/{total}]"
    session.progress.line(f"{prefix} hyperopt {args.strategy} on {window.train_range} "
                          f"({args.epochs} epochs)...")
    started = time.monotonic()
    watch = EpochWatch(session.work / "ud" / "hyperopt_results", args.epochs, prefix,
                       session.progress)
    session.freqtrade("hyperopt", f"window{window.index}-hyperopt", "--strategy", args.strategy,
                      "--timerange", window.train_range, "--spaces", *args.spaces,
                      "--epochs", str(args.epochs), "--hyperopt-loss", args.hyperopt_loss,
                      "--random-state", str(args.random_state), "-j", str(args.jobs),
                      poll=watch.poll)
    if not exported.exists():
        raise SystemExit(f"error: hyperopt wrote no {exported.name} (no epoch had trades?): "
                         f"see {session.logs}/window{window.index}-hyperopt.log")
    params: dict[str, Any] = json.loads(exported.read_text())["params"]
    session.progress.line(f"{prefix} hyperopt done in {duration(time.monotonic() - started)}: "
                          f"{_brief(params)}")
    return params


def _brief(params: dict[str, Any]) -> str:
    flat = {**params.get("buy", {}), **params.get("stoploss", {})}
    return ", ".join(f"{k}={v}" for k, v in flat.items())


def _test(session: Run, window: Window, total: int, stake: str
          ) -> dict[str, tuple[PerformanceMetrics, pd.Series, int, float]]:
    args = session.args
    out = session.work / f"results-{window.index}"
    out.mkdir()
    session.progress.line(f"[{window.index}/{total}] backtest on {window.test_range}...")
    started = time.monotonic()
    session.freqtrade("backtesting", f"window{window.index}-backtest", "--strategy-list",
                      args.strategy, SAMPLE, "--timerange", window.test_range,
                      "--export", "trades", "--backtest-directory", str(out), "--cache", "none")
    archive = max(out.glob("backtest-result-*.zip"), key=lambda p: p.stat().st_mtime)
    results, fee = _read_results(archive, stake)
    results[BUY_HOLD] = buy_and_hold(args.data_dir, args.pairs, args.timeframe, window,
                                     fee, args.wallet)
    summary = ", ".join(f"{name.split(' ')[0]} {m.profit_pct:+.2f} % (Sharpe {m.sharpe:.2f})"
                        for name, (m, _, _, _) in results.items())
    session.progress.line(f"[{window.index}/{total}] backtest done in "
                          f"{duration(time.monotonic() - started)}: {summary}")
    return results


def _read_results(archive: Path, stake: str
                  ) -> tuple[dict[str, tuple[PerformanceMetrics, pd.Series, int, float]], float]:
    out: dict[str, tuple[PerformanceMetrics, pd.Series, int, float]] = {}
    fee = 0.0
    with zipfile.ZipFile(archive) as bundle:
        name = next(n for n in bundle.namelist()
                    if n.endswith(".json") and not n.endswith("_config.json"))
        content = json.loads(bundle.read(name))
        for strategy, result in content["strategy"].items():
            wallet_file = next(n for n in bundle.namelist()
                               if n.endswith(f"_{strategy}_wallet.feather"))
            with bundle.open(wallet_file) as handle:
                wallet = pd.read_feather(handle)
            start = float(result["starting_balance"])
            daily = daily_equity(_wallet_value(wallet))
            out[strategy] = (metrics(daily, start), daily, int(result["total_trades"]), start)
            if result["trades"] and not fee:
                fee = float(result["trades"][0]["fee_open"])
    return out, fee


def _wallet_value(wallet: pd.DataFrame) -> pd.Series:
    value = (wallet["rate"] * wallet["balance"]).groupby(wallet["date"]).sum()
    value.index = pd.to_datetime(value.index, utc=True)
    return value


def buy_and_hold(data_dir: Path, pairs: list[str], timeframe: str, window: Window, fee: float,
                 wallet: float) -> tuple[PerformanceMetrics, pd.Series, int, float]:
    """Equal weight bought at the test range's first open, marked at each close, sold (fee)
    at the last one."""
    closes = {}
    for pair in pairs:
        frame = _candles(data_dir, pair, timeframe)
        frame = frame[(frame["date"] >= window.test_start) & (frame["date"] < window.test_end)]
        units = wallet / len(pairs) * (1 - fee) / float(frame["open"].iat[0])
        closes[pair] = frame.set_index("date")["close"] * units
    value = pd.DataFrame(closes).sort_index().ffill().sum(axis=1)
    value.iloc[-1] *= 1 - fee
    daily = daily_equity(value)
    return metrics(daily, wallet), daily, len(pairs), wallet


def _report(args: argparse.Namespace, label: str, rows: list[dict[str, Any]],
            curves: dict[str, list[tuple[pd.Series, float]]], chosen: dict[str, Any]) -> None:
    overall = [{"data set": label, "window": "overall", "train": "", "test": "",
                "strategy": name, **chain(parts).row(),
                "trades": sum(r["trades"] for r in rows if r["strategy"] == name)}
               for name, parts in curves.items()]
    table = pd.DataFrame([*rows, *overall])
    csv = args.out / "walk-forward.csv"
    table.to_csv(csv, index=False)
    params_file = args.out / "recommended-params.json"
    params_file.write_text(json.dumps({"strategy_name": args.strategy, "params": chosen},
                                      indent=2) + "\n")
    print(table.drop(columns=["data set", "train"]).to_string(index=False))
    if {args.strategy, SAMPLE, BUY_HOLD} <= curves.keys():
        verdicts = goals(*(chain(curves[name]) for name in (args.strategy, SAMPLE, BUY_HOLD)))
        print("goals (overall): " + ", ".join(f"{goal} {'met' if ok else 'MISSED'}"
                                              for goal, ok in verdicts.items()))
    print(f"\nrecommended parameters (median / most frequent over the windows): {params_file}")
    print(f"table: {csv}")
    html = write_html(args.out / "walk-forward.html", label, curves, table)
    print(f"chart: {html}" if html else "chart: skipped (plotly is not installed: "
          "pip install 'freqtrade[plot]')")


def write_html(path: Path, label: str, curves: dict[str, list[tuple[pd.Series, float]]],
               table: pd.DataFrame) -> Path | None:
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        return None
    figure = make_subplots(rows=2, cols=1, row_heights=[0.65, 0.35], vertical_spacing=0.08,
                           subplot_titles=("out-of-sample equity, test windows chained (start 1.0)",
                                           "profit % per test window"))
    for name, parts in curves.items():
        figure.add_trace(go.Scatter(x=_chained(parts).index, y=_chained(parts).to_numpy(),
                                    name=name, mode="lines"), row=1, col=1)
        per = table[(table["strategy"] == name) & (table["window"] != "overall")]
        figure.add_trace(go.Bar(x=per["test"], y=per["profit %"], name=f"{name} (window)",
                                showlegend=False), row=2, col=1)
    figure.update_layout(title=f"trader247 walk-forward: {label}", barmode="group",
                         template="plotly_white")
    figure.write_html(path, include_plotlyjs=True)
    return path


def _chained(parts: list[tuple[pd.Series, float]]) -> pd.Series:
    level, pieces = 1.0, []
    for daily, start in parts:
        piece = daily / start * level
        pieces.append(piece)
        if len(piece):
            level = float(piece.iloc[-1])
    return pd.concat(pieces) if pieces else pd.Series(dtype="float64")
