"""At-risk cap scenarios through a real ``trader247 run`` dry-run bot on the replay exchange ([C]).

Positions are opened with freqtrade's own REST API (``/forceenter``), prices are scripted through
the replay exchange's control API, and the bot's log and REST API are the observations.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CHILD_ENV, REPO, Replay, wait_for_log
from trader247.cli.demo import exchange_override
from trader247.cli.processes import free_port, stop

pytestmark = pytest.mark.e2e

USER, PASSWORD = "tester", "tester-password"
PAIRS = ("BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD")


def http(method: str, url: str, body: Any = None, auth: bool = True) -> Any:
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{USER}:{PASSWORD}".encode()).decode()
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read() or b"null")


@dataclass
class Bot:
    process: subprocess.Popen[bytes]
    log: Path
    api: str
    pid_file: Path

    def get(self, path: str) -> Any:
        return http("GET", f"{self.api}/api/v1/{path}")

    def post(self, path: str, body: Any) -> Any:
        return http("POST", f"{self.api}/api/v1/{path}", body)


def policy_file(tmp_path: Path, **risk: Any) -> Path:
    text = (REPO / "config" / "policy.yaml").read_text()
    for key, value in risk.items():
        text, count = re.subn(rf"(\n  {key}:) [^\n#]+", rf"\1 {value}", text)
        assert count == 1, key
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def start_bot(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(replay: Replay, policy: Path, name: str = "bot", db: str = "dry.sqlite",
              slots: int = len(PAIRS)) -> Bot:
        port = free_port()
        override = exchange_override(replay.port)
        override.update({
            "max_open_trades": slots,
            "force_entry_enable": True,
            # Only the cap may sell in these scenarios: no ROI or stoploss exits on the rally.
            "minimal_roi": {"0": 100.0},
            "stoploss": -0.99,
            # Market orders fill at once in dry-run: the rounds, not fill luck, are under test.
            "order_types": {"entry": "market", "exit": "market", "emergency_exit": "market",
                            "force_entry": "market", "force_exit": "market",
                            "stoploss": "market", "stoploss_on_exchange": False},
            "internals": {"process_throttle_secs": 1, "heartbeat_interval": 0},
            "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                           "policy_file": str(policy),
                           "universe_file": str(REPO / "config" / "universe.yaml")}],
            "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1",
                           "listen_port": port, "username": USER, "password": PASSWORD,
                           "jwt_secret_key": "e2e-test-jwt-secret-0123456789abcdef",
                           "ws_token": "e2e-test-ws-token", "CORS_origins": []},
        })
        config = tmp_path / f"{name}.json"
        config.write_text(json.dumps(override))
        log = tmp_path / f"{name}.log"
        pid_file = tmp_path / "trader247.pid"
        command = [sys.executable, "-m", "trader247.cli", "run", "--pid-file", str(pid_file),
                   "--", "--dry-run", "-c", str(REPO / "config" / "config.json"),
                   "-c", str(config), "--userdir", str(REPO / "user_data"),
                   "--db-url", f"sqlite:///{tmp_path / db}"]
        process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                   env=CHILD_ENV, start_new_session=True)
        started.append(process)
        wait_for_log(log, r"Whitelist with \d+ pairs", timeout=120, process=process)
        return Bot(process, log, f"http://127.0.0.1:{port}", pid_file)

    yield start
    for process in started:
        stop(process, grace=10.0)


def enter(bot: Bot, stake: float) -> None:
    for pair in PAIRS:
        bot.post("forceenter", {"pair": pair, "stakeamount": stake})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        trades = bot.get("status")
        if len(trades) == len(PAIRS) and not any(t["has_open_orders"] for t in trades):
            return
        time.sleep(0.5)
    raise AssertionError(f"entries did not fill: {bot.get('status')}")


def rounds(log: str) -> list[tuple[int, int]]:
    """(cycle, orders) of every trim round the bot logged."""
    return [(int(m["cycle"]), int(m["orders"])) for m in re.finditer(
        r"TRIM_ROUND: .*?orders=(?P<orders>\d+) .*?cycle=(?P<cycle>\d+)", log)]


def test_rally_from_20_to_over_cap_trims_back_calmly(
    tmp_path: Path, replay: Replay, start_bot: Any
) -> None:
    bot = start_bot(replay, policy_file(tmp_path))
    enter(bot, 50.0)  # 4 x $50 of $1000: 20 % at risk
    http("POST", f"{replay.url}/_replay/price_script",
         {"duration_s": 15, "from_multiplier": 1.0, "to_multiplier": 1.6}, auth=False)

    locks_seen: list[str] = []
    deadline = time.monotonic() + 150
    log = ""
    while time.monotonic() < deadline:
        locks_seen += [lock["reason"] for lock in bot.get("locks")["locks"]]
        log = bot.log.read_text()
        if "entries resume (lock lifted)" in log:
            break
        time.sleep(0.5)
    assert "entries resume (lock lifted)" in log, log[-3000:]

    trim_rounds = rounds(log)
    assert trim_rounds, log[-3000:]
    assert all(orders <= 3 for _, orders in trim_rounds)
    cycles = [cycle for cycle, _ in trim_rounds]
    assert all(later - earlier >= 3 for earlier, later in zip(cycles, cycles[1:], strict=False))
    # Prices keep rising while it trims, so rounds continue; still bounded and never thrashing.
    assert len(trim_rounds) <= 8
    assert any(reason.startswith("EXPOSURE_OVER_CAP: at_risk=") for reason in locks_seen)
    # One episode only: no re-entry ping-pong, no second lock.
    assert log.count("entries blocked until exposure is back under target") == 1
    assert "Traceback" not in log

    code = stop(bot.process, grace=10.0, sig=signal.SIGTERM)
    assert code == 0
    assert not bot.pid_file.exists()


def test_start_at_50_percent_trims_gradually_with_entries_blocked(
    tmp_path: Path, replay: Replay, start_bot: Any
) -> None:
    # The seed's case: the bot ran with the emergency 80 % cap and holds 50 %; restart at 25 %.
    loose = start_bot(replay, policy_file(tmp_path, max_total_at_risk_pct=80.0), name="loose")
    enter(loose, 125.0)  # 4 x $125 of $1000: 50 %
    assert stop(loose.process, grace=10.0) == 0

    # One spare slot, so that it is the cap (not max_open_trades) that refuses a new entry.
    bot = start_bot(replay, policy_file(tmp_path), name="strict", slots=len(PAIRS) + 1)
    plan = wait_for_log(bot.log, r"at_risk 5\d\.\d% > cap 25\.0%: trimming \$\d+\.\d\d over ~\d+ "
                                 r"rounds? \(~\d+ (min|s)\)", timeout=60, process=bot.process)
    locks = bot.get("locks")["locks"]
    assert any(lock["reason"].startswith("EXPOSURE_OVER_CAP") for lock in locks), locks
    with contextlib.suppress(urllib.error.HTTPError):  # freqtrade answers 502 on a refusal
        bot.post("forceenter", {"pair": "LINK/USD", "stakeamount": 20})
    assert sorted(t["pair"] for t in bot.get("status")) == sorted(PAIRS)
    log = wait_for_log(bot.log, r"TRIM_ROUND:", count=2, timeout=120, process=bot.process)
    assert all(orders <= 3 for _, orders in rounds(log))
    assert "Traceback" not in plan + log
