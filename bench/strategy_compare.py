"""Trader247Strategy against freqtrade's SampleStrategy and equal-weight buy-and-hold.

Same pairs, timerange, config (bundled ``config/config.json``: $1000, fee = freqtrade's worst-case
exchange fee, 1.2 % per side on Coinbase) and two data sets generated or copied in this run:
1. the bundled data (``user_data/data/coinbase``: real BTC/ETH/SOL/ADA + seeded pairs);
2. a differently seeded synthetic set (``python -m trader247.datagen --variant synthetic``)
   written to a temporary directory: data the strategy was never tuned on.

Strategies run through ``trader247 backtest`` (private replay exchange, plain freqtrade); their
metrics are read from freqtrade's result JSON. Sharpe, Sortino and max drawdown are freqtrade's
*wallet based* figures (daily mark-to-market balance), so they compare with buy-and-hold, whose
wallet is built from the candles and scored by the same freqtrade function
(``generate_wallet_stats``). Exposure = mean share of the wallet held in coins, from the same
wallet history. SampleStrategy is copied from freqtrade's template into the temporary strategy
folder at run time (never into user_data).

Usage: .venv/bin/python bench/strategy_compare.py [--timerange 20240501-20250630] [--seed 7]
``--smoke``: three pairs over one month (``bench/_smoke.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import freqtrade
import pandas as pd
from freqtrade.configuration import TimeRange
from freqtrade.data.metrics import calculate_cagr
from freqtrade.optimize.optimize_reports.optimize_reports import generate_wallet_stats

import _smoke

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "user_data" / "data" / "coinbase"
SAMPLE_TEMPLATE = Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py"
OURS, SAMPLE = "Trader247Strategy", "SampleStrategy"
# Core, rotational (one just below its floor), event-driven (one just below) and a no-tier pair.
PAIRS = ["BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD", "XRP/USD", "DOGE/USD", "AVAX/USD",
         "LINK/USD", "ATOM/USD", "UNI/USD", "GRT/USD", "SHIB/USD"]
COLUMNS = ["data set", "strategy", "profit %", "CAGR %", "Sharpe", "Sortino", "max DD %",
           "trades", "win %", "avg duration", "exposure %"]


@dataclass
class Row:
    data: str
    name: str
    profit_pct: float
    cagr_pct: float
    sharpe: float
    sortino: float
    max_dd_pct: float
    trades: int
    win_pct: float
    avg_duration: str
    exposure_pct: float

    def cells(self) -> list[str]:
        return [self.data, self.name, f"{self.profit_pct:+.2f}", f"{self.cagr_pct:+.2f}",
                f"{self.sharpe:.2f}", f"{self.sortino:.2f}", f"{self.max_dd_pct:.2f}",
                str(self.trades), f"{self.win_pct:.1f}", self.avg_duration,
                f"{self.exposure_pct:.1f}"]


def exposure_pct(wallet: pd.DataFrame, stake: str) -> float:
    value = wallet["rate"] * wallet["balance"]
    total = value.groupby(wallet["date"]).sum()
    in_coins = value[wallet["currency"] != stake].groupby(wallet["date"]).sum()
    return float((in_coins.reindex(total.index, fill_value=0.0) / total).mean() * 100)


def strategy_rows(result_zip: Path, data: str) -> list[Row]:
    with zipfile.ZipFile(result_zip) as archive:
        name = next(n for n in archive.namelist()
                    if n.endswith(".json") and not n.endswith("_config.json"))
        content = json.loads(archive.read(name))
        rows = []
        for strategy, s in content["strategy"].items():
            wallet_file = next(n for n in archive.namelist()
                               if n.endswith(f"_{strategy}_wallet.feather"))
            with archive.open(wallet_file) as handle:
                wallet = pd.read_feather(handle)
            w = s["wallet_stats"]
            rows.append(Row(
                data, strategy, s["profit_total"] * 100, s["cagr"] * 100, w["sharpe"],
                w["sortino"], w["max_drawdown_account"] * 100, s["total_trades"],
                s["winrate"] * 100, str(s["holding_avg"]),
                exposure_pct(wallet, s["stake_currency"])))
    return rows


def buy_and_hold(data_dir: Path, pairs: list[str], timerange: str, fee: float, data: str,
                 start_balance: float, stake: str = "USD") -> Row:
    """Equal weight at the first open of the range, held to the last close; entry and exit fee."""
    tr = TimeRange.parse_timerange(timerange)
    start = datetime.fromtimestamp(tr.startts, UTC)
    stop = datetime.fromtimestamp(tr.stopts, UTC) if tr.stopts else None
    closes = {}
    entry_units, returns = {}, []
    for pair in pairs:
        frame = pd.read_feather(data_dir / f"{pair.replace('/', '_')}-1h.feather")
        frame = frame[(frame["date"] >= start) & ((frame["date"] < stop) if stop else True)]
        units = start_balance / len(pairs) * (1 - fee) / float(frame["open"].iat[0])
        entry_units[pair] = units
        closes[pair] = frame.set_index("date")["close"]
        returns.append(units * float(frame["close"].iat[-1]) * (1 - fee)
                       / (start_balance / len(pairs)) - 1)
    prices = pd.DataFrame(closes).sort_index().ffill()
    # Wallet rows as freqtrade captures them: (date, currency, rate, balance). The cash row one
    # candle before the first close is the starting balance, before the purchase.
    cash = pd.DataFrame({"date": [prices.index[0] - pd.Timedelta(hours=1)], "currency": [stake],
                         "rate": [1.0], "balance": [start_balance]})
    coins = [pd.DataFrame({"date": prices.index, "currency": pair.split("/")[0],
                           "rate": prices[pair].to_numpy(), "balance": entry_units[pair]})
             for pair in pairs]
    wallet = pd.concat([cash, *coins], ignore_index=True)
    # The last candle is marked net of the exit fee, as selling everything would realise.
    wallet.loc[wallet["date"] == prices.index[-1], "rate"] *= 1 - fee
    stats = generate_wallet_stats(wallet.copy(), stake)
    final = float(stats["end_balance"])
    days = (prices.index[-1] - prices.index[0]).days
    return Row(data, "buy & hold (equal weight)", (final / start_balance - 1) * 100,
               calculate_cagr(days, start_balance, final) * 100, stats["sharpe"],
               stats["sortino"], stats["max_drawdown_account"] * 100, len(pairs),
               sum(r > 0 for r in returns) / len(returns) * 100,
               str(prices.index[-1] - prices.index[0]), exposure_pct(wallet, stake))


def run_backtests(data_dir: Path, pairs: list[str], timerange: str, tmp: Path,
                  label: str) -> Path:
    out = tmp / f"results-{label}"
    out.mkdir()  # freqtrade treats a missing directory as a file-name prefix
    override = tmp / "pairs.json"
    override.write_text(json.dumps({"exchange": {"pair_whitelist": pairs},
                                    "pairlists": [{"method": "StaticPairList"}]}))
    command = [sys.executable, "-m", "trader247.cli", "backtest", "--data-dir", str(data_dir),
               "--", "-c", str(override), "--strategy-list", OURS, SAMPLE,
               "--strategy-path", str(tmp / "strategies"), "--datadir", str(data_dir),
               "--timerange", timerange, "--export", "trades", "--backtest-directory", str(out),
               "--cache", "none"]
    log = tmp / f"backtest-{label}.log"
    started = time.monotonic()
    with log.open("w") as handle:
        code = subprocess.run(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT).returncode
    if code != 0:
        sys.exit(f"backtest on {label} failed (exit {code}); log tail:\n"
                 + log.read_text()[-3000:])
    print(f"  {label}: backtests done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return max(out.glob("backtest-result-*.zip"), key=lambda p: p.stat().st_mtime)


def fee_of(result_zip: Path) -> float:
    with zipfile.ZipFile(result_zip) as archive:
        name = next(n for n in archive.namelist()
                    if n.endswith(".json") and not n.endswith("_config.json"))
        content: dict[str, Any] = json.loads(archive.read(name))
    trades = next(s["trades"] for s in content["strategy"].values() if s["trades"])
    return float(trades[0]["fee_open"])


def table(rows: list[Row]) -> str:
    cells = [COLUMNS, *[r.cells() for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(" | ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timerange", default="20240501-20250630")
    parser.add_argument("--seed", type=int, default=7, help="seed of the second data set")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    _smoke.add_flag(parser)
    args = parser.parse_args()
    pairs = PAIRS[:3] if args.smoke else PAIRS
    if args.smoke:
        args.timerange = "20250501-20250601"
    if not all((BUNDLED / f"{p.replace('/', '_')}-1h.feather").exists() for p in pairs):
        sys.exit(f"bundled candles missing in {BUNDLED}: run `make data` first")
    tmp = Path(tempfile.mkdtemp(prefix="trader247-compare-"))
    try:
        (tmp / "strategies").mkdir()
        shutil.copy(SAMPLE_TEMPLATE, tmp / "strategies" / "sample_strategy.py")
        synthetic = tmp / "data-synthetic"
        subprocess.run([sys.executable, "-m", "trader247.datagen", "--out", str(synthetic),
                        "--variant", "synthetic", "--seed", str(args.seed), "--timeframes", "1h",
                        "--pairs", *pairs],
                       check=True, stdout=subprocess.DEVNULL)
        rows: list[Row] = []
        for label, data_dir in (("bundled", BUNDLED), (f"synthetic seed {args.seed}", synthetic)):
            result = run_backtests(data_dir, pairs, args.timerange, tmp, label.replace(" ", "-"))
            by_name = {r.name: r for r in strategy_rows(result, label)}
            rows += [by_name[OURS], by_name[SAMPLE],
                     buy_and_hold(data_dir, pairs, args.timerange, fee_of(result), label, 1000.0)]
        print(f"timerange {args.timerange}, {len(pairs)} pairs: {', '.join(pairs)}")
        print("Sharpe / Sortino / max DD: daily mark-to-market wallet (freqtrade wallet stats)")
        print(table(rows))
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return _smoke.exit_code(args.smoke, True)  # a comparison table: no goal


if __name__ == "__main__":
    raise SystemExit(main())
