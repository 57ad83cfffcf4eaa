"""Helpers of the end-to-end tests: configs, logs, REST calls and dry-run bots."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import parallel
from trader247.cli.demo import exchange_override
from trader247.cli.processes import free_port, stop

REPO = Path(__file__).resolve().parents[2]
FREQTRADE = [sys.executable, "-m", "freqtrade"]
# freqtrade skips its whole logging set-up when PYTEST_VERSION is set (pytest >= 8.2 exports it
# to child processes): children get an environment without PYTEST_* so they log as for a user.
STRATEGIES = Path(__file__).resolve().parent / "strategies"
CHILD_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
CHILD_ENV["COLUMNS"] = str(parallel.CHILD_COLUMNS)  # no wrapped log line (tests/parallel.py)
CHILD_ENV.pop("LINES", None)
# A freqtrade start is ~5-8 s of CPU: a minute alone on a loaded 2-core machine, and longer with
# parallel test workers. Generous: a start that never comes still fails, only later.
STARTUP_TIMEOUT_S = 300.0


@dataclass
class Replay:
    port: int
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def write_config(tmp_path: Path, replay: Replay, **overrides: Any) -> Path:
    """The bundled config, pointed at this test's replay port, with test-sized internals."""
    config: dict[str, Any] = exchange_override(replay.port)
    config["internals"] = {"process_throttle_secs": 1, "heartbeat_interval": 1}
    config["api_server"] = {"enabled": False}
    config.update(overrides)
    path = tmp_path / "override.json"
    path.write_text(json.dumps(config))
    return path


def freqtrade_args(tmp_path: Path, override: Path, *args: str) -> list[str]:
    return [*FREQTRADE, *args, "-c", str(REPO / "config" / "config.json"), "-c", str(override),
            "--userdir", str(REPO / "user_data")]


def wait_for_log(logfile: Path, pattern: str, *, count: int = 1, timeout: float,
                 process: subprocess.Popen[Any] | None = None, after: str | None = None) -> str:
    """Wait until ``pattern`` occurs ``count`` times (after the first ``after`` match)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = logfile.read_text() if logfile.exists() else ""
        scope = text
        if after is not None:
            marker = re.search(after, text)
            scope = text[marker.end():] if marker else ""
        if len(re.findall(pattern, scope)) >= count:
            return text
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.25)
    raise AssertionError(f"{pattern!r} x{count} not seen in {timeout}s; log tail:\n{text[-3000:]}")


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


def launch_bot(tmp_path: Path, replay: Replay, policy: Path, name: str = "bot",
               db: str = "dry.sqlite", slots: int = len(PAIRS), wait: bool = True,
               strategy: str = "CapProbeStrategy", extra: dict[str, Any] | None = None) -> Bot:
    """``trader247 run`` a dry-run bot with the REST API on a free port and force entries on.

    The default strategy is the cap alone (tests/e2e/strategies): every exit seen is the cap's.
    ``db`` is a file name in ``tmp_path`` (SQLite) or a full database URL.
    """
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
    override.update(extra or {})
    config = tmp_path / f"{name}.json"
    config.write_text(json.dumps(override))
    log = tmp_path / f"{name}.log"
    pid_file = tmp_path / "trader247.pid"
    command = [sys.executable, "-m", "trader247.cli", "run", "--pid-file", str(pid_file),
               "--", "--dry-run", "-c", str(REPO / "config" / "config.json"),
               "-c", str(config), "--userdir", str(REPO / "user_data"),
               "--strategy", strategy, "--strategy-path", str(STRATEGIES),
               "--db-url", db if "://" in db else f"sqlite:///{tmp_path / db}"]
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               env=CHILD_ENV, start_new_session=True)
    if wait:
        with stopped_on_failure(process):
            wait_for_log(log, r"Whitelist with \d+ pairs", timeout=STARTUP_TIMEOUT_S,
                         process=process)
    return Bot(process, log, f"http://127.0.0.1:{port}", pid_file)


@contextlib.contextmanager
def stopped_on_failure(process: subprocess.Popen[Any]) -> Iterator[None]:
    """Stop ``process`` when the block fails: a bot whose start-up wait failed was never handed
    to the fixture that stops it, and would run on after the test."""
    try:
        yield
    except BaseException:
        stop(process, grace=10.0)
        raise
