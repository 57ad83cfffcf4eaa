"""``/metrics`` of a real dry-run bot: every family present, trims move the counters ([E2])."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import Bot, Replay, enter, http, policy_file, wait_for_log
from trader247.cli.processes import free_port
from trader247.metrics.scrape import scrape

pytestmark = pytest.mark.e2e


def test_metrics_of_a_running_bot_move_with_a_rally(
    tmp_path: Path, replay: Replay, start_bot: Callable[..., Bot]
) -> None:
    port = free_port()
    bot = start_bot(replay, policy_file(tmp_path, port=port))
    url = f"http://127.0.0.1:{port}/metrics"
    # The first whitelist is logged before the strategy starts the exporter: wait for the latter.
    wait_for_log(bot.log, r"Metrics exporter listening on", timeout=60, process=bot.process)
    before = scrape(url)
    assert before['trader247_cap_state{state="ACTIVE"}'] == 1.0
    assert before["trader247_universe_size"] >= 7
    assert before['trader247_core_pair_eligible{pair="BTC/USD"}'] == 1.0
    assert before['trader247_universe_pairs{reason="FORCE_ELIGIBLE"}'] == 3.0
    assert before['trader247_trims_total{outcome="filled"}'] == 0.0
    assert 'trader247_order_failures_total{reason="rejected",side="sell"}' in before
    assert "process_cpu_seconds_total" in before

    enter(bot, 50.0)
    http("POST", f"{replay.url}/_replay/price_script",
         {"duration_s": 10, "from_multiplier": 1.0, "to_multiplier": 1.6}, auth=False)
    wait_for_log(bot.log, r"entries resume \(lock lifted\)", timeout=150, process=bot.process)
    time.sleep(2)  # one more iteration publishes the final state
    after = scrape(url)
    assert after['trader247_trims_total{outcome="filled"}'] >= 1
    assert after["trader247_trim_latency_seconds_count"] >= 1
    assert after["trader247_trim_rounds_total"] >= 1
    assert after["trader247_bot_iteration_duration_seconds_count"] > \
        before["trader247_bot_iteration_duration_seconds_count"]
    assert 0 < after["trader247_exposure_at_risk_ratio"] <= 0.25
    assert after['trader247_exposure_equity_stake{currency="USD"}'] > 900
    assert after['trader247_cap_state{state="ACTIVE"}'] == 1.0
    assert after["trader247_bot_open_trades"] == 4
    assert after['trader247_trim_thrash_episodes_total'] == 0
