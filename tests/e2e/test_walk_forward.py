"""``trader247 walk-forward`` end to end (issue 13 item 1): freqtrade hyperopt + backtesting per
window on the bundled candles, the three rows per window and overall, CSV, HTML, parameters."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import CHILD_ENV, REPO

pytestmark = pytest.mark.e2e


@pytest.mark.slow  # two hyperopts and backtests: ~1-2 min on 2 cores
def test_two_windows_write_table_chart_and_parameters(tmp_path: Path) -> None:
    out = tmp_path / "wf"
    command = [sys.executable, "-m", "trader247.cli", "walk-forward", "--pairs", "BTC/USD",
               "ETH/USD", "--timerange", "20240601-20241101", "--train-days", "60",
               "--test-days", "45", "--epochs", "3", "--out", str(out), "--label", "bundled"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900,
                          env=CHILD_ENV)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "[1/2] hyperopt Trader247Strategy on 20240601-20240731 (3 epochs)..." in done.stderr
    assert "[2/2] backtest on 20240914-20241029..." in done.stderr
    rows = list(csv.DictReader((out / "walk-forward.csv").open()))
    names = {"Trader247Strategy", "SampleStrategy", "buy & hold (equal weight)"}
    assert [r["window"] for r in rows] == ["1"] * 3 + ["2"] * 3 + ["overall"] * 3
    assert {r["strategy"] for r in rows if r["window"] == "overall"} == names
    assert all(r["data set"] == "bundled" for r in rows)
    for row in rows:
        float(row["Sharpe"]), float(row["max DD %"])  # numbers, not blanks
    chart = (out / "walk-forward.html").read_text()
    assert "trader247 walk-forward: bundled" in chart
    params = json.loads((out / "recommended-params.json").read_text())
    assert params["strategy_name"] == "Trader247Strategy"
    assert set(params["params"]["buy"]) >= {"buy_trend_ma_hours", "buy_trend_band_pct"}
    assert (out / "logs" / "window1-hyperopt.log").exists()


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    for args, message in [
        (["--pairs", "BTC/USD", "ETH/BTC"], "--pairs must share one quote currency"),
        (["--timerange", "20240601-20240701"], "no walk-forward window fits"),
        (["--pairs", "NOPE/USD"], "NOPE_USD-1h.feather is missing"),
    ]:
        done = subprocess.run([sys.executable, "-m", "trader247.cli", "walk-forward", *args,
                               "--out", str(tmp_path / "wf")], cwd=REPO, capture_output=True,
                              text=True, timeout=120, env=CHILD_ENV)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
