"""Real freqtrade processes against a replay subprocess (test-pairlist, trade --dry-run)."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pandas as pd
import pytest

from tests.replay.conftest import candles, free_port, wait_until, write
from tests.replay.test_cli import command

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
FREQTRADE = str(REPO / ".venv" / "bin" / "freqtrade")
AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
# pair -> (price, base volume per 1h candle); BTC and ETH also get 5m files (SampleStrategy)
PAIRS = {
    "BTC/USD": (60_000.0, 12.0), "ETH/USD": (3_000.0, 120.0), "XRP/USD": (2.0, 50_000.0),
    "SOL/USD": (150.0, 500.0), "ADA/USD": (0.5, 100_000.0), "DOGE/USD": (0.2, 100_000.0),
    "LTC/USD": (80.0, 100.0),
}
TOP5_BY_QUOTE_VOLUME = ["BTC/USD", "ETH/USD", "XRP/USD", "SOL/USD", "ADA/USD"]
# freqtrade skips its logging set-up (so --logfile stays empty) when PYTEST_VERSION is set
FT_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def exchange_section(port: int, whitelist: list[str]) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}"
    return {
        "name": "coinbase", "key": "", "secret": "",
        "ccxt_config": {"enableRateLimit": False, "urls": {"api": {"rest": url}},
                        "has": {"fetchL2OrderBook": True}},
        "ccxt_async_config": {"enableRateLimit": False, "urls": {"api": {"rest": url}}},
        "pair_whitelist": whitelist, "pair_blacklist": [],
    }


def base_config(port: int, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "max_open_trades": 3, "stake_currency": "USD", "stake_amount": 100,
        "dry_run": True, "dry_run_wallet": 1000, "trading_mode": "spot", "margin_mode": "",
        "timeframe": "5m",
        "entry_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "exchange": exchange_section(port, []),
        "pairlists": [{"method": "StaticPairList"}],
        "telegram": {"enabled": False, "token": "", "chat_id": ""},
    }
    config.update(extra)
    return config


@pytest.fixture(scope="module")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    data.mkdir()
    hours = 600
    for i, (pair, (price, volume)) in enumerate(PAIRS.items()):
        if pair in ("BTC/USD", "ETH/USD"):
            five = candles(hours * 12, "5min", price, volume / 12, 100 + i,
                           end=pd.Timestamp("2025-06-30 23:55", tz="UTC"))
            write(data, pair, "5m", five)
            write(data, pair, "1h", five.resample("1h", on="date").agg(AGG).reset_index())
        else:
            write(data, pair, "1h", candles(hours, "1h", price, volume, 100 + i))
    # SampleStrategy comes from freqtrade itself, as a user would get it
    userdir = root / "user_data"
    result = subprocess.run([FREQTRADE, "create-userdir", "--userdir", str(userdir)],
                            capture_output=True, text=True, timeout=120, env=FT_ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (userdir / "strategies" / "sample_strategy.py").exists()
    return root


@pytest.fixture(scope="module")
def replay_port(e2e_dir: Path) -> Iterator[int]:
    port = free_port()
    log = (e2e_dir / "replay.log").open("w")
    process = subprocess.Popen(command("--data-dir", str(e2e_dir / "data"), "--port", str(port)),
                               stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert process.stdout is not None
        assert "listening on" in process.stdout.readline()
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def replay_state(port: int) -> dict[str, Any]:
    with urlopen(f"http://127.0.0.1:{port}/_replay/state", timeout=5) as response:
        return dict(json.load(response))


def test_test_pairlist_ranks_by_quote_volume(e2e_dir: Path, replay_port: int,
                                             tmp_path: Path) -> None:
    config = base_config(replay_port, pairlists=[
        {"method": "VolumePairList", "number_assets": 5, "sort_key": "quoteVolume"}])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [FREQTRADE, "test-pairlist", "-c", str(path), "--userdir", str(e2e_dir / "user_data")],
        capture_output=True, text=True, timeout=120, env=FT_ENV)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "BTC/USD" in result.stdout
    listed = re.search(r"\[('[A-Z]+/USD'(?:, )?)+\]", result.stdout)
    assert listed is not None, result.stdout
    assert json.loads(listed.group(0).replace("'", '"')) == TOP5_BY_QUOTE_VOLUME


def api(port: int, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = Request(f"http://127.0.0.1:{port}/api/v1/{path}", data=data,
                      method="POST" if data else "GET",
                      headers={"Authorization": "Basic " + base64.b64encode(b"e2e:e2e").decode(),
                               "Content-Type": "application/json"})
    with urlopen(request, timeout=10) as response:
        return json.load(response)


def test_dry_run_with_sample_strategy_prices_from_the_book_and_stops_on_sigterm(
    e2e_dir: Path, replay_port: int, tmp_path: Path,
) -> None:
    api_port = free_port()
    config = base_config(
        replay_port,
        initial_state="running",
        force_entry_enable=True,
        internals={"process_throttle_secs": 1, "heartbeat_interval": 1},
        api_server={"enabled": True, "listen_ip_address": "127.0.0.1", "listen_port": api_port,
                    "verbosity": "error", "enable_openapi": False, "CORS_origins": [],
                    "jwt_secret_key": "e2e-only-secret-0123456789abcdef0123456789",
                    "ws_token": "e2e-only-ws-token", "username": "e2e", "password": "e2e"},
    )
    config["exchange"]["pair_whitelist"] = ["BTC/USD", "ETH/USD"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    logfile = tmp_path / "freqtrade.log"
    bot = subprocess.Popen(
        [FREQTRADE, "trade", "--dry-run", "-c", str(path), "--userdir",
         str(e2e_dir / "user_data"), "--strategy", "SampleStrategy",
         "--db-url", f"sqlite:///{tmp_path / 't.sqlite'}", "--logfile", str(logfile)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=FT_ENV, start_new_session=True)
    try:
        def log() -> str:
            return logfile.read_text() if logfile.exists() else ""

        def running_twice() -> bool:
            assert bot.poll() is None, log()[-3000:]
            return len(re.findall(r"Bot heartbeat\. .*state='RUNNING'", log())) >= 2

        wait_until(running_twice, 30, "two RUNNING heartbeats")
        books_before = replay_state(replay_port)["requests"].get("book", 0)
        trade = api(api_port, "forceenter", {"pair": "BTC/USD"})
        assert trade["pair"] == "BTC/USD"
        # priced from the replay's order book: the best bid (price_side "same" for a buy)
        with urlopen(f"http://127.0.0.1:{replay_port}/api/v3/brokerage/market/product_book"
                     "?product_id=BTC-USD&limit=1", timeout=5) as response:
            best_bid = float(json.load(response)["pricebook"]["bids"][0]["price"])
        assert trade["open_rate"] == pytest.approx(best_bid, rel=0.002)
        assert replay_state(replay_port)["requests"].get("book", 0) > books_before
        wait_until(lambda: len(re.findall(r"Bot heartbeat", log())) >= 4, 20, "heartbeats")
        started = time.monotonic()
        bot.send_signal(signal.SIGTERM)
        code = bot.wait(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait(timeout=5)
    text = log()
    # freqtrade turns SIGTERM into KeyboardInterrupt and exits 130 ("SIGINT received")
    assert elapsed < 10 and code in (0, 130), text[-3000:]
    assert "SIGINT received, aborting" in text
    assert unexpected_tracebacks(text) == []
    assert "candles" in replay_state(replay_port)["requests"]


def unexpected_tracebacks(text: str) -> list[str]:
    """Tracebacks other than freqtrade's interrupted commit at shutdown.

    freqtrade's SIGTERM handler raises KeyboardInterrupt wherever the main thread is; when that
    is inside a database commit, its cleanup logs the interrupted commit ("Error during
    cleanup"). That is freqtrade's own behaviour on a signal, not a fault of the replay: such
    tracebacks are accepted after the shutdown began, and only when the log shows the
    interrupt coming from ``term_handler``. Any traceback before the shutdown is unexpected.
    """
    start = text.find("Cleaning up modules")
    interrupted = "in term_handler" in text and "raise KeyboardInterrupt()" in text
    found = []
    position = text.find("Traceback (most recent call last)")
    while position != -1:
        if start == -1 or position < start or not interrupted:
            found.append(text[position:position + 400])
        position = text.find("Traceback (most recent call last)", position + 1)
    return found
