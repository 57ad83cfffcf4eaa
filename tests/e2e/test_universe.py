"""The universe through real freqtrade processes on the replay exchange ([B])."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import CHILD_ENV, Replay, freqtrade_args, wait_for_log, write_config
from trader247.cli.processes import stop

pytestmark = pytest.mark.e2e


def control(replay: Replay, path: str, body: Any) -> Any:
    request = urllib.request.Request(f"{replay.url}/_replay/{path}", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_seed_btc_product_is_reported_in_usd_and_eligible(tmp_path: Path, replay: Replay) -> None:
    # The seed's exact Coinbase figures: 5,928.37 BTC of volume is $564.7M, not "$6K".
    control(replay, "products", {"BTC-USD": {"volume_24h": "5928.37",
                                             "approximate_quote_24h_volume": "564677608"}})
    result = subprocess.run(
        freqtrade_args(tmp_path, write_config(tmp_path, replay), "test-pairlist"),
        capture_output=True, text=True, timeout=180, env=CHILD_ENV)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert ("✅ FORCE ELIGIBLE: BTC/USD bypasses liquidity checks (tier_1_core, "
            "usd_volume=$564.7M, floor=$10.0M)") in output
    assert "BTC/USD" in result.stdout.split("Pairs for USD:")[-1]


def test_ticker_faults_keep_the_whitelist_and_the_bot_running(
    tmp_path: Path, replay: Replay
) -> None:
    override = write_config(tmp_path, replay, pairlists=[
        {"method": "TieredLiquidityPairList", "refresh_period": 2}])
    log = tmp_path / "bot.log"
    command = freqtrade_args(tmp_path, override, "trade", "--dry-run")
    command += ["--db-url", f"sqlite:///{tmp_path}/dry.sqlite"]
    bot = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT,
                           env=CHILD_ENV, start_new_session=True)
    try:
        text = wait_for_log(log, r"Whitelist with \d+ pairs", timeout=120, process=bot)
        first = text.split("Whitelist with", 1)[1].split("\n", 1)[0]
        for kind in ({"kind": "http_5xx", "status": 503}, {"kind": "timeout", "hang_s": 15},
                     {"kind": "malformed_json"}):
            control(replay, "faults", {**kind, "endpoint": "products", "duration_s": 8})
            wait_for_log(log, r"UNIVERSE_KEPT", count=1, timeout=60, process=bot,
                         after=r"Whitelist with")
            time.sleep(8)
        text = wait_for_log(log, r"Bot heartbeat", count=3, timeout=60, process=bot,
                            after=r"UNIVERSE_KEPT")
        assert bot.poll() is None
        assert "Traceback" not in text
        whitelists = [line.split("Whitelist with", 1)[1] for line in text.splitlines()
                      if "Whitelist with" in line]
        # freqtrade logs the whitelist only when it changes: a fault never changed it.
        assert whitelists == [first], whitelists
    finally:
        stop(bot, grace=10.0)
