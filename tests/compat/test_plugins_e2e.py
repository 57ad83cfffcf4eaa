"""Our three plugins in plain freqtrade against the replay exchange, on every supported release.

``TieredLiquidityPairList``, ``ExposureCap`` (declared by the strategy) + ``ExposureCapMixin``,
and ``Trader247Strategy``: ``freqtrade test-pairlist``, ``freqtrade backtesting`` and
``freqtrade trade --dry-run``, unmodified commands. The default suite runs these once on the
installed freqtrade; ``make test-compat`` runs them on each release of the range (marker
``compat``). The dry run also proves the patches the plugins install work on that release: the
``/forceenter`` increase of a held pair is clamped to the cap (``execute_entry_gate``),
``/metrics`` counts iterations (``iteration_timing``), the markets guard is on the exchange.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.support import (
    CHILD_ENV,
    PASSWORD,
    REPO,
    USER,
    Replay,
    freqtrade_args,
    http,
    policy_file,
    wait_for_log,
    write_config,
)

from trader247.cli.processes import free_port, stop
from trader247.metrics.scrape import scrape

pytestmark = [pytest.mark.e2e, pytest.mark.compat]

CAP_PCT = 25.0
WALLET = 1000.0


def test_test_pairlist_with_our_pairlist(tmp_path: Path, replay: Replay) -> None:
    override = write_config(tmp_path, replay)
    result = subprocess.run(
        freqtrade_args(tmp_path, override, "test-pairlist"),
        capture_output=True, text=True, timeout=180, env=CHILD_ENV,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "TieredLiquidityPairList" in output
    assert "✅ FORCE ELIGIBLE: BTC/USD" in output
    assert "BTC/USD" in result.stdout
    assert "Traceback" not in output


def test_backtesting_over_bundled_data_writes_a_result(tmp_path: Path, replay: Replay) -> None:
    override = write_config(tmp_path, replay)
    results = tmp_path / "backtest_results"
    results.mkdir()  # freqtrade treats a missing directory as a file-name prefix
    command = freqtrade_args(tmp_path, override, "backtesting")
    command += ["--timerange", "20250301-20250315", "--export", "trades", "--enable-protections",
                "--backtest-directory", str(results), "--cache", "none"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=CHILD_ENV)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Using resolved strategy Trader247Strategy" in output
    assert "BACKTESTING REPORT" in output
    assert list(results.glob("backtest-result-*.zip")), output[-2000:]
    assert "Traceback" not in output


def dry_run_config(tmp_path: Path, replay: Replay, api_port: int, metrics_port: int) -> Path:
    override = json.loads(write_config(tmp_path, replay).read_text())
    override.update({
        "force_entry_enable": True,
        "minimal_roi": {"0": 100.0},  # only the cap and our forced entries move positions
        "stoploss": -0.99,
        "order_types": {"entry": "market", "exit": "market", "emergency_exit": "market",
                        "force_entry": "market", "force_exit": "market",
                        "stoploss": "market", "stoploss_on_exchange": False},
        "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                       "policy_file": str(policy_file(tmp_path, port=metrics_port)),
                       "universe_file": str(REPO / "config" / "universe.yaml")}],
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1",
                       "listen_port": api_port, "username": USER, "password": PASSWORD,
                       "jwt_secret_key": "compat-test-jwt-secret-0123456789abcdef",
                       "ws_token": "compat-test-ws-token", "CORS_origins": []},
    })
    path = tmp_path / "dry-run.json"
    path.write_text(json.dumps(override))
    return path


def quiet_strategy(tmp_path: Path) -> Path:
    """Trader247Strategy with a parameter file that keeps it out of the market (the strictest
    band and momentum hyperopt allows, the triggers required at the highest conviction), so
    that only the test's /forceenter moves positions, whatever the replay's prices at start."""
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(REPO / "user_data" / "strategies" / "Trader247Strategy.py", strategies)
    (strategies / "Trader247Strategy.json").write_text(json.dumps(
        {"strategy_name": "Trader247Strategy",
         "params": {"buy": {"buy_trend_band_pct": 8.0, "buy_trend_min_momentum_pct": 5.0,
                            "buy_triggers_required": True, "buy_conviction": 0.6}}}))
    return strategies


def open_stake(api: str, pair: str) -> float:
    trades = http("GET", f"{api}/api/v1/status")
    return sum(float(t["stake_amount"]) for t in trades if t["pair"] == pair
               and not t["has_open_orders"])


def wait_for_stake(api: str, pair: str, above: float, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    stake = 0.0
    while time.monotonic() < deadline:
        stake = open_stake(api, pair)
        if stake > above:
            return stake
        time.sleep(0.5)
    raise AssertionError(f"{pair} stake stayed at {stake} (wanted > {above})")


def forceenter(api: str, body: dict[str, Any]) -> None:
    try:
        http("POST", f"{api}/api/v1/forceenter", body)
    except urllib.error.HTTPError as exc:  # freqtrade answers 502 when the entry is refused
        if exc.code != 502:
            raise


def test_dry_run_with_our_plugins_holds_the_cap_on_a_forced_increase(
    tmp_path: Path, replay: Replay
) -> None:
    api_port, metrics_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    config = dry_run_config(tmp_path, replay, api_port, metrics_port)
    logfile = tmp_path / "console.log"
    command = freqtrade_args(tmp_path, config, "trade", "--dry-run")
    command += ["--strategy-path", str(quiet_strategy(tmp_path))]
    command += ["--db-url", f"sqlite:///{tmp_path}/dry.sqlite"]
    bot = subprocess.Popen(command, stdout=logfile.open("w"), stderr=subprocess.STDOUT,
                           start_new_session=True, env=CHILD_ENV)
    try:
        wait_for_log(logfile, r"Whitelist with \d+ pairs", timeout=120, process=bot)
        wait_for_log(logfile, r"Metrics exporter listening on", timeout=60, process=bot)
        wait_for_log(logfile, r"Bot heartbeat\.", count=2, timeout=60, process=bot,
                     after=r"Whitelist with \d+ pairs")

        forceenter(api, {"pair": "BTC/USD", "stakeamount": 100})
        first = wait_for_stake(api, "BTC/USD", 0.0)
        # A second /forceenter on the held pair is a position adjustment: freqtrade asks no
        # strategy callback, only the execute_entry gate can clamp it to the headroom.
        forceenter(api, {"pair": "BTC/USD", "stakeamount": 400})
        # CLAMPED, not REFUSED: the order is placed with the granted stake
        log = wait_for_log(logfile, r"ENTRY_CLAMPED: pair=BTC/USD via=force_entry position=held "
                                    r"requested=400 granted=[\d.]+ ", timeout=60, process=bot)
        clamped = re.search(r"position=held requested=400 granted=([\d.]+) ", log)
        assert clamped is not None and 0 < float(clamped[1]) < 400
        # freqtrade placed the clamped stake (not the 400 asked for), and the cap holds.
        after = wait_for_stake(api, "BTC/USD", first + 0.01)
        assert after == pytest.approx(first + float(clamped[1]), rel=0.02)
        held = sum(float(t["stake_amount"]) for t in http("GET", f"{api}/api/v1/status"))
        assert held <= WALLET * CAP_PCT / 100 * 1.01, (held, log[-3000:])

        metrics = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert metrics["trader247_bot_iteration_duration_seconds_count"] >= 2
        code = stop(bot, grace=15.0, sig=signal.SIGTERM)
    finally:
        stop(bot, grace=1.0, sig=signal.SIGKILL)
    log = logfile.read_text()
    for patch in ("execute_entry_gate", "iteration_timing", "markets_guard"):
        assert f"trader247 patch {patch} installed" in log, patch
    assert re.search(r"Using resolved strategy Trader247Strategy", log)
    assert "Using resolved protection ExposureCap" in log
    # freqtrade turns SIGTERM into KeyboardInterrupt and exits 130 (`trader247 run`: 0).
    assert code == 130, log[-2000:]
    assert "Traceback" not in log
    assert "Could not load markets" not in log
