"""Security defaults ([F] item 4): loopback binds, no secrets in the repository."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from trader247.core.config import PolicyConfig

REPO = Path(__file__).resolve().parents[2]

# Shapes of real credentials: PEM private keys (Coinbase CDP keys are EC PEM), Coinbase CDP key
# names, AWS keys, Telegram bot tokens, generic 40+ char secrets assigned to a key-like name.
SECRET_SHAPES = [
    re.compile(r"-----BEGIN (EC |RSA |OPENSSH )?PRIVATE KEY-----"),
    re.compile(r"organizations/[0-9a-f-]{36}/apiKeys/[0-9a-f-]{36}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"\b\d{8,10}:AA[0-9A-Za-z_-]{33}\b"),
    re.compile(r"""(?i)"(key|secret|token|password)"\s*:\s*"[A-Za-z0-9+/=_-]{40,}\""""),
]


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    return [REPO / n for n in names if not n.endswith((".feather", ".png", ".zip"))]


def test_no_key_shaped_string_is_committed() -> None:
    found = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for shape in SECRET_SHAPES:
            if shape.search(text) and path.name != Path(__file__).name:
                found.append(f"{path.relative_to(REPO)}: {shape.pattern}")
    assert not found, found


@pytest.mark.parametrize("shape", SECRET_SHAPES)
def test_the_secret_scan_would_catch_each_shape(shape: re.Pattern[str]) -> None:
    samples = [
        "-----BEGIN EC PRIVATE KEY-----",
        "organizations/0f8a1c2e-1111-2222-3333-444455556666/apiKeys/0f8a1c2e-1111-2222-3333-"
        "444455556666",
        "AKIAABCDEFGHIJKLMNOP",
        "123456789:AA" + "b" * 33,
        '"secret": "' + "Q" * 48 + '"',
    ]
    assert any(shape.search(sample) for sample in samples)


def test_servers_bind_loopback_by_default() -> None:
    config = json.loads((REPO / "config" / "config.json").read_text())
    assert config["api_server"]["listen_ip_address"] == "127.0.0.1"
    assert PolicyConfig().metrics.host == "127.0.0.1"
    replay_cli = (REPO / "src" / "trader247" / "replay" / "__main__.py").read_text()
    assert re.search(r'"--host",[^)]*default="127\.0\.0\.1"', replay_cli, re.S)


def test_demo_config_is_dry_run_without_exchange_keys() -> None:
    config = json.loads((REPO / "config" / "config.json").read_text())
    assert config["dry_run"] is True
    assert config["exchange"]["key"] == "" and config["exchange"]["secret"] == ""


def live_config(**api: str) -> dict[str, object]:
    config = json.loads((REPO / "config" / "config.json").read_text())
    config["dry_run"] = False
    config["exchange"].update(key="organizations/x/apiKeys/y", secret="pem-stand-in")
    for ccxt_config in ("ccxt_config", "ccxt_async_config"):  # the real Coinbase, not the replay
        config["exchange"][ccxt_config].pop("urls", None)
    config["api_server"].update(api)
    return config


def test_live_mode_refuses_each_default_credential() -> None:
    from trader247.preflight import config_checks

    problems = config_checks(live_config(), PolicyConfig(), file="config.json")
    refused = {p.path[-1] for p in problems if p.severity == "error"}
    # the bundled config enables /forceenter (the demo's): refused with demo secrets too
    assert refused == {"password", "jwt_secret_key", "ws_token", "force_entry_enable"}


def test_live_mode_with_own_credentials_passes() -> None:
    from trader247.preflight import config_checks

    own = live_config(password="a-real-password-1", jwt_secret_key="own-jwt-" + "x" * 30,
                      ws_token="own-ws-token-" + "y" * 20)
    assert [p for p in config_checks(own, PolicyConfig(), file="config.json")
            if p.severity == "error"] == []
