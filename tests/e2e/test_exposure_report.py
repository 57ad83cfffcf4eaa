"""Backtest with stake "unlimited" and 10 open trades, then the exposure report ([C] item 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.support import CHILD_ENV, REPO
from trader247.cli.exposure_report import history_for, load_result

pytestmark = pytest.mark.e2e
TIMERANGE = "20250101-20250315"


def test_unlimited_backtest_holds_the_cap_without_thrash(tmp_path: Path, data_dir: Path) -> None:
    override = tmp_path / "unlimited.json"
    override.write_text(json.dumps({"stake_amount": "unlimited", "max_open_trades": 10}))
    results = tmp_path / "results"
    results.mkdir()
    backtest = subprocess.run(
        [sys.executable, "-m", "trader247.cli", "backtest", "--", "-c", str(override),
         "--timerange", TIMERANGE, "--export", "trades", "--backtest-directory", str(results),
         "--cache", "none"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=CHILD_ENV)
    assert backtest.returncode == 0, backtest.stdout[-3000:] + backtest.stderr[-3000:]

    report = subprocess.run(
        [sys.executable, "-m", "trader247.cli", "exposure-report", str(results),
         "--out-dir", str(tmp_path / "report")],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=CHILD_ENV)
    assert report.returncode == 0, report.stderr
    assert "thrash episodes:    0" in report.stdout
    assert (tmp_path / "report" / "exposure.html").stat().st_size > 10_000
    assert (tmp_path / "report" / "exposure.csv").read_text().startswith("date,at_risk,equity")

    result = load_result(results, None)
    history = history_for(result, data_dir, REPO / "config" / "policy.yaml")
    assert history.thrash_episodes == 0
    # The cap may be passed only by what prices do within one trim interval (3 candles).
    interval_move = max(
        float(np.nanmax(np.asarray(frame[3:]) / np.asarray(frame[:-3]))) - 1.0
        for frame in _closes(result, data_dir)
    )
    assert history.max_at_risk_pct <= history.cap_pct * (1 + interval_move) + 1e-6


def _closes(result: dict[str, object], data_dir: Path) -> list[np.ndarray]:
    from freqtrade.data.history import load_pair_history

    pairs = sorted({trade["pair"] for trade in result["trades"]})  # type: ignore[index,union-attr]
    return [load_pair_history(pair=p, timeframe="1h", datadir=data_dir,
                              data_format="feather")["close"].to_numpy() for p in pairs]
