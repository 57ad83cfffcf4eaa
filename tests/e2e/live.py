"""Live-mode set-up for end-to-end tests: a replay with API keys and real ``freqtrade trade``
processes without ``--dry-run``.

Reusable by every live scenario (order lifecycles here, the cap's live trims later):

- ``LiveReplay``: the replay subprocess started with a keys file; accounts with opening
  balances, several keys per account (a fleet), its ``/_replay/`` control API.
- ``live_override``: the freqtrade config layer that turns the bundled config into a live bot
  on the replay (``dry_run: false``, loopback exchange URL, REST API with test credentials).
- ``launch_live_bot``: ``trader247 run`` (pre-flight, PID file) -> ``freqtrade trade`` with the
  key's config fragment (``exchange.key`` / ``exchange.secret``), like a user would.
- ``wallet_vs_exchange``: freqtrade's wallet next to the exchange's balances.

Fixtures (import them into a test module): ``live_replay_factory`` and ``live_bots``; every
process they start is stopped at the end of the test (nothing else is killed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    CHILD_ENV,
    PASSWORD,
    REPO,
    STARTUP_TIMEOUT_S,
    STRATEGIES,
    USER,
    Bot,
    stopped_on_failure,
    wait_for_log,
)
from trader247.cli.demo import exchange_override
from trader247.cli.processes import free_port, start_replay, stop
from trader247.replay.keys import DemoKey, ensure_keys

# Live tests place limit entries and market exits: a market trim's round trip is the bot's, not the
# replayed market's (a limit trim rests on the book until the price comes to it).
LIMIT_ENTRY_MARKET_EXIT = {"entry": "limit", "exit": "market", "emergency_exit": "market",
                           "force_entry": "market", "force_exit": "market", "stoploss": "market",
                           "stoploss_on_exchange": False}


@dataclass
class LiveReplay:
    port: int
    process: subprocess.Popen[str]
    keys: list[DemoKey]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def key(self, label: str) -> DemoKey:
        return next(k for k in self.keys if k.label == label)

    def control(self, path: str, body: Any = None, method: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_replay/{path}", data=data, method=method or (
                "POST" if data is not None else "GET"),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())

    def best(self, product_id: str) -> tuple[float, float]:
        """(best bid, best ask) of a product, from the public ticker."""
        url = f"{self.url}/api/v3/brokerage/market/products/{product_id}/ticker?limit=1"
        with urllib.request.urlopen(url, timeout=15) as response:
            data = json.loads(response.read())
        return float(data["best_bid"]), float(data["best_ask"])

    def fault(self, **fault: Any) -> dict[str, Any]:
        return dict(self.control("faults", fault)["added"][0])

    def account(self, name: str) -> dict[str, Any]:
        state = self.control("accounts")
        assert state["reconcile"] == [], state["reconcile"]
        return dict(state["accounts"][name])


def start_live_replay(tmp_path: Path, data_dir: Path, *,
                      accounts: Mapping[str, Mapping[str, str]] | None = None,
                      keys_per_account: int = 1, scenario: Mapping[str, Any] | None = None,
                      args: tuple[str, ...] = ()) -> LiveReplay:
    accounts = accounts or {"live": {"USD": "10000"}}
    keys_dir = tmp_path / "replay-keys"
    keys: list[DemoKey] = []
    for name, balances in accounts.items():
        keys = ensure_keys(keys_dir, {name: {c: Decimal(v) for c, v in balances.items()}},
                           keys_per_account)
    extra = ["--keys", str(keys_dir / "keys.json"), *args]
    if scenario is not None:
        path = tmp_path / "scenario.json"
        path.write_text(json.dumps(scenario))
        extra += ["--scenario", str(path)]
    port = free_port()
    log = (tmp_path / f"replay-{port}.log").open("w")
    process = start_replay(data_dir, port, extra_args=extra, log=log)
    return LiveReplay(port, process, keys)


def live_override(replay: LiveReplay, api_port: int, *,
                  pairs: tuple[str, ...] = ("BTC/USD", "ETH/USD", "SOL/USD"),
                  **extra: Any) -> dict[str, Any]:
    """The config layer for a live bot on ``replay`` (after config/config.json)."""
    override: dict[str, Any] = exchange_override(replay.port)
    override["exchange"]["pair_whitelist"] = list(pairs)
    override.update({
        "dry_run": False,
        "max_open_trades": len(pairs),
        "stake_amount": 200,
        "force_entry_enable": True,
        "minimal_roi": {"0": 100.0},
        "stoploss": -0.99,
        "internals": {"process_throttle_secs": 1, "heartbeat_interval": 0},
        "pairlists": [{"method": "StaticPairList"}],
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1",
                       "listen_port": api_port, "username": USER, "password": PASSWORD,
                       "jwt_secret_key": "e2e-live-jwt-secret-0123456789abcdef",
                       "ws_token": "e2e-live-ws-token", "CORS_origins": []},
    })
    override.update(extra)
    return override


def launch_live_bot(tmp_path: Path, replay: LiveReplay, key: DemoKey, *, name: str = "live",
                    db: str | None = None, strategy: str = "OrderProbeStrategy",
                    extra: Mapping[str, Any] | None = None, wait: bool = True,
                    api_port: int | None = None) -> Bot:
    """``trader247 run`` a live bot (no ``--dry-run``) trading with ``key``."""
    port = api_port or free_port()
    config = tmp_path / f"{name}.json"
    config.write_text(json.dumps(live_override(replay, port, **dict(extra or {}))))
    log = tmp_path / f"{name}.log"
    pid_file = tmp_path / f"{name}.pid"
    command = [sys.executable, "-m", "trader247.cli", "run", "--pid-file", str(pid_file),
               "--", "-c", str(REPO / "config" / "config.json"), "-c", str(config),
               "-c", str(key.config), "--userdir", str(REPO / "user_data"),
               "--strategy", strategy, "--strategy-path", str(STRATEGIES),
               "--db-url", f"sqlite:///{tmp_path / (db or f'{name}.sqlite')}"]
    process = subprocess.Popen(command, stdout=log.open("a"), stderr=subprocess.STDOUT,
                               env=CHILD_ENV, start_new_session=True)
    bot = Bot(process, log, f"http://127.0.0.1:{port}", pid_file)
    if wait:
        with stopped_on_failure(process):
            wait_for_log(log, r"Bot heartbeat|Whitelist with \d+ pairs",
                         timeout=STARTUP_TIMEOUT_S, process=process, after=r"Dry run is disabled")
            wait_ready(bot)
    return bot


def wait_ready(bot: Bot, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert bot.process.poll() is None, bot.log.read_text()[-3000:]
        try:
            if bot.get("show_config")["state"] == "running":
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"bot API not ready; log tail:\n{bot.log.read_text()[-3000:]}")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wallet_vs_exchange(bot: Bot, replay: LiveReplay, account: str) -> tuple[
        dict[str, float], dict[str, float]]:
    """(freqtrade's wallet totals, the exchange's balances) per currency, non-zero only."""
    wallet = {c["currency"]: float(c["balance"]) for c in bot.get("balance")["currencies"]
              if float(c["balance"])}
    exchange = {c: float(v) for c, v in replay.account(account)["balances"].items()}
    return wallet, exchange


@pytest.fixture
def live_replay_factory(data_dir: Path, tmp_path: Path) -> Iterator[Callable[..., LiveReplay]]:
    started: list[LiveReplay] = []

    def make(**kwargs: Any) -> LiveReplay:
        replay = start_live_replay(tmp_path, data_dir, **kwargs)
        started.append(replay)
        return replay

    yield make
    for replay in started:
        stop(replay.process, grace=5.0)


@pytest.fixture
def live_bots(tmp_path: Path) -> Iterator[Callable[..., Bot]]:
    """Start live bots; all are stopped (SIGTERM, then SIGKILL) at the end of the test."""
    started: list[Bot] = []

    def start(replay: LiveReplay, key: DemoKey, **kwargs: Any) -> Bot:
        bot = launch_live_bot(tmp_path, replay, key, **kwargs)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        stop(bot.process, grace=10.0)
