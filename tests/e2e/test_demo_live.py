"""``trader247 demo --live`` (``make demo-live``): freqtrade live on the replay with a local key."""

from __future__ import annotations

import base64
import json
import signal
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.live import wait_for
from tests.e2e.support import CHILD_ENV, REPO
from trader247.cli.processes import free_port, stop

pytestmark = pytest.mark.e2e
DEMO_AUTH = "Basic " + base64.b64encode(b"freqtrader:demo-only-password").decode()


def get(url: str, auth: bool = False) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": DEMO_AUTH} if auth else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def api_ready(url: str) -> Any:
    try:
        return get(f"{url}/api/v1/show_config", auth=True)["state"] == "running"
    except OSError:
        return False


def test_demo_live_trades_with_a_local_key_and_stops_cleanly(data_dir: Path,
                                                            tmp_path: Path) -> None:
    replay_port, api_port = free_port(), free_port()
    log = tmp_path / "demo.log"
    demo = subprocess.Popen(
        [sys.executable, "-m", "trader247.cli", "demo", "--live", "--replay-port",
         str(replay_port), "--api-port", str(api_port), "--state-dir", str(tmp_path / "state"),
         "--data-dir", str(data_dir)],
        cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT, env=CHILD_ENV,
        start_new_session=True)
    api = f"http://127.0.0.1:{api_port}"
    try:
        wait_for(lambda: demo.poll() is not None or api_ready(api), 150, "the live demo")
        assert demo.poll() is None, log.read_text()[-3000:]
        assert get(f"{api}/api/v1/show_config", auth=True)["dry_run"] is False
        # the wallet is the exchange account's (10,000 USD), not dry_run_wallet (1,000)
        balance = wait_for(lambda: get(f"{api}/api/v1/balance", auth=True)["currencies"], 60,
                           "the live wallet")
        assert {c["currency"]: c["balance"] for c in balance}["USD"] == 10_000
        state = get(f"http://127.0.0.1:{replay_port}/_replay/state")
        assert state["requests"]["accounts"] >= 1 and state["requests"]["fee_tier"] >= 1
        assert state["accounts"] == ["demo"] and state["keys"] == 1
        key_layer = tmp_path / "state" / "replay-keys" / "demo-1.json"
        assert stat.S_IMODE(key_layer.stat().st_mode) == 0o600
        assert json.loads(key_layer.read_text())["exchange"]["key"].startswith("organizations/")
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=40) == 0, log.read_text()[-3000:]
    finally:
        stop(demo, grace=20.0)
    text = log.read_text()
    assert "Dry run is disabled" in text and "demo stopped" in text
    assert "configuration is invalid" not in text
