"""The universe through real freqtrade processes on the replay exchange ([B])."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import CHILD_ENV, Replay, freqtrade_args, wait_for_log, write_config
from trader247.cli.demo import exchange_override
from trader247.cli.processes import stop

pytestmark = pytest.mark.e2e


def control(replay: Replay, path: str, body: Any, method: str = "POST") -> Any:
    request = urllib.request.Request(f"{replay.url}/_replay/{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_after(log: Path, pattern: str, *, offset: int, timeout: float,
               process: subprocess.Popen[bytes], count: int = 1) -> int:
    """Wait for ``count`` new ``pattern`` lines after character ``offset`` of the log; returns the
    offset just past the last of them, so the next wait needs yet another new line."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        found = list(re.finditer(pattern, text[offset:]))
        if len(found) >= count:
            return offset + found[count - 1].end()
        if process.poll() is not None:
            break
        time.sleep(0.25)
    raise AssertionError(f"{pattern!r} x{count} not seen after offset {offset} in {timeout}s; "
                         f"log tail:\n{text[-3000:]}")


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
    # A 1.5 s request time-out: freqtrade's 5 attempts at a hung ticker request take 7.5 s
    # (50 s at ccxt's default 10 s), then the failure reaches the pairlist.
    exchange = exchange_override(replay.port)["exchange"]
    exchange["ccxt_config"]["timeout"] = 1500  # type: ignore[index]
    override = write_config(tmp_path, replay, exchange=exchange, pairlists=[
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
            # Only a line written after this fault started is evidence that it was handled;
            # the fault lasts until that evidence is seen (a slow start-up cannot outlast it).
            offset = len(log.read_text(errors="replace"))
            control(replay, "faults", {**kind, "endpoint": "products", "duration_s": 90})
            # no tickers this refresh (an exchange error, or nothing parseable in a bad answer)
            offset = wait_after(log, r"UNIVERSE_KEPT: reason=no_tickers", offset=offset,
                                timeout=60, process=bot)
            control(replay, "faults", None, method="DELETE")
        # the faults are over: a refresh from good tickers again, and the loop goes on
        offset = wait_after(log, r"(?m)universe: \d+ eligible of \d+ candidates$",
                            offset=len(log.read_text(errors="replace")), timeout=60, process=bot)
        wait_after(log, r"Bot heartbeat", offset=offset, count=3, timeout=60, process=bot)
        text = log.read_text(errors="replace")
        assert bot.poll() is None
        assert "Traceback" not in text
        whitelists = [line.split("Whitelist with", 1)[1] for line in text.splitlines()
                      if "Whitelist with" in line]
        # freqtrade logs the whitelist only when it changes: a fault never changed it.
        assert whitelists == [first], whitelists
    finally:
        stop(bot, grace=10.0)
