"""Small synthetic data sets, a controllable clock, API keys and in-process replay servers.

Every exchange the fixtures create has its books checked when the test ends (``assert_books
_balance``): for each account and currency, deposits + fills == balance, nothing negative.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import numpy as np
import pandas as pd
import pytest

from trader247.replay.api import ReplayExchange
from trader247.replay.auth import KeyRing, load_keys
from trader247.replay.feed import load_feed
from trader247.replay.keys import DemoKey, ensure_keys
from trader247.replay.scenario import Scenario, parse_scenario
from trader247.replay.server import ReplayServer

DATA_END = pd.Timestamp("2025-06-30 23:00", tz="UTC")
# A fixed "real" time half-way through an hour (and a 15m candle), for deterministic tests.
T0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600 + 1800.25


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def candles(n: int, tf: str, price: float, volume: float, seed: int,
            end: pd.Timestamp = DATA_END) -> pd.DataFrame:
    """A seeded random walk in freqtrade's OHLCV layout with a constant volume."""
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.r_[price, close[:-1]]
    return pd.DataFrame({
        "date": pd.date_range(end=end, periods=n, freq=pd.Timedelta(tf)),
        "open": open_,
        "high": np.maximum(open_, close) * 1.002,
        "low": np.minimum(open_, close) * 0.998,
        "close": close,
        "volume": np.full(n, volume),
    })


def write(data_dir: Path, pair: str, tf: str, df: pd.DataFrame, fmt: str = "feather") -> Path:
    base, quote = pair.split("/")
    path = data_dir / f"{base}_{quote}-{tf}.{fmt}"
    if fmt == "feather":
        df.reset_index(drop=True).to_feather(path)
    else:
        rows = [[int(d.timestamp() * 1000), o, h, lo, c, v] for d, o, h, lo, c, v in
                df[["date", "open", "high", "low", "close", "volume"]].itertuples(index=False)]
        path.write_text(json.dumps(rows))
    return path


def make_dataset(data_dir: Path, *, hours: int = 1500, extra_pairs: int = 0) -> dict[str, Any]:
    """BTC/USD (15m + its 1h aggregate), ETH/USD, ADA/USD (json), ETH/BTC; base volumes.

    ``extra_pairs`` adds thin XNN/USD pairs (for pairlist ranking).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    btc15 = candles(hours * 4, "15m", 60_000.0, 2.5, 2, end=DATA_END + pd.Timedelta("45min"))
    btc1h = btc15.resample("1h", on="date").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    frames = {
        ("BTC/USD", "1h"): btc1h.reset_index(),
        ("BTC/USD", "15m"): btc15,
        ("ETH/USD", "1h"): candles(hours, "1h", 3_000.0, 100.0, 3),
        ("ADA/USD", "1h"): candles(hours, "1h", 0.5, 100_000.0, 4),
        ("ETH/BTC", "1h"): candles(hours, "1h", 0.05, 50.0, 5),
    }
    for i in range(extra_pairs):
        frames[(f"X{i:02d}/USD", "1h")] = candles(hours, "1h", 2.0 + i, 1_000.0, 10 + i)
    for (pair, tf), df in frames.items():
        write(data_dir, pair, tf, df, "json" if pair == "ADA/USD" else "feather")
    return {"dir": data_dir, "frames": frames}


@pytest.fixture
def dataset(tmp_path: Path) -> dict[str, Any]:
    return make_dataset(tmp_path / "data")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass(frozen=True)
class KeySet:
    """Three keys on account ``acct`` (10 000 USD) and one on ``other`` (1 000 USD)."""

    ring: KeyRing
    keys: list[DemoKey]

    def secret(self, label: str) -> tuple[str, str]:
        key = next(k for k in self.keys if k.label == label)
        exchange = json.loads(key.config.read_text())["exchange"]
        return str(exchange["key"]), str(exchange["secret"])


@pytest.fixture(scope="session")
def keyset(tmp_path_factory: pytest.TempPathFactory) -> KeySet:
    from decimal import Decimal

    directory = tmp_path_factory.mktemp("keys")
    ensure_keys(directory, {"acct": {"USD": Decimal("10000")}}, 3)
    keys = ensure_keys(directory, {"other": {"USD": Decimal("1000")}}, 1)
    return KeySet(load_keys(directory / "keys.json"), keys)


def sign(keyset: KeySet, label: str, method: str, path: str, now: float) -> dict[str, str]:
    """The Authorization header ccxt 4.5 sends (its own signer, at the replay's time)."""
    import ccxt

    name, secret = keyset.secret(label)
    client = ccxt.coinbase({"apiKey": name, "secret": secret})
    token = client.create_auth_token(int(now), method, f"https://api.coinbase.com{path}")
    return {"Authorization": f"Bearer {token}"}


def assert_books_balance(exchange: ReplayExchange) -> None:
    problems = exchange.brokerage.reconcile(exchange.clock.now())
    assert problems == [], problems


@pytest.fixture
def make_exchange(dataset: dict[str, Any], clock: FakeClock) -> Iterator[
        Callable[..., ReplayExchange]]:
    feed = load_feed(dataset["dir"])
    made: list[ReplayExchange] = []

    def make(scenario: dict[str, Any] | Scenario | None = None, **kwargs: Any) -> ReplayExchange:
        if isinstance(scenario, dict):
            scenario = parse_scenario(scenario, "test scenario")
        kwargs.setdefault("clock", clock)
        exchange = ReplayExchange(feed, scenario=scenario, **kwargs)
        made.append(exchange)
        return exchange

    yield make
    for exchange in made:
        assert_books_balance(exchange)


def get(exchange: ReplayExchange, target: str, method: str = "GET",
        body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    payload = b"" if body is None else json.dumps(body).encode()
    response = exchange.handle(method, target, payload, headers)
    if response.content_type != "application/json":
        return response.status, response.body.decode()
    return response.status, json.loads(response.body)


@dataclass
class Running:
    exchange: ReplayExchange
    url: str

    def call(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        with urlopen(Request(self.url + path, data=data, method=method), timeout=5) as response:
            return json.load(response)


@pytest.fixture
def serve(dataset: dict[str, Any]) -> Iterator[Callable[..., Running]]:
    """In-process servers on free ports with the real clock (ccxt computes ranges from it)."""
    servers: list[ReplayServer] = []
    feed = load_feed(dataset["dir"])

    def start(scenario: dict[str, Any] | None = None, **kwargs: Any) -> Running:
        parsed = parse_scenario(scenario, "test scenario") if scenario else None
        exchange = ReplayExchange(feed, scenario=parsed, **kwargs)
        server = ReplayServer(exchange, "127.0.0.1", 0).start()
        servers.append(server)
        return Running(exchange, server.url)

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
        for server in servers:
            assert_books_balance(server.exchange)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
