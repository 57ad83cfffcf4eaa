"""Live-mode fault rows for the ORDER endpoints ([G2]): one real ``freqtrade trade`` bot without
``--dry-run`` (the cap's ``CapProbeStrategy``, shipped policy, ``trader247 run`` with its patches)
on the replay's private API, one fault row after the other.

A row = a fault on one private endpoint (create_order, cancel_orders, order, fills, accounts)
plus the order action it disturbs, done the way a user does it through freqtrade's REST API:

- ``entry``: ``/forceenter`` at market; a call refused, or accepted but not done, is asked once
  more after the fault (what a user or the next signal does);
- ``exit``: a clean entry first, then ``/forceexit`` of that trade at market (retried likewise);
- ``cancel``: a clean resting limit entry first (10 % under the bid), then freqtrade's own cancel
  (``DELETE /trades/{id}/open-order``, retried likewise).

Judged from the exchange's books (``/_replay/accounts``, reconciled on every read), never from
the bot's view alone:

- survived: the process is alive and its REST API answers after the row;
- settled: within ``SETTLE_S`` after the fault no trade has an open order and the action's
  outcome holds (entry: the pair is held; exit: the trade is closed; cancel: no resting order);
  ``settle s`` is that time;
- orphans: what the exchange has that the bot does not manage -- open orders the bot does not
  know, and per coin the balance minus the open trades' amounts (dust under $0.05 ignored): a
  duplicate order from an ambiguous create, or coins left behind by a closed trade, show here;
- wallet = exchange: freqtrade's wallet equals the exchange's balances for every currency.
"""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.live import LIMIT_ENTRY_MARKET_EXIT, LiveReplay, wait_for, wallet_vs_exchange
from tests.e2e.support import REPO, Bot, http

SETTLE_S = 40.0
# a quote-sized market buy leaves base dust under the increment (README of the replay)
DUST_USD = 0.05
STAKE = 100.0
ORDER_TYPES = LIMIT_ENTRY_MARKET_EXIT


@dataclass(frozen=True)
class LiveRow:
    kind: str
    endpoint: str
    action: str  # entry | exit | cancel
    pair: str
    params: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 6.0
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.kind


@dataclass
class LiveRowResult:
    row: LiveRow
    start: float
    survived: bool
    settle_s: float | None
    refused: int
    orphan_orders: list[str]
    orphan_coins: dict[str, float]
    wallet_matches: bool
    asked_again: bool = False

    def problems(self) -> list[str]:
        found = []
        if not self.survived:
            found.append("the bot did not survive")
        if self.settle_s is None:
            found.append(f"not settled within {SETTLE_S:g}s after the fault")
        if self.orphan_orders:
            found.append(f"open orders unknown to the bot: {self.orphan_orders}")
        if self.orphan_coins:
            found.append(f"coins outside any open trade: {self.orphan_coins}")
        if not self.wallet_matches:
            found.append("freqtrade's wallet differs from the exchange's balances")
        return found


def cap_bot_extra(policy: Path) -> dict[str, Any]:
    return {"order_types": ORDER_TYPES, "pairs": ("BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD"),
            "max_open_trades": 10,
            "unfilledtimeout": {"entry": 60, "exit": 60, "unit": "minutes"},
            "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                           "policy_file": str(policy),
                           "universe_file": str(REPO / "config" / "universe.yaml")}]}


def _trades(bot: Bot) -> list[dict[str, Any]]:
    return list(bot.get("status"))


def _open_trade(bot: Bot, pair: str) -> dict[str, Any] | None:
    return next((t for t in _trades(bot) if t["pair"] == pair), None)


def _settled(bot: Bot) -> bool:
    return not any(t["has_open_orders"] for t in _trades(bot))


def _call(action: Callable[[], Any]) -> bool:
    """True when the bot accepted the call; freqtrade answers a failed order with 4xx/5xx."""
    try:
        action()
    except urllib.error.HTTPError:
        return False
    return True


def _prepare(bot: Bot, replay: LiveReplay, row: LiveRow) -> dict[str, Any] | None:
    """The clean state a row starts from: nothing on its pair, plus a position (exit) or a
    resting limit entry (cancel)."""
    if row.action == "exit":
        bot.post("forceenter", {"pair": row.pair, "stakeamount": STAKE})
        return wait_for(lambda: (t := _open_trade(bot, row.pair)) and not t["has_open_orders"]
                        and t, 30, f"{row.pair} entry")
    if row.action == "cancel":
        bid, _ = replay.best(row.pair.replace("/", "-"))
        tick = 0.0001 if bid < 10 else 0.01
        bot.post("forceenter", {"pair": row.pair, "ordertype": "limit",
                                "price": round(round(bid * 0.9 / tick) * tick, 4),
                                "stakeamount": STAKE})
        return wait_for(lambda: (t := _open_trade(bot, row.pair)) and t["has_open_orders"]
                        and t, 30, f"{row.pair} resting entry")
    return None


def _act(bot: Bot, row: LiveRow, trade: dict[str, Any] | None) -> Callable[[], Any]:
    if row.action == "entry":
        return lambda: bot.post("forceenter", {"pair": row.pair, "stakeamount": STAKE})
    assert trade is not None
    if row.action == "exit":
        return lambda: bot.post("forceexit", {"tradeid": str(trade["trade_id"]),
                                              "ordertype": "market"})
    return lambda: http("DELETE", f"{bot.api}/api/v1/trades/{trade['trade_id']}/open-order")


def _outcome(bot: Bot, row: LiveRow) -> bool:
    trade = _open_trade(bot, row.pair)
    if not _settled(bot):
        return False
    if row.action == "entry":
        return trade is not None and trade["amount"] > 0
    if row.action == "exit":
        return trade is None
    return trade is None or not trade["has_open_orders"]


def orphans(bot: Bot, replay: LiveReplay, account: str) -> tuple[list[str], dict[str, float]]:
    trades = _trades(bot)
    known = {o["order_id"] for t in trades for o in t["orders"]}
    state = replay.account(account)
    unknown = [o for o in state["open_orders"] if o not in known]
    held: dict[str, float] = {}
    for t in trades:
        base = t["pair"].split("/")[0]
        held[base] = held.get(base, 0.0) + float(t["amount"])
    coins = {}
    for currency, value in state["balances"].items():
        if currency == "USD":
            continue
        extra = float(value) - held.get(currency, 0.0)
        bid, ask = replay.best(f"{currency}-USD")
        if abs(extra) * (bid + ask) / 2 > DUST_USD:
            coins[currency] = extra
    return unknown, coins


def run_row(bot: Bot, replay: LiveReplay, row: LiveRow, account: str = "live") -> LiveRowResult:
    trade = _prepare(bot, replay, row)
    start = time.time()
    fault = {"kind": row.kind, "endpoint": row.endpoint, "duration_s": row.duration_s,
             **row.params}
    if row.endpoint in ("create_order", "cancel_orders"):
        fault["pair"] = row.pair
    replay.fault(**fault)
    act = _act(bot, row, trade)
    refused = 0 if _call(act) else 1
    retried = False
    deadline = time.monotonic() + row.duration_s + SETTLE_S
    fault_end = time.monotonic() + row.duration_s
    settle_s = None
    while time.monotonic() < deadline:
        after = time.monotonic() > fault_end
        if after and not retried and not _outcome(bot, row) and (
                row.action == "cancel" or _settled(bot)):
            # refused, or accepted but not done (a part-filled exit keeps the trade open with
            # the rest): asked once more after the fault, as a user would
            retried = True
            refused += 0 if _call(act) else 1
        if after and _outcome(bot, row):
            settle_s = round(max(0.0, time.monotonic() - fault_end), 1)
            break
        time.sleep(0.5)
    replay.control("faults", method="DELETE")
    try:
        survived = bot.process.poll() is None and bot.get("ping")["status"] == "pong"
    except OSError:
        survived = False
    unknown, coins = orphans(bot, replay, account) if survived else ([], {})
    matches = survived
    if survived:
        wallet, exchange = wallet_vs_exchange(bot, replay, account)
        matches = all(abs(wallet.get(c, 0.0) - v) <= max(1e-9 * abs(v), 1e-12)
                      for c, v in exchange.items())
    return LiveRowResult(row, start, survived, settle_s, refused, unknown, coins, matches,
                         asked_again=retried)


def clean_up(bot: Bot, replay: LiveReplay, result: LiveRowResult) -> None:
    """Leave no position and no orphan behind for the next row: exit what the bot holds and
    write the exchange's extra coins off (booked as a withdrawal: the books still balance)."""
    deadline = time.monotonic() + 60
    while _trades(bot) and time.monotonic() < deadline:
        for trade in _trades(bot):
            # a refusal here (an order in an odd state after the row) is asked again
            with suppress(urllib.error.HTTPError):
                if trade["has_open_orders"]:
                    http("DELETE", f"{bot.api}/api/v1/trades/{trade['trade_id']}/open-order")
                else:
                    bot.post("forceexit", {"tradeid": str(trade["trade_id"]),
                                           "ordertype": "market"})
        time.sleep(1.0)
    assert not _trades(bot), f"row {result.row.name}: positions left after the clean-up"
    balances = replay.account("live")["balances"]
    zeroed = {c: "0" for c, v in balances.items() if c != "USD" and float(v) > 0}
    if zeroed:
        replay.control("accounts", {"live": {"balances": {**balances, **zeroed}}})


COLUMNS = ("fault", "endpoint", "action", "pair", "at", "survived", "refused calls",
           "asked again", "settle s", "orphan orders", "orphan coins", "wallet = exchange")


def render_live_table(results: list[LiveRowResult]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        at = datetime.fromtimestamp(r.start, UTC).strftime("%H:%M:%S")
        coins = ", ".join(f"{c} {v:+.6g}" for c, v in r.orphan_coins.items()) or "0"
        cells = (r.row.name, r.row.endpoint, r.row.action, r.row.pair, at,
                 "yes" if r.survived else "NO", str(r.refused), "yes" if r.asked_again else "no",
                 "none" if r.settle_s is None else f"{r.settle_s:g}",
                 str(len(r.orphan_orders)), coins, "yes" if r.wallet_matches else "NO")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
