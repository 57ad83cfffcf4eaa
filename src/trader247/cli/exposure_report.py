"""``trader247 exposure-report <backtest result>``: at-risk % per candle against the cap.

Reads a freqtrade backtest result (``.zip`` / ``.json`` as written by ``--export trades``, or
the latest in ``user_data/backtest_results``), the candles of the traded pairs, and our policy;
writes ``exposure.csv`` and ``exposure.html`` (plotly, like freqtrade's own plots) and prints max
at-risk, time above the cap, the number of trims and thrash episodes.

It can run long: 12 s for a 394-day 1h backtest of 30 pairs with 1606 trades (2 cores), and
the work grows with candles x pairs (5m candles: 12 times as many). Ctrl-C / SIGTERM therefore
stop it with one line and exit 130 / 143 (``trader247.cli.interrupts``); it starts no process,
and each output file is written under a temporary name and renamed, so an interrupt leaves
the previous report or none, never half a file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trader247.cli.interrupts import interruptible
from trader247.core.exposure_history import ExposureHistory, Fill, exposure_history
from trader247.core.marks import CloseSeries

FORCE_EXIT = "force_exit"  # freqtrade's exit reason and order tag for trades left open


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", type=Path, nargs="?",
                        default=Path("user_data/backtest_results"),
                        help="backtest result file, or a directory (its latest result)")
    parser.add_argument("--strategy", help="strategy in the result (default: the only one)")
    parser.add_argument("--datadir", type=Path, default=Path("user_data/data/coinbase"))
    parser.add_argument("--policy", type=Path, default=Path("config/policy.yaml"))
    parser.add_argument("--universe", type=Path, default=None,
                        help="universe.yaml with the clusters of risk.max_per_cluster_pct "
                        "(default: next to --policy)")
    parser.add_argument("--out-dir", type=Path, default=Path("user_data/exposure_report"))
    parser.set_defaults(handler=run)


def load_result(path: Path, strategy: str | None) -> dict[str, Any]:
    from freqtrade.data.btanalysis import get_latest_backtest_filename, load_backtest_stats

    if path.is_dir():
        path = path / get_latest_backtest_filename(path)
    stats = load_backtest_stats(path)
    strategies = stats["strategy"]
    if strategy is None:
        if len(strategies) != 1:
            raise ValueError(f"{path} holds {sorted(strategies)}: choose one with --strategy")
        strategy = next(iter(strategies))
    if strategy not in strategies:
        raise ValueError(f"{path} has no strategy {strategy} (has {sorted(strategies)})")
    result: dict[str, Any] = strategies[strategy]
    return result


def fills_of(result: dict[str, Any]) -> list[Fill]:
    """Every filled order of the result as a :class:`Fill`.

    Freqtrade closes the trades still open at the end of a backtest (``force_exit``) but dates
    that exit at the pair's last candle, which for a pair whose data stopped early (delisted, a
    hole at the end) is long before the end: the position was in fact held, and marked by the
    cap, until the backtest ended. Those exits are placed at ``backtest_end``.
    """
    import pandas as pd

    end_ms = int(pd.Timestamp(result["backtest_end"], tz="UTC").value // 1_000_000)
    fills = []
    for trade in result["trades"]:
        for order in trade.get("orders", []):
            side: Literal["buy", "sell"] = "buy" if order["ft_order_side"] == "buy" else "sell"
            tag = order.get("ft_order_tag") or ""
            time_ms = int(order["order_filled_timestamp"])
            if side == "sell" and tag == FORCE_EXIT and trade.get("exit_reason") == FORCE_EXIT:
                time_ms = max(time_ms, end_ms)
            fills.append(Fill(
                pair=trade["pair"], time_ms=time_ms, side=side,
                amount=float(order["amount"]), price=float(order["safe_price"]),
                fee_rate=float(trade["fee_open"] if side == "buy" else trade["fee_close"]),
                tag=tag))
    return sorted(fills, key=lambda f: f.time_ms)


def history_for(result: dict[str, Any], datadir: Path, policy_path: Path,
                universe_path: Path | None = None) -> ExposureHistory:
    """The report on the bot's evaluation times: each candle's open from the first candle after
    the backtest start to its end (where freqtrade calls ``bot_loop_start``). The cap is built
    as the bot builds it: ``policy_path`` and the clusters of ``universe_path`` (default: the
    ``universe.yaml`` next to the policy, where the bot finds it; needed only with
    ``risk.max_per_cluster_pct`` set)."""
    import pandas as pd
    from freqtrade.exchange import timeframe_to_seconds

    from trader247.configfiles import load_both, load_policy
    from trader247.core.config import ClustersConfig

    universe_path = universe_path or policy_path.with_name("universe.yaml")
    # Each file read once where it can be (so each of its warnings is logged once): both when
    # universe.yaml is there, else the policy alone, which needs it only for cluster caps.
    if universe_path.exists():
        loaded, universe = load_both(policy_path, universe_path)
        clusters = universe.clusters
    else:
        loaded = load_policy(policy_path)
        clusters = ClustersConfig()  # no cluster cap: no cluster to measure, no file needed
        if loaded.risk.max_per_cluster_pct:
            load_both(policy_path, universe_path)  # raises: the missing file, named
    policy = loaded.risk.to_core(loaded.trims, clusters)
    fills = fills_of(result)
    timeframe = result["timeframe"]
    step = int(timeframe_to_seconds(timeframe))
    start = pd.Timestamp(result["backtest_start"], tz="UTC")
    end = pd.Timestamp(result["backtest_end"], tz="UTC")
    closes = {pair: _closes(datadir, pair, timeframe, step)
              for pair in sorted({fill.pair for fill in fills})}
    grid = pd.date_range(start + pd.Timedelta(seconds=step), end, freq=pd.Timedelta(seconds=step))
    return exposure_history(fills, closes, grid.as_unit("ms").asi8,
                            float(result["starting_balance"]),
                            policy)


def _closes(datadir: Path, pair: str, timeframe: str, step: int) -> CloseSeries:
    """The pair's candles as stored: gaps stay gaps, so a mark taken across one is counted."""
    from freqtrade.data.history import load_pair_history

    frame = load_pair_history(pair=pair, timeframe=timeframe, datadir=datadir,
                              data_format="feather", fill_up_missing=False)
    if not len(frame):
        return CloseSeries.of([], [], step)
    stamps = frame["date"].dt.as_unit("ms").astype("int64").to_numpy()
    return CloseSeries.of(stamps, frame["close"].to_numpy(dtype=float), step)


def write_outputs(history: ExposureHistory, out_dir: Path) -> tuple[Path, Path]:
    import pandas as pd
    import plotly.graph_objects as go

    out_dir.mkdir(parents=True, exist_ok=True)
    dates = pd.to_datetime(history.times_ms, unit="ms", utc=True)
    frame = pd.DataFrame({"date": dates, "at_risk": history.at_risk, "equity": history.equity,
                          "at_risk_pct": history.at_risk_pct, "reducing": history.reducing,
                          "trims": history.trims_at,
                          **{f"at_risk_pct[{key}]": series
                             for key, series in history.cluster_pct.items()}})
    csv = out_dir / "exposure.csv"
    _atomic(csv, lambda tmp: frame.to_csv(tmp, index=False))
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=dates, y=history.at_risk_pct, name="at-risk %"))
    figure.add_hline(y=history.cap_pct, line_color="red", annotation_text="cap")
    figure.add_hline(y=history.target_pct, line_dash="dash", line_color="orange",
                     annotation_text="target")
    for key, series in history.cluster_pct.items():
        if key.startswith("cluster="):  # assets: in the CSV (one column each), not the plot
            figure.add_trace(go.Scatter(x=dates, y=series, name=f"{key} (cap "
                                        f"{history.cluster_caps[key]:g}%)", line={"dash": "dot"}))
    trimmed = history.trims_at > 0
    figure.add_trace(go.Scatter(x=dates[trimmed], y=history.at_risk_pct[trimmed], mode="markers",
                                marker={"symbol": "triangle-down", "size": 9}, name="trims"))
    figure.update_layout(title="247trader at-risk exposure vs cap", yaxis_title="% of equity")
    html = out_dir / "exposure.html"
    _atomic(html, lambda tmp: figure.write_html(tmp, include_plotlyjs=True))
    return csv, html


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` to a temporary name next to ``path``, then rename: never half a file."""
    with _temporary(path) as tmp:
        write(tmp)
        os.replace(tmp, path)


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def summary(history: ExposureHistory, timeframe_minutes: float) -> str:
    above = history.candles_above_cap
    return "\n".join([
        f"max at-risk:        {history.max_at_risk_pct:.2f}% (cap {history.cap_pct:.1f}%, "
        f"target {history.target_pct:.1f}%)",
        f"time above cap:     {above} candles ({above * timeframe_minutes / 60:.1f} h)",
        f"trims:              {history.trims}",
        f"reducing episodes:  {history.reducing_episodes}",
        f"thrash episodes:    {history.thrash_episodes}",
        f"stale marks:        {history.stale_marks} (older close: gap or delisted"
        + (f"; {', '.join(history.stale_pairs)})" if history.stale_pairs else ")"),
        *(_cluster_line(history, key) for key in history.cluster_pct),
    ])


def _cluster_line(history: ExposureHistory, key: str) -> str:
    """``cluster=MEME: max at-risk 4.05% (cap 4.0%), 0 candles above cap``."""
    return (f"{key}: max at-risk {float(history.cluster_pct[key].max(initial=0.0)):.2f}% "
            f"(cap {history.cluster_caps[key]:.1f}%), "
            f"{history.cluster_candles_above_cap(key)} candles above cap")


@interruptible("exposure-report")
def run(args: argparse.Namespace) -> int:
    from freqtrade.exchange import timeframe_to_minutes

    try:
        result = load_result(args.result, args.strategy)
        history = history_for(result, args.datadir, args.policy, args.universe)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    csv, html = write_outputs(history, args.out_dir)
    print(summary(history, timeframe_to_minutes(result["timeframe"])))
    print(f"wrote {csv} and {html}")
    return 0 if np.isfinite(history.at_risk_pct).all() else 1
