"""Trader247Strategy in real freqtrade processes (issue [D] item 3).

Every run uses a temporary user dir (results, plots) and the repository's strategy folder, so
nothing is written into the repository. Runtimes on the 2-core CI box: backtests 10-40 s each,
plot-dataframe and recursive-analysis ~10 s, lookahead-analysis ~2 min (``slow``).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import CHILD_ENV, FREQTRADE, REPO, Replay
from trader247.cli.demo import exchange_override
from trader247.core.signals import TRIGGERS

pytestmark = pytest.mark.e2e

STRATEGIES = REPO / "user_data" / "strategies"
DATA = REPO / "user_data" / "data" / "coinbase"
TIER_PCT = {"BTC/USD": 3.0, "ETH/USD": 3.0, "SOL/USD": 3.0, "ADA/USD": 2.0, "ATOM/USD": 2.0,
            "UNI/USD": 0.7, "SHIB/USD": 0.7}


def backtest(tmp_path: Path, *args: str, config: dict[str, Any] | None = None,
             strategy_path: Path = STRATEGIES, timeout: int = 300, datadir: Path = DATA
             ) -> tuple[str, dict[str, Any]]:
    """``trader247 backtest`` (private replay exchange) -> (output, the strategy's result).

    The replay always serves the bundled markets; ``datadir`` is what freqtrade finds on disk.
    """
    results = tmp_path / "results"
    results.mkdir()  # freqtrade treats a missing directory as a file-name prefix
    extra: list[str] = []
    if config is not None:
        override = tmp_path / "override.json"
        override.write_text(json.dumps(config))
        extra = ["-c", str(override)]
    command = [sys.executable, "-m", "trader247.cli", "backtest", "--data-dir", str(DATA), "--",
               *extra, "--strategy", "Trader247Strategy", "--strategy-path", str(strategy_path),
               "--userdir", str(tmp_path / "ud"), "--datadir", str(datadir), "--export", "trades",
               "--backtest-directory", str(results), "--cache", "none", *args]
    (tmp_path / "ud").mkdir()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=CHILD_ENV)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    archives = list(results.glob("backtest-result-*.zip"))
    assert len(archives) == 1, output[-2000:]
    with zipfile.ZipFile(archives[0]) as archive:
        name = next(n for n in archive.namelist()
                    if n.endswith(".json") and not n.endswith("_config.json"))
        result = json.loads(archive.read(name))["strategy"]["Trader247Strategy"]
    return output, result


def static(*pairs: str, **more: Any) -> dict[str, Any]:
    return {"exchange": {"pair_whitelist": list(pairs)},
            "pairlists": [{"method": "StaticPairList"}], **more}


def test_backtest_over_the_bundled_universe_trades_only_eligible_pairs(tmp_path: Path) -> None:
    # Default config: TieredLiquidityPairList hands every USD market to the backtest; the
    # strategy's point-in-time eligibility must keep the excluded and thin pairs out. Q4 2024:
    # the core pairs trended up (in Q1 2025 they fell and the 800 h trend filter stays out).
    output, result = backtest(tmp_path, "--timerange", "20241001-20250101")
    trades = result["trades"]
    assert len(trades) > 0
    assert "market regime from BTC/USD 1h" in output
    traded = {t["pair"] for t in trades}
    # never_trade, stablecoin base, and pairs far below their floor (0.8M, 1.2M, 1.5M < 2M/3M).
    assert traded.isdisjoint({"BONK/USD", "USDT/USD", "SEI/USD", "ALGO/USD", "FET/USD"})
    assert {t["enter_tag"] for t in trades} <= {*TRIGGERS, "trend"}
    for trade in trades:
        reason = trade["exit_reason"]
        assert reason in ("stop_loss", "trailing_stop_loss", "regime_crash", "trend_lost",
                          "force_exit", "trim") or reason.startswith(("take_profit_", "max_hold_")
                                                                     ), reason
        # Tier % of equity, never above it (the cap clamp may only lower it).
        pct = TIER_PCT.get(trade["pair"])
        if pct is not None:
            assert trade["stake_amount"] <= pct / 100 * result["wallet_stats"]["high_balance"]
    core = [t["stake_amount"] for t in trades if t["pair"] in ("BTC/USD", "ETH/USD", "SOL/USD")]
    assert core and max(core) > 0.025 * result["starting_balance"]


def test_backtest_at_5m_converts_hours_and_keeps_the_1h_regime(tmp_path: Path) -> None:
    output, result = backtest(
        tmp_path, "--timeframe", "5m", "--timerange", "20250604-20250630",
        config=static("BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD", "XRP/USD", "DOGE/USD"))
    # 72 h (the longest signal window) at 12 candles per hour.
    assert "Strategy using startup_candle_count: 864" in output
    assert "market regime from BTC/USD 1h" in output
    assert result["timeframe"] == "5m"
    # The 1h trend is there from the first candle (the 1h files hold the 864 h of start-up).
    assert "first candle at which an entry is possible: 2025-06-04 00:00" in output


def test_btc_stake_takes_the_regime_from_each_pair_and_values_volume_in_usd(
    tmp_path: Path,
) -> None:
    output, result = backtest(
        tmp_path, "--timerange", "20250101-20250401",
        config=static("ETH/BTC", "SOL/BTC", "ADA/BTC", stake_currency="BTC", dry_run_wallet=1))
    assert output.count("market regime from each pair's own 1h candles (BTC/BTC does not exist)"
                        ) == 1
    traded = {t["pair"] for t in result["trades"]}
    # ETH and SOL are force-eligible assets; ADA/BTC ($0.9M/day once valued with BTC/USD) is
    # below the $3M floor. (ETH/BTC fell all quarter: the trend filter keeps it out.)
    assert "SOL/BTC" in traded
    assert "ADA/BTC" not in traded


@pytest.mark.parametrize("params, message", [
    ({"buy": {f"buy_weight_{name}": 0.0 for name in TRIGGERS}},
     "at least one trigger weight must be > 0"),
    ({"buy": {"buy_conviction": 1.5}}, "conviction_threshold must be >= 0 and <= 1"),
])
def test_bad_parameter_file_stops_at_start(tmp_path: Path, params: dict[str, Any],
                                           message: str) -> None:
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(STRATEGIES / "Trader247Strategy.py", strategies)
    (strategies / "Trader247Strategy.json").write_text(json.dumps(
        {"strategy_name": "Trader247Strategy", "params": params}))
    command = [sys.executable, "-m", "trader247.cli", "backtest", "--data-dir", str(DATA), "--",
               "--strategy", "Trader247Strategy", "--strategy-path", str(strategies),
               "--userdir", str(tmp_path), "--datadir", str(DATA),
               "--timerange", "20250301-20250310"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180,
                          env=CHILD_ENV)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    assert "Trader247Strategy: SignalParams" in output
    assert message in output
    assert "BACKTESTING REPORT" not in output


def analysis_args(tmp_path: Path, replay: Replay, command: str, *pairs: str,
                  datadir: Path = DATA) -> list[str]:
    """freqtrade ``command`` against the test's replay exchange, on ``pairs``, temp user dir."""
    config: dict[str, Any] = exchange_override(replay.port)
    config["exchange"]["pair_whitelist"] = list(pairs)
    config["pairlists"] = [{"method": "StaticPairList"}]
    override = tmp_path / "override.json"
    override.write_text(json.dumps(config))
    (tmp_path / "ud").mkdir(exist_ok=True)
    return [*FREQTRADE, command, "-c", str(REPO / "config" / "config.json"), "-c", str(override),
            "--userdir", str(tmp_path / "ud"), "--strategy", "Trader247Strategy",
            "--strategy-path", str(STRATEGIES), "--datadir", str(datadir), "-p", *pairs]


def test_plot_dataframe_writes_html_with_conviction_and_triggers(
    tmp_path: Path, replay: Replay
) -> None:
    # With the triggers required (parameter file) every column of plot_config is there.
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(STRATEGIES / "Trader247Strategy.py", strategies)
    (strategies / "Trader247Strategy.json").write_text(json.dumps(
        {"strategy_name": "Trader247Strategy",
         "params": {"buy": {"buy_triggers_required": True}}}))
    command = analysis_args(tmp_path, replay, "plot-dataframe", "BTC/USD")
    command[command.index("--strategy-path") + 1] = str(strategies)
    command += ["--timerange", "20250301-20250401", "--no-trades"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=CHILD_ENV)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    html = (tmp_path / "ud" / "plot" / "freqtrade-plot-BTC_USD-1h.html").read_text()
    for trace in ["trend_ma", "conviction", "conviction_needed", "rsi", "ma_slow",
                  *(f"{name}_strength" for name in TRIGGERS)]:
        assert f'"name":"{trace}"' in html, trace


@pytest.mark.parametrize("timeframe, pair, timerange, startups", [
    # Our startup_candle_count first (800 at 1h and 15m, 864 at 5m), then longer ones; 1999
    # would be above Coinbase's 5 x 300. The bundled 5m candles cover June 2025 only.
    ("1h", "ATOM/USD", "20250201-20250301", ("800", "999", "1499")),
    ("15m", "BTC/USD", "20250201-20250215", ("800", "999", "1499")),
    ("5m", "BTC/USD", "20250620-20250625", ("864", "1200", "1499")),
])
def test_recursive_analysis_finds_no_variance_and_no_indicator_lookahead(
    tmp_path: Path, replay: Replay, timeframe: str, pair: str, timerange: str,
    startups: tuple[str, ...],
) -> None:
    # Windowed indicators only, and a startup_candle_count that covers the 800 h trend mean in
    # 1h candles (freqtrade loads that many candles of every timeframe): values are
    # bit-identical whatever the start-up length, so freqtrade prints no "Recursive Analysis"
    # table at all.
    command = analysis_args(tmp_path, replay, "recursive-analysis", pair)
    command += ["--timeframe", timeframe, "--timerange", timerange, "--startup-candle",
                *startups]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=CHILD_ENV)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "No lookahead bias on indicators found." in output
    assert "Recursive Analysis" not in output


@pytest.mark.slow
def test_lookahead_analysis_reports_no_bias(tmp_path: Path, replay: Replay) -> None:
    # ~2 min on 2 cores: ten signals, each re-backtested on a cut-off range.
    report = tmp_path / "lookahead.csv"
    command = analysis_args(tmp_path, replay, "lookahead-analysis", "BTC/USD", "ETH/USD",
                            "SOL/USD")
    command += ["--timerange", "20250101-20250301", "--minimum-trade-amount", "5",
                "--targeted-trade-amount", "10", "--lookahead-analysis-exportfilename",
                str(report)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=CHILD_ENV)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    rows = list(csv.DictReader(report.open()))
    assert len(rows) == 1
    assert rows[0]["has_bias"] == "False"
    assert int(rows[0]["total_signals"]) >= 5
    assert rows[0]["biased_entry_signals"] == rows[0]["biased_exit_signals"] == "0"


def some_candles(tmp_path: Path, *files: str) -> Path:
    """A data dir holding only ``files`` of the bundled set (what a user downloaded)."""
    datadir = tmp_path / "data"
    datadir.mkdir()
    for name in files:
        shutil.copy(DATA / name, datadir / name)
    return datadir


def test_fixed_stake_amount_is_honoured_and_scaled_by_tier(tmp_path: Path) -> None:
    output, result = backtest(
        tmp_path, "--timerange", "20241001-20250101",
        config=static("BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD", stake_amount=40,
                      dry_run_wallet=1000))
    assert "sizing: stake_amount 40 USD per entry, scaled by tier" in output
    stakes: dict[str, set[float]] = {}
    for trade in result["trades"]:
        stakes.setdefault(trade["pair"], set()).add(round(trade["stake_amount"], 2))
    assert stakes and {"ADA/USD", "BTC/USD"} & set(stakes)
    for pair, amounts in stakes.items():
        expected = 40.0 * (2.0 / 3.0 if pair == "ADA/USD" else 1.0)  # tier 2: 2 % of 3 %
        assert max(amounts) == pytest.approx(expected, abs=0.01), pair


def test_btc_stake_without_btc_usd_candles_warns_and_trades_force_eligible_assets(
    tmp_path: Path,
) -> None:
    datadir = some_candles(tmp_path, "ETH_BTC-1h.feather", "SOL_BTC-1h.feather",
                           "ADA_BTC-1h.feather")
    output, result = backtest(
        tmp_path, "--timerange", "20241001-20250301", datadir=datadir,
        config=static("ETH/BTC", "SOL/BTC", "ADA/BTC", stake_currency="BTC", dry_run_wallet=1))
    flat = " ".join(output.split())  # freqtrade's console wraps long log lines
    assert flat.count("no BTC/USD candles") == 1, output[-3000:]
    assert ("only force-eligible assets (BTC, ETH, SOL, any quote) are eligible in backtests; "
            "run `freqtrade download-data --exchange coinbase --pairs BTC/USD --timeframes 1h`"
            ) in flat
    traded = {t["pair"] for t in result["trades"]}
    assert traded and traded <= {"ETH/BTC", "SOL/BTC"}  # ETH and SOL are force-eligible assets


def test_only_sub_hour_candles_builds_the_1h_frames_and_trades(tmp_path: Path) -> None:
    # The real 15m candles (the bundled 5m ones cover one month only, too short for the trend).
    datadir = some_candles(tmp_path, "BTC_USD-15m.feather", "ETH_USD-15m.feather",
                           "SOL_USD-15m.feather")
    output, result = backtest(
        tmp_path, "--timeframe", "15m", "--timerange", "20241001-20250101", datadir=datadir,
        config=static("BTC/USD", "ETH/USD", "SOL/USD"), timeout=600)
    flat = " ".join(output.split())
    assert "no BTC/USD 1h candles on disk: built from 15m candles (closed 1h candles only)" in flat
    assert "ETH/USD 1h candles built from 15m candles" in flat
    assert "regime unknown" not in output
    assert len(result["trades"]) > 0


def test_missing_regime_candles_stop_the_start_with_the_download_command(
    tmp_path: Path,
) -> None:
    datadir = some_candles(tmp_path, "ETH_USD-1h.feather", "SOL_USD-1h.feather")
    command = [sys.executable, "-m", "trader247.cli", "backtest", "--data-dir", str(DATA), "--",
               "--strategy", "Trader247Strategy", "--strategy-path", str(STRATEGIES),
               "--userdir", str(tmp_path), "--datadir", str(datadir),
               "-p", "ETH/USD", "SOL/USD", "--timerange", "20250301-20250310"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180,
                          env=CHILD_ENV)
    output = " ".join((done.stdout + done.stderr).split())  # the console wraps long lines
    assert done.returncode == 2, output[-3000:]
    assert (f"no BTC/USD 1h candles ({datadir / 'BTC_USD-1h.feather'} is missing): run "
            "`freqtrade download-data --exchange coinbase --pairs BTC/USD --timeframes 1h`"
            ) in output
    assert "BACKTESTING REPORT" not in output


@pytest.mark.slow
def test_lookahead_analysis_with_1h_frames_built_from_15m_reports_no_bias(
    tmp_path: Path, replay: Replay
) -> None:
    # The resampled regime and trend frames must not see an hour before it has closed.
    datadir = some_candles(tmp_path, "BTC_USD-15m.feather", "ETH_USD-15m.feather",
                           "SOL_USD-15m.feather")
    report = tmp_path / "lookahead.csv"
    command = analysis_args(tmp_path, replay, "lookahead-analysis", "BTC/USD", "ETH/USD",
                            "SOL/USD", datadir=datadir)
    command += ["--timeframe", "15m", "--timerange", "20241001-20250101",
                "--minimum-trade-amount", "4", "--targeted-trade-amount", "8",
                "--lookahead-analysis-exportfilename", str(report)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=CHILD_ENV)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "built from 15m candles" in " ".join(output.split())
    rows = list(csv.DictReader(report.open()))
    assert len(rows) == 1 and rows[0]["has_bias"] == "False", rows
    assert rows[0]["biased_entry_signals"] == rows[0]["biased_exit_signals"] == "0"


def test_19_days_of_5m_candles_warn_once_with_the_download_command(tmp_path: Path) -> None:
    # 19 days of 5m candles and nothing else (what `download-data -t 5m --days 19` gives): the
    # 800 h trend mean never fills, so no entry is possible. The bundled 5m candles are
    # synthesised from the real 15m ones (datagen); cut to 2025-06-12 .. 2025-06-30.
    import pandas as pd

    datadir = tmp_path / "data"
    datadir.mkdir()
    for name in ("BTC_USD-5m.feather", "ETH_USD-5m.feather"):
        frame = pd.read_feather(DATA / name)
        frame[frame["date"] >= pd.Timestamp("2025-06-12", tz="UTC")].reset_index(
            drop=True).to_feather(datadir / name)
    output, result = backtest(tmp_path, "--timeframe", "5m", datadir=datadir,
                              config=static("BTC/USD", "ETH/USD"))
    flat = " ".join(output.split())  # freqtrade's console wraps long log lines
    assert result["trades"] == []
    assert ("signals need 800 h of history before the first entry (800 1h candles for the "
            "trend and regime, 864 5m candles for the 5m indicators") in flat
    assert flat.count("shorter than the 800 h the signals need before the first entry") == 1
    assert "has 456 h of candles (2025-06-12 00:00 .. 2025-06-30 23:55)" in flat
    assert ("Run `freqtrade download-data --exchange coinbase --pairs BTC/USD ETH/USD "
            "--timeframes 5m 1h --days 54`") in flat
    assert "first candle at which an entry is possible" not in flat


def test_backtest_names_the_first_candle_at_which_an_entry_is_possible(tmp_path: Path) -> None:
    output, result = backtest(tmp_path, "--timerange", "20250301-20250310",
                              config=static("BTC/USD", "ETH/USD"))
    flat = " ".join(output.split())
    assert "signals need 800 h of history before the first entry (800 1h candles)" in flat
    assert "first candle at which an entry is possible: 2025-03-01 00:00" in flat
    assert "shorter than" not in flat
