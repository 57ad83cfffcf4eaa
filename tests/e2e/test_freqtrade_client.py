"""freqtrade's official REST client (PyPI ``freqtrade-client``) against the at-risk cap ([V] 4c).

What an operator's script sees through ``FtRestClient``: a ``/forceenter`` clamped to the
headroom, a ``/forceenter`` refused while the book is over the cap, the cap's global lock and its
reason in ``/locks``, the trim order tagged ``trim`` in ``/trade/<id>``, and a ``/forceexit`` that
brings the book back under the target, after which the lock is lifted. Equity is the dry-run
wallet, $1000; the cap is 25 %, the target 23 % (config/policy.yaml).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from freqtrade_client import FtRestClient

from tests.e2e.live import wait_for
from tests.e2e.support import PASSWORD, USER, Bot, Replay, http, policy_file
from trader247.cli.processes import free_port

pytestmark = pytest.mark.e2e

LOCK_REASON = re.compile(r"EXPOSURE_OVER_CAP: at_risk=(\d+\.\d)% cap=25\.0% target=23\.0%")


def cap_locks(client: FtRestClient) -> list[dict[str, Any]]:
    return [lock for lock in client.locks()["locks"]
            if lock["reason"].startswith("EXPOSURE_OVER_CAP")]


def enter(client: FtRestClient, pair: str, stake: float) -> dict[str, Any]:
    trade: dict[str, Any] = client.forceenter(pair, "long", stake_amount=stake)
    assert "error" not in trade, trade
    assert trade["pair"] == pair and trade["is_open"], trade
    return trade


def log_messages(client: FtRestClient, word: str) -> list[str]:
    """The bot's log lines (``/api/v1/logs``: what ``freqtrade-client logs`` prints) that start
    with one of the cap's words: how a REST caller learns why the cap clamped or refused. (The
    chat text of the same decision, which freqtrade logs too, starts with an emoji.)"""
    return [entry[4] for entry in client.logs()["logs"] if entry[4].startswith(word)]


def trim_orders(client: FtRestClient) -> list[dict[str, Any]]:
    return [order for trade in client.status() for order in trade["orders"]
            if order["ft_order_tag"] == "trim" and order["status"] == "closed"]


def fill_the_book(client: FtRestClient) -> dict[str, dict[str, Any]]:
    """$100 + $100 fill as asked; the third entry is clamped to what is left under the target
    (23 % of $1000 = $230, minus the $200 held)."""
    trades = {pair: enter(client, pair, 100.0) for pair in ("BTC/USD", "ETH/USD")}
    # (the amount is rounded to the market's precision: a few millionths of a dollar less)
    assert [t["stake_amount"] for t in trades.values()] == pytest.approx([100.0, 100.0],
                                                                         abs=0.01), trades
    trades["SOL/USD"] = enter(client, "SOL/USD", 300.0)
    clamped = trades["SOL/USD"]["stake_amount"]
    # $30 = 23 % of $1000 - $200 held; marks and the amount's rounding move it by cents
    assert clamped == pytest.approx(30.0, abs=0.5), trades["SOL/USD"]
    clamps = log_messages(client, "ENTRY_CLAMPED: pair=SOL/USD via=force_entry position=new")
    assert len(clamps) == 1 and "requested=300 " in clamps[0], clamps
    return trades


def test_freqtrade_client_sees_the_cap_clamp_refuse_lock_and_lift(
        tmp_path: Path, replay: Replay, start_bot: Any) -> None:
    # One trim order per 1000 iterations: REDUCING lasts until the force exit below.
    policy = policy_file(tmp_path, port=free_port(), trim_interval_cycles=1000,
                         max_trims_per_cycle=1)
    bot: Bot = start_bot(replay, policy, slots=5)  # spare slots: only the cap may refuse
    client = FtRestClient(bot.api, USER, PASSWORD, timeout=30)
    assert client.ping() == {"status": "pong"}
    assert client.locks() == {"lock_count": 0, "locks": []}

    trades = fill_the_book(client)
    http("POST", f"{replay.url}/_replay/price_script",
         {"duration_s": 1, "from_multiplier": 1.0, "to_multiplier": 2.0}, auth=False)
    locks = wait_for(lambda: cap_locks(client), 60, "the cap's lock through the client")
    assert len(locks) == 1 and locks[0]["pair"] == "*" and locks[0]["active"], locks
    reason = LOCK_REASON.fullmatch(locks[0]["reason"])
    assert reason is not None and float(reason.group(1)) > 25.0, locks

    refused = client.forceenter("LINK/USD", "long", stake_amount=20.0)
    assert refused == {"error": "Error querying /api/v1/forceenter: "
                                "Failed to enter position for LINK/USD."}, refused
    assert sorted(t["pair"] for t in client.status()) == sorted(trades)
    # The generic answer is freqtrade's; the reason is in the log, written in the same request.
    why = log_messages(client, "ENTRY_REFUSED EXPOSURE_OVER_CAP: pair=LINK/USD")
    assert len(why) == 1, why
    assert len(log_messages(client, "CAP_LOCK_PLACED")) == 1

    # Deleting the lock (FreqUI's button, DELETE /locks/<id>) does not allow entries: the cap
    # puts it back within one iteration and says so once.
    client.delete_lock(locks[0]["id"])
    restored = wait_for(lambda: cap_locks(client), 60, "the deleted lock to be re-created")
    assert len(restored) == 1 and restored[0]["id"] != locks[0]["id"], restored
    assert len(wait_for(lambda: log_messages(client, "CAP_LOCK_RESTORED"), 30,
                        "CAP_LOCK_RESTORED in /logs")) == 1

    trims = wait_for(lambda: trim_orders(client), 60, "a filled trim order in /status")
    assert len(trims) == 1 and trims[0]["ft_order_side"] == "sell", trims
    assert cap_locks(client), "one trim round must leave the book over the target"

    btc = trades["BTC/USD"]["trade_id"]
    assert client.forceexit(btc) == {"result": f"Created exit order for trade {btc}."}
    closed = wait_for(lambda: (t := client.trade(btc)) and not t["is_open"] and t, 60,
                      "the force exit to close the trade")
    assert closed["exit_reason"] == "force_exit", closed
    # Without BTC the book is under the 23 % target: the cap lifts its own lock.
    wait_for(lambda: not cap_locks(client), 60,
             f"the lock to be lifted; log tail:\n{bot.log.read_text()[-2000:]}")
    assert len(wait_for(lambda: log_messages(client, "CAP_LOCK_LIFTED"), 30,
                        "CAP_LOCK_LIFTED in /logs")) == 1
    assert "Traceback" not in bot.log.read_text()
