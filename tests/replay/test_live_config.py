"""Live configs on the replay: the pre-flight's loopback rule and freqtrade's stripped keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trader247.cli.demo import live_override
from trader247.core.config import PolicyConfig
from trader247.preflight import config_checks, exchange_is_loopback

REPO = Path(__file__).resolve().parents[2]


def urls(sync: str | None, asynchronous: str | None) -> dict[str, Any]:
    def layer(url: str | None) -> dict[str, Any]:
        return {"urls": {"api": {"rest": url}}} if url else {}

    return {"ccxt_config": layer(sync), "ccxt_async_config": layer(asynchronous)}


@pytest.mark.parametrize(("sync", "asynchronous", "loopback"), [
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765", True),
    ("http://localhost:8765", None, True),
    ("http://[::1]:8765", "http://127.0.0.2:1", True),
    ("http://127.0.0.1:8765", "https://api.coinbase.com", False),
    ("http://10.0.0.5:8765", None, False),
    (None, None, False),  # ccxt's own URL: the real Coinbase
])
def test_exchange_is_loopback(sync: str | None, asynchronous: str | None,
                              loopback: bool) -> None:
    assert exchange_is_loopback(urls(sync, asynchronous)) is loopback


def live_demo_config(**exchange: Any) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((REPO / "config" / "config.json").read_text())
    config.update({"dry_run": False})
    config["exchange"].update(exchange)
    return config


def errors(config: dict[str, Any]) -> set[str]:
    return {".".join(map(str, p.path)) for p in config_checks(config, PolicyConfig(),
                                                                file="config.json")
            if p.severity == "error"}


def test_demo_credentials_pass_on_the_loopback_replay_only() -> None:
    replay = live_demo_config(key="organizations/o/apiKeys/k", secret="pem")
    assert errors(replay) == set()  # the bundled config points at 127.0.0.1:8765
    real = live_demo_config(key="organizations/o/apiKeys/k", secret="pem",
                            **urls(None, None))
    # the demo's /forceenter with those secrets is refused as well ([V] 5)
    assert errors(real) == {"api_server.password", "api_server.jwt_secret_key",
                            "api_server.ws_token", "force_entry_enable"}


def test_credentials_stripped_by_freqtrade_are_not_reported_but_empty_ones_are() -> None:
    # freqtrade sets key/secret to None in the config it hands to plugins
    assert errors(live_demo_config(key=None, secret=None)) == set()
    assert errors(live_demo_config(key="", secret=" ")) == {"exchange.key", "exchange.secret"}


def test_the_demo_live_layer() -> None:
    layer = live_override(8765, api_port=18080)
    assert layer["dry_run"] is False and layer["api_server"] == {"listen_port": 18080}
    config = live_demo_config(key="organizations/o/apiKeys/k", secret="pem")
    assert exchange_is_loopback(config["exchange"])
