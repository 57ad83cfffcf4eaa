"""``trader247 run`` / ``stop``: PID file, SIGTERM during a trim, kill -9, restore ([E1])."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import (
    CHILD_ENV,
    REPO,
    Bot,
    Replay,
    enter,
    http,
    launch_bot,
    policy_file,
    wait_for_log,
)
from trader247.cli.processes import stop

pytestmark = pytest.mark.e2e
# `trader247 stop` waits shutdown.stop_grace_seconds (5) before SIGKILL; these tests prove a clean
# stop, not its speed on a loaded machine, so they give it this long
# (test_stop_kills_a_process_that_outlives_the_grace proves the grace itself).
STOP_GRACE_S = 60.0


def test_sigterm_during_trims_then_restart_restores_state(
    tmp_path: Path, replay: Replay, start_bot: Callable[..., Bot]
) -> None:
    bot = start_bot(replay, policy_file(tmp_path))
    enter(bot, 50.0)
    http("POST", f"{replay.url}/_replay/price_script",
         {"duration_s": 10, "from_multiplier": 1.0, "to_multiplier": 1.6}, auth=False)
    wait_for_log(bot.log, r"TRIM_ROUND:", timeout=90, process=bot.process)

    # A clean exit (0) within a generous grace: a hung shutdown is still caught (SIGKILL, -9),
    # while a loaded machine (parallel workers) may take longer than the policy's 5 s.
    code = stop(bot.process, grace=STOP_GRACE_S, sig=signal.SIGTERM)
    assert code == 0
    assert not bot.pid_file.exists()
    log = bot.log.read_text()
    assert "cap state persisted on shutdown" in log and "Traceback" not in log
    with sqlite3.connect(tmp_path / "dry.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        saved = db.execute("SELECT value FROM trader247_state "
                           "WHERE key = 'trader247_cap_state'").fetchone()
    assert saved is not None and '"trim_state"' in saved[0]

    again = start_bot(replay, policy_file(tmp_path), name="again")
    restored = wait_for_log(again.log, r"cap state restored: cycle=(\d+)", timeout=60,
                            process=again.process)
    assert "cap state restored: cycle=0 " not in restored


def test_kill_9_leaves_a_stale_pid_that_the_next_start_replaces(
    tmp_path: Path, replay: Replay, start_bot: Callable[..., Bot]
) -> None:
    bot = start_bot(replay, policy_file(tmp_path))
    old_pid = int(bot.pid_file.read_text())
    assert old_pid == bot.process.pid
    os.kill(bot.process.pid, signal.SIGKILL)
    bot.process.wait(timeout=10)
    assert bot.pid_file.exists()  # nothing can clean up after SIGKILL

    again = start_bot(replay, policy_file(tmp_path), name="again")
    text = again.log.read_text()
    assert f"stale PID file {bot.pid_file} (pid {old_pid} is not running): replaced" in text
    assert int(again.pid_file.read_text()) == again.process.pid


def test_second_launch_while_running_is_refused(
    tmp_path: Path, replay: Replay, start_bot: Callable[..., Bot]
) -> None:
    bot = start_bot(replay, policy_file(tmp_path))
    second = launch_bot(tmp_path, replay, policy_file(tmp_path), name="second",
                        db="second.sqlite", wait=False)
    try:
        assert second.process.wait(timeout=120) == 1
        assert "247trader is already running (pid" in second.log.read_text()
        assert bot.process.poll() is None
        assert int(bot.pid_file.read_text()) == bot.process.pid
    finally:
        stop(second.process, grace=5.0)


def test_stop_command_sends_sigterm_and_removes_the_pid_file(
    tmp_path: Path, replay: Replay, start_bot: Callable[..., Bot]
) -> None:
    bot = start_bot(replay, policy_file(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "trader247.cli", "stop", "--pid-file", str(bot.pid_file),
         "-c", str(REPO / "config" / "config.json"), "--grace", str(STOP_GRACE_S)],
        capture_output=True, text=True, timeout=STOP_GRACE_S + 60, env=CHILD_ENV, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert f"247trader stopped (pid {bot.process.pid})" in result.stdout
    assert bot.process.wait(timeout=10) == 0
    assert not bot.pid_file.exists()


def test_stop_kills_a_process_that_outlives_the_grace(tmp_path: Path) -> None:
    # A stand-in for a bot whose shutdown hangs: it ignores SIGTERM.
    stuck = subprocess.Popen(
        [sys.executable, "-c", "import signal, time\n"
         "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
         "time.sleep(600)"], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert stuck.stdout is not None and stuck.stdout.readline() == "ready\n"
        pid_file = tmp_path / "trader247.pid"
        pid_file.write_text(str(stuck.pid))
        result = subprocess.run(
            [sys.executable, "-m", "trader247.cli", "stop", "--pid-file", str(pid_file),
             "-c", str(REPO / "config" / "config.json"), "--grace", "0.5"],
            capture_output=True, text=True, timeout=120, env=CHILD_ENV, cwd=REPO)
        assert result.returncode == 0, result.stderr
        assert f"247trader stopped (pid {stuck.pid}, forced with SIGKILL)" in result.stdout
        assert stuck.wait(timeout=30) == -signal.SIGKILL
        assert not pid_file.exists()
    finally:
        stop(stuck, grace=1.0)


def test_bad_policy_stops_before_the_first_iteration_with_exit_1(
    tmp_path: Path, replay: Replay
) -> None:
    bad = policy_file(tmp_path, max_total_at_risk_pct=250)
    bot = launch_bot(tmp_path, replay, bad, wait=False)
    try:
        assert bot.process.wait(timeout=120) == 1
    finally:
        stop(bot.process, grace=5.0)
    text = bot.log.read_text()
    assert f"{bad}:49: risk.max_total_at_risk_pct: must be > 0 and <= 100 (got 250)" in text
    assert "Bot heartbeat" not in text and not bot.pid_file.exists()


def test_stop_with_liquidate_closes_every_position_first(
    tmp_path: Path, replay: Replay, start_bot: Callable[..., Bot]
) -> None:
    bot = start_bot(replay, policy_file(tmp_path))
    enter(bot, 30.0)
    result = subprocess.run(
        [sys.executable, "-m", "trader247.cli", "stop", "--liquidate", "--pid-file",
         str(bot.pid_file), "-c", str(REPO / "config" / "config.json"),
         "-c", str(tmp_path / "bot.json"), "--grace", str(STOP_GRACE_S)],
        capture_output=True, text=True, timeout=STOP_GRACE_S + 180, env=CHILD_ENV, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "liquidation: all positions closed" in result.stdout
    assert bot.process.wait(timeout=10) == 0
    with sqlite3.connect(tmp_path / "dry.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM trades WHERE is_open = 1").fetchone() == (0,)


def test_plain_freqtrade_refuses_a_bad_universe_with_a_non_zero_exit(
    tmp_path: Path, replay: Replay
) -> None:
    from tests.e2e.support import freqtrade_args, write_config

    bad = tmp_path / "universe.yaml"
    bad.write_text("tiers:\n  tier_1_core:\n    symbols: [BTC-USD]\n    constraints:\n"
                   "      min_24h_volume_usd: 10000000\n      min_volume: 5\n")
    override = write_config(tmp_path, replay, pairlists=[
        {"method": "TieredLiquidityPairList", "universe_file": str(bad)}])
    result = subprocess.run(freqtrade_args(tmp_path, override, "test-pairlist"),
                            capture_output=True, text=True, timeout=180, env=CHILD_ENV)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    assert f"{bad}:6: tiers.tier_1_core.constraints.min_volume: unknown key" in output
    assert "Traceback" not in output


def test_a_thread_that_outlives_the_clean_shutdown_cannot_hold_the_process() -> None:
    script = (
        "import threading, time\n"
        "from trader247.cli.launcher import arm_exit_watchdog\n"
        "threading.Thread(target=time.sleep, args=(600,), name='stuck-worker').start()\n"
        "arm_exit_watchdog(0, seconds=0.3)\n"
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, env=CHILD_ENV, cwd=REPO)
    assert result.returncode == 0
    assert time.monotonic() - started < 30
    assert "still running 0.3s after the clean shutdown" in result.stderr
    assert "most recent call first" in result.stderr  # the stacks that held it
