"""Trader247Strategy with stake "unlimited", then ``trader247 exposure-report`` ([C] item 8, [R]).

Our strategy sizes small (3 % / 2 % / 0.7 % of equity per tier): with the shipped 25 % cap it
never reaches the cap on the bundled data, and a bound it never reaches proves nothing. This
run uses a 10 % cap with a 0.5-point band (entries stop at 9.5 %), so the November 2024 rally
takes the book over the cap and the cap must trim. At every candle at-risk stays within the cap
plus one trim step, and the report's REDUCING candles and trims are exactly the run's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.backtests import CapAudit, run_backtest
from tests.e2e.support import CHILD_ENV, REPO, policy_file

pytestmark = pytest.mark.e2e
TIMERANGE = "20241101-20241203"


def test_unlimited_backtest_holds_the_cap_and_the_report_agrees(
    tmp_path: Path, data_dir: Path
) -> None:
    policy = policy_file(tmp_path, max_total_at_risk_pct=10.0, trim_band_pct=0.5)
    run = run_backtest(
        tmp_path, strategy="Trader247Strategy", strategy_path=REPO / "user_data" / "strategies",
        timerange=TIMERANGE, data_dir=data_dir,
        config={"stake_amount": "unlimited", "max_open_trades": 10,
                "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                               "policy_file": str(policy),
                               "universe_file": str(REPO / "config" / "universe.yaml")}]})

    report = subprocess.run(
        [sys.executable, "-m", "trader247.cli", "exposure-report", str(tmp_path / "results"),
         "--policy", str(policy), "--datadir", str(data_dir), "--out-dir", str(tmp_path / "report")],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=CHILD_ENV)
    assert report.returncode == 0, report.stderr
    assert "thrash episodes:    0" in report.stdout
    assert (tmp_path / "report" / "exposure.html").stat().st_size > 10_000
    assert (tmp_path / "report" / "exposure.csv").read_text().startswith("date,at_risk,equity")

    audit = CapAudit.of(run, policy=policy)
    history = audit.history
    assert history.max_at_risk_pct > history.cap_pct, "the run must reach the cap"
    assert history.reducing_episodes >= 2 and len(run.trim_orders()) >= 3
    assert f"trims:              {len(run.trim_orders())}" in report.stdout
    assert f"reducing episodes:  {history.reducing_episodes}" in report.stdout
    assert history.thrash_episodes == 0
    audit.assert_cap_held()
