"""Live-mode rows of the fault matrix ([G2]): faults on the ORDER endpoints of the replay's
private API against one real live bot (``livefaultlab``). ``soak`` (``make soak``), ~4 min; the
table is printed (``pytest -s``) and written to ``reports/reliability/live_fault_matrix.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.live import LiveReplay, live_bots, live_replay_factory  # noqa: F401 - fixtures
from tests.e2e.support import Bot, policy_file
from tests.reliability.faultlab import REPORTS
from tests.reliability.livefaultlab import (
    LiveRow,
    LiveRowResult,
    cap_bot_extra,
    clean_up,
    render_live_table,
    run_row,
)
from trader247.cli.processes import free_port

HANG = {"hang_s": 15}  # longer than ccxt's 10 s time-out: the answer is lost

ROWS = (
    LiveRow("http_5xx", "create_order", "entry", "BTC/USD", {"status": 503}, label="5xx"),
    LiveRow("http_5xx", "create_order", "entry", "ETH/USD",
            {"status": 503, "after_accept": True, "max_hits": 3}, label="5xx after accept"),
    LiveRow("timeout", "create_order", "entry", "SOL/USD", {**HANG, "max_hits": 1},
            label="timeout after accept"),
    LiveRow("rate_limit_429", "create_order", "entry", "ADA/USD", {"retry_after_s": 1},
            label="429"),
    LiveRow("partial_fill", "create_order", "exit", "BTC/USD", {"fraction": 0.5, "max_hits": 1},
            label="partial fill (full exit)"),
    LiveRow("http_5xx", "cancel_orders", "cancel", "ETH/USD", {"status": 503}, label="5xx"),
    LiveRow("http_5xx", "cancel_orders", "cancel", "SOL/USD",
            {"status": 503, "after_accept": True, "max_hits": 1}, label="5xx after cancel"),
    LiveRow("rate_limit_429", "cancel_orders", "cancel", "ADA/USD", {"retry_after_s": 1},
            label="429"),
    LiveRow("fill_on_cancel", "cancel_orders", "cancel", "ETH/USD", {"fraction": 1.0,
                                                                     "max_hits": 1},
            label="already filled"),
    LiveRow("fill_on_cancel", "cancel_orders", "cancel", "SOL/USD", {"fraction": 0.5,
                                                                     "max_hits": 1},
            label="partly filled, then cancelled"),
    LiveRow("http_5xx", "order", "entry", "BTC/USD", {"status": 503}, label="5xx"),
    LiveRow("http_5xx", "fills", "entry", "ETH/USD", {"status": 503}, label="5xx"),
    LiveRow("http_5xx", "accounts", "entry", "SOL/USD", {"status": 503}, label="5xx"),
)


# Found by this matrix, reported, not fixed here (freqtrade's own behaviour):
KNOWN = (
    # freqtrade closes a trade whose full exit filled in part when it meets that order in its
    # "not enough in wallet" recovery (it compares the order's amount with the trade's); the
    # rest stays on the exchange outside any trade (``trader247 stop --liquidate`` reports such
    # coins). When freqtrade sees the order first, the trade stays open with the rest instead.
    "- create_order partial fill (full exit): coins outside any open trade",
    # an accounts outage while an order fills leaves freqtrade's wallet stale: it refreshes the
    # balance after a fill or hourly only, so the cap measures equity from the stale balance
    "- accounts 5xx: freqtrade's wallet differs from the exchange's balances",
)


@pytest.mark.soak
def test_live_fault_matrix_order_endpoints(
        tmp_path: Path, live_replay_factory: Callable[..., LiveReplay],  # noqa: F811
        live_bots: Callable[..., Bot]) -> None:  # noqa: F811
    started = time.monotonic()
    replay = live_replay_factory(accounts={"live": {"USD": "20000"}})
    policy = policy_file(tmp_path, port=free_port())
    bot = live_bots(replay, replay.key("live-1"), name="matrix", strategy="CapProbeStrategy",
                    extra=cap_bot_extra(policy))
    results: list[LiveRowResult] = []
    try:
        for row in ROWS:
            result = run_row(bot, replay, row)
            results.append(result)
            if not result.survived:
                break
            clean_up(bot, replay, result)
    finally:
        table = write_live_report(results, time.monotonic() - started)
    notes = [f"- {r.row.endpoint} {r.row.name}: {p}" for r in results for p in r.problems()]
    failing = [n for n in notes if not any(n.startswith(k) for k in KNOWN)]
    # (the known findings depend on timing: each run shows them or not)
    assert len(results) == len(ROWS) and not failing, table


def write_live_report(results: list[LiveRowResult], wall_s: float) -> str:
    table = render_live_table(results)
    REPORTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    notes = [f"- {r.row.endpoint} {r.row.name}: {p}" for r in results for p in r.problems()]
    text = f"# live_fault_matrix ({stamp}, {wall_s:.0f} s wall time)\n\n" + table + "\n".join(
        notes) + "\n"
    (REPORTS / "live_fault_matrix.md").write_text(text)
    print("\n" + text)
    return text
