"""``trader247 exposure-report`` on a large input stops cleanly ([P] item 4).

The input is a backtest result written by the test (freqtrade's result format, the fields the
report reads): 20 pairs of the bundled 1h candles over their whole 14 months, 1200 trades, so
the report runs for seconds after its signal handler is installed (``SigCgt`` in
``/proc/PID/status`` shows SIGTERM caught: Python itself catches only SIGINT). Then SIGINT (as a
terminal's Ctrl-C: the whole group) or SIGTERM: exit 130 / 143, the one line, no traceback, no
report file and no temporary file left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.support import CHILD_ENV, REPO

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")]


def _large_result(tmp_path: Path, data_dir: Path) -> Path:
    pairs = sorted(p.name.removesuffix("-1h.feather").replace("_", "/")
                   for p in data_dir.glob("*_USD-1h.feather"))[:20]
    frame = pd.read_feather(data_dir / "BTC_USD-1h.feather")
    start, end = frame["date"].iat[0], frame["date"].iat[-1]
    step_ms = int((end - start).total_seconds() * 1000) // 1200
    first_ms = int(start.timestamp() * 1000)
    trades = []
    for i in range(1200):
        opened = first_ms + i * step_ms
        order = {"ft_order_tag": "", "amount": 1.0, "safe_price": 1.0}
        trades.append({"pair": pairs[i % len(pairs)], "fee_open": 0.001, "fee_close": 0.001,
                       "exit_reason": "roi", "orders": [
                           {**order, "ft_order_side": "buy", "order_filled_timestamp": opened},
                           {**order, "ft_order_side": "sell",
                            "order_filled_timestamp": opened + 20 * step_ms}]})
    result = {"timeframe": "1h", "starting_balance": 1000.0, "trades": trades,
              "backtest_start": f"{start:%Y-%m-%d %H:%M:%S}",
              "backtest_end": f"{end:%Y-%m-%d %H:%M:%S}"}
    path = tmp_path / "backtest-result.json"
    path.write_text(json.dumps({"strategy": {"S": result}, "strategy_comparison": []}))
    return path


def _handler_installed(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line.split()[1] for line in status.splitlines()
                      if line.startswith("SigCgt:")), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("signum, send", [(signal.SIGINT, "group"), (signal.SIGTERM, "pid")])
def test_an_interrupted_report_is_one_line_and_writes_nothing(
        tmp_path: Path, data_dir: Path, signum: int, send: str) -> None:
    result = _large_result(tmp_path, data_dir)
    out = tmp_path / "report"
    process = subprocess.Popen(
        [sys.executable, "-m", "trader247.cli", "exposure-report", str(result), "--datadir",
         str(data_dir), "--out-dir", str(out)], cwd=REPO, env=CHILD_ENV, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if _handler_installed(process.pid):
            break
        time.sleep(0.01)
    assert process.poll() is None, "the report ended before it could be interrupted"
    if send == "group":
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signum, err
    assert err == f"exposure-report: stopped by {signal.Signals(signum).name}\n"
    assert not out.exists() or not list(out.iterdir())
