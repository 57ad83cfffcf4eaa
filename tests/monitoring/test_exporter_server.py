"""The /metrics HTTP endpoint: start once, busy port, run modes, env overrides, scrape()."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from tests.monitoring._builders import exposure, forty_pairs, universe
from trader247.core.exposure import CapState
from trader247.core.trims import TrimState
from trader247.metrics import server as metrics_server
from trader247.metrics.exporter import (
    ENV_HOST,
    ENV_PORT,
    Metrics,
    MetricsServer,
    resolve_bind,
    should_start,
)
from trader247.metrics.scrape import parse_exposition, scrape, series_key


class Bot:
    """One bot's server and metrics (a bot runtime holds exactly these two)."""

    server = MetricsServer()
    metrics = Metrics(process_collectors=False)


def start(host: str, port: int, metrics: Metrics | None = None) -> bool:
    return Bot.server.start(host, port, metrics or Bot.metrics)


def bound_address() -> tuple[str, int] | None:
    return Bot.server.bound_address


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ENV_HOST, raising=False)
    monkeypatch.delenv(ENV_PORT, raising=False)
    Bot.server.stop()
    yield
    Bot.server.stop()


@pytest.mark.parametrize("runmode, expected", [
    ("live", True), ("dry_run", True), ("backtest", False), ("hyperopt", False),
    ("plot", False), ("webserver", False), ("util_exchange", False), ("other", False),
])
def test_should_start_only_for_trading_modes(runmode: str, expected: bool) -> None:
    assert should_start(runmode) is expected


def test_should_start_accepts_freqtrade_runmode() -> None:
    from freqtrade.enums import RunMode

    assert should_start(RunMode.DRY_RUN) and should_start(RunMode.LIVE)
    assert not should_start(RunMode.BACKTEST) and not should_start(RunMode.HYPEROPT)


def test_start_serves_the_registry_once_per_server() -> None:
    metrics = Bot.metrics = Metrics(stake_currency="USDC")
    metrics.update_cap(exposure(300.0, 1000.0), CapState.REDUCING, TrimState())
    metrics.update_universe(universe(forty_pairs()))
    assert start("127.0.0.1", 0) is True
    host, port = bound_address() or ("", 0)
    assert host == "127.0.0.1" and port > 0
    assert start("127.0.0.1", 0) is True  # idempotent: no second server
    assert bound_address() == (host, port)
    other = MetricsServer()  # another bot's runtime in the same process: its own server
    assert other.start("127.0.0.1", 0, Metrics(process_collectors=False)) is True
    assert other.bound_address is not None and other.bound_address != (host, port)
    other.stop()

    values = scrape(f"http://127.0.0.1:{port}/metrics")
    assert values['trader247_cap_state{state="REDUCING"}'] == 1
    assert values['trader247_exposure_at_risk_stake{currency="USDC"}'] == pytest.approx(300.0)
    assert values['trader247_core_pair_eligible{pair="BTC/USD"}'] == 1
    assert values['trader247_order_failures_total{reason="other",side="buy"}'] == 0
    assert values["trader247_universe_size"] == 25
    assert "process_cpu_seconds_total" in values


def test_busy_port_is_one_error_line_and_false(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with caplog.at_level(logging.INFO, logger=metrics_server.__name__):
            assert start("127.0.0.1", port, metrics=Metrics(process_collectors=False)) is False
            assert start("127.0.0.1", port) is False  # remembered: no retry, no second line
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, caplog.text
    message = errors[0].getMessage()
    assert f"127.0.0.1:{port}" in message and "in use" in message
    assert "keeps trading" in message
    assert bound_address() is None


def test_environment_overrides_the_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_bind("127.0.0.1", 9090, {}) == ("127.0.0.1", 9090)
    assert resolve_bind("127.0.0.1", 9090, {ENV_HOST: "0.0.0.0"}) == ("0.0.0.0", 9090)
    assert resolve_bind("127.0.0.1", 9090, {ENV_PORT: "9100"}) == ("127.0.0.1", 9100)
    with pytest.raises(ValueError, match=ENV_PORT):
        resolve_bind("127.0.0.1", 9090, {ENV_PORT: "nine"})
    with pytest.raises(ValueError, match="0..65535"):
        resolve_bind("127.0.0.1", 70000, {})

    monkeypatch.setenv(ENV_PORT, "0")
    assert start("127.0.0.1", 9090, metrics=Metrics(process_collectors=False))
    bound = bound_address()
    assert bound is not None and bound[1] != 9090


def test_bad_port_in_environment_does_not_raise(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV_PORT, "x")
    with caplog.at_level(logging.ERROR, logger=metrics_server.__name__):
        assert start("127.0.0.1", 9090) is False
    assert ENV_PORT in caplog.text


def test_parse_exposition_keys() -> None:
    text = (
        "# TYPE a_total counter\n"
        'a_total{side="sell",reason="rejected"} 3\n'
        "# TYPE b gauge\n"
        "b +Inf\n"
    )
    values = parse_exposition(text)
    assert values == {'a_total{reason="rejected",side="sell"}': 3.0, "b": float("inf")}
    assert series_key("x", {"q": 'a"b'}) == 'x{q="a\\"b"}'
    with pytest.raises(ValueError):
        scrape("file:///etc/passwd")
