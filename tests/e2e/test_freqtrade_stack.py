"""Real freqtrade processes against the replay exchange (issue [A] item 7)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.support import CHILD_ENV, REPO, Replay, freqtrade_args, wait_for_log, write_config
from trader247.cli.processes import stop

pytestmark = pytest.mark.e2e


def test_dry_run_reaches_whitelist_and_iterates_then_stops_on_sigterm(
    tmp_path: Path, replay: Replay
) -> None:
    override = write_config(tmp_path, replay)
    logfile = tmp_path / "console.log"
    command = freqtrade_args(tmp_path, override, "trade", "--dry-run")
    command += ["--db-url", f"sqlite:///{tmp_path}/dry.sqlite"]
    bot = subprocess.Popen(command, stdout=logfile.open("w"), stderr=subprocess.STDOUT,
                           start_new_session=True, env=CHILD_ENV)
    try:
        wait_for_log(logfile, r"Whitelist with \d+ pairs", timeout=120, process=bot)
        wait_for_log(logfile, r"Bot heartbeat\.", count=2, timeout=60, process=bot,
                     after=r"Whitelist with \d+ pairs")
        started = time.monotonic()
        code = stop(bot, grace=10.0, sig=signal.SIGTERM)
        elapsed = time.monotonic() - started
    finally:
        stop(bot, grace=1.0, sig=signal.SIGKILL)
    log = logfile.read_text()
    assert elapsed < 10.0
    # freqtrade turns SIGTERM into KeyboardInterrupt and exits 130; `trader247 run` maps it to 0.
    assert code in (0, 130), log[-2000:]
    assert "Traceback" not in log
    assert "Could not load markets" not in log


def test_test_pairlist_with_our_pairlist(tmp_path: Path, replay: Replay) -> None:
    override = write_config(tmp_path, replay)
    result = subprocess.run(
        freqtrade_args(tmp_path, override, "test-pairlist"),
        capture_output=True, text=True, timeout=180, env=CHILD_ENV,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "TieredLiquidityPairList" in output
    assert "BTC/USD" in result.stdout


def test_backtesting_over_bundled_data_writes_a_result(tmp_path: Path, replay: Replay) -> None:
    override = write_config(tmp_path, replay)
    results = tmp_path / "backtest_results"
    results.mkdir()  # freqtrade treats a missing directory as a file-name prefix
    command = freqtrade_args(tmp_path, override, "backtesting")
    command += ["--timerange", "20250301-20250401", "--export", "trades",
                "--backtest-directory", str(results), "--cache", "none"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=CHILD_ENV)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "BACKTESTING REPORT" in output
    assert list(results.glob("backtest-result-*.zip")), output[-2000:]


def test_list_strategies_finds_ours() -> None:
    result = subprocess.run(
        [*freqtrade_args(Path("."), REPO / "config" / "config.json", "list-strategies", "-1")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Trader247Strategy" in result.stdout.split()


