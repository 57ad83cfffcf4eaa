"""What the operator sees of the cap, through freqtrade's own webhook RPC ([V] 4a).

A local HTTP server in the test is the webhook (``"webhook": {..., "allow_custom_messages":
true, "strategy_msg": {"text": "{msg}"}}``): it receives what Telegram receives, the cap's
``dp.send_msg`` messages. A dry-run bot of freqtrade's own SampleStrategy + the mixin (stake
unlimited) and a LIVE bot on the replay each go through one scenario that produces every kind:
a ``/forceenter`` clamped to the headroom and one refused for lack of it, REDUCING entered (lock
placed, a trim round), the lock deleted through the REST API (re-created, said so), a
``/forceenter`` refused while REDUCING, REDUCING left (lock lifted), and a position marked at a
fallback price while its ticker and book answer garbage.

Rounds are one order every 20 iterations (``max_trims_per_cycle: 1``, ``trim_interval_cycles:
20``) so the REDUCING episode lasts long enough to delete its lock in.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.live import (  # noqa: F401 - fixtures
    LIMIT_ENTRY_MARKET_EXIT,
    LiveReplay,
    live_bots,
    live_replay_factory,
)
from tests.e2e.support import REPO, Bot, Replay, http, policy_file
from trader247.cli.processes import free_port

pytestmark = pytest.mark.e2e

LONG_EPISODE = {"max_trims_per_cycle": 1, "trim_interval_cycles": 20}
KINDS = {  # kind of item 1 -> how its chat message starts
    "clamp": "📏 ENTRY_CLAMPED",
    "refusal": "⛔ ENTRY_REFUSED",
    "lock placed": "🔒 CAP_LOCK_PLACED",
    "lock re-created": "🔒 CAP_LOCK_RESTORED",
    "lock lifted": "🔓 CAP_LOCK_LIFTED",
    "REDUCING entered": "🔻 Exposure cap ACTIVE → REDUCING",
    "REDUCING left": "✅ Exposure cap REDUCING → ACTIVE",
    "trim round": "✂️ Trim round",
    "stale mark": "⚠️ MARK_FALLBACK",
}


class WebhookSink:
    """A chat stand-in: freqtrade's webhook RPC posts each message here as JSON."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.messages.append(str(json.loads(body)["text"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def config(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        return {"webhook": {"enabled": True, "url": url, "format": "json", "timeout": 5,
                            "allow_custom_messages": True, "strategy_msg": {"text": "{msg}"}}}

    def wait(self, start: str, timeout: float, bot: Bot, contains: str = "") -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in list(self.messages) if m.startswith(start) and contains in m]
            if found:
                return found[0]
            assert bot.process.poll() is None, bot.log.read_text()[-3000:]
            time.sleep(0.25)
        raise AssertionError(f"no webhook message {start!r} ({contains!r}) in {timeout}s; got "
                             f"{self.messages}\nlog tail:\n{bot.log.read_text()[-3000:]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    try:
        yield sink
    finally:
        sink.close()


def forceenter(bot: Bot, pair: str, stake: float) -> tuple[int, str]:
    """freqtrade's REST answer: (HTTP status, body) - what a freqtrade-client caller gets."""
    try:
        answer = bot.post("forceenter", {"pair": pair, "stakeamount": stake})
        return 200, json.dumps(answer)[:120]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()[:200]


def wait_settled(bot: Bot, trades: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = bot.get("status")
        if len(status) >= trades and not any(t["has_open_orders"] for t in status):
            return
        time.sleep(0.5)
    raise AssertionError(f"{trades} trades not settled: {bot.get('status')}")


def cap_locks(bot: Bot) -> list[dict[str, Any]]:
    return [lock for lock in bot.get("locks")["locks"]
            if lock["reason"].startswith("EXPOSURE_OVER_CAP") and lock["active"]]


def scenario(bot: Bot, webhook: WebhookSink, control: Callable[[str, Any, str], Any],
             pairs: tuple[str, str, str, str]) -> dict[str, tuple[int, str]]:
    """Every kind of message once; returns freqtrade's REST answer per /forceenter case."""
    first, second, third, fourth = pairs
    answers: dict[str, tuple[int, str]] = {}
    answers["allowed in full"] = forceenter(bot, first, 100.0)
    wait_settled(bot, 1)
    forceenter(bot, second, 100.0)
    wait_settled(bot, 2)
    # 20 % held of $1000: $30 of headroom to the 23 % target
    answers["new pair clamped"] = forceenter(bot, third, 1000.0)
    webhook.wait(KINDS["clamp"], 60, bot, contains=third)
    wait_settled(bot, 3)
    answers["refused, no headroom"] = forceenter(bot, fourth, 50.0)
    webhook.wait(KINDS["refusal"], 60, bot, contains=fourth)

    control("price_script", {"duration_s": 1, "from_multiplier": 1.0, "to_multiplier": 1.6},
            "POST")
    for kind in ("REDUCING entered", "lock placed", "trim round"):
        webhook.wait(KINDS[kind], 90, bot)
    for lock in cap_locks(bot):  # FreqUI's delete button on each
        http("DELETE", f"{bot.api}/api/v1/locks/{lock['id']}")
    webhook.wait(KINDS["lock re-created"], 30, bot)
    assert cap_locks(bot)  # the state and what the operator sees agree again
    answers["refused while REDUCING"] = forceenter(bot, fourth, 20.0)
    webhook.wait(KINDS["refusal"], 30, bot, contains="the cap is REDUCING")
    for kind in ("REDUCING left", "lock lifted"):
        webhook.wait(KINDS[kind], 180, bot)
    assert cap_locks(bot) == []

    for endpoint in ("ticker", "book"):  # garbage answers: no current price for this pair
        control("faults", {"kind": "malformed_json", "endpoint": endpoint, "pair": first},
                "POST")
    webhook.wait(KINDS["stale mark"], 60, bot, contains=first)
    control("faults", None, "DELETE")
    return answers


def check_every_kind(webhook: WebhookSink, bot: Bot) -> None:
    missing = [kind for kind, start in KINDS.items()
               if not any(m.startswith(start) for m in webhook.messages)]
    assert not missing, (missing, webhook.messages)
    log = bot.log.read_text()
    for level, line in (
            ("INFO", "ENTRY_CLAMPED: pair="),
            # at the target a fill may leave a few cents: refused below the exchange minimum
            ("WARNING", "ENTRY_REFUSED (NO_HEADROOM|BELOW_MIN_STAKE): pair="),
            ("WARNING", "ENTRY_REFUSED EXPOSURE_OVER_CAP: pair="),
            ("WARNING", "CAP_LOCK_PLACED: "), ("WARNING", "CAP_LOCK_RESTORED: "),
            ("INFO", "CAP_LOCK_LIFTED: "), ("WARNING", "CAP_STATE: ACTIVE -> REDUCING"),
            ("INFO", "CAP_STATE: REDUCING -> ACTIVE"), ("INFO", "TRIM_ROUND: "),
            ("WARNING", "MARK_FALLBACK: pair=")):
        assert re.search(f" - {level} - {line}", log), line  # our own line, not freqtrade's
    assert "Traceback" not in log


def test_a_dry_run_bot_of_the_sample_strategy_tells_the_webhook_every_kind(
        tmp_path: Path, replay: Replay, start_bot: Callable[..., Bot],
        webhook: WebhookSink) -> None:
    policy = policy_file(tmp_path, port=free_port(), **LONG_EPISODE)
    bot = start_bot(replay, policy, strategy="CappedSampleStrategy", slots=8,
                    extra=webhook.config())

    def control(path: str, body: Any, method: str) -> Any:
        return http(method, f"{replay.url}/_replay/{path}", body, auth=False)

    answers = scenario(bot, webhook, control, ("BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD"))
    check_every_kind(webhook, bot)
    print("dry-run REST answers:", json.dumps(answers, indent=1))
    print("dry-run webhook messages:", json.dumps(webhook.messages, indent=1, ensure_ascii=False))


def test_a_live_bot_tells_the_webhook_every_kind(
        tmp_path: Path, live_replay_factory: Callable[..., LiveReplay],  # noqa: F811
        live_bots: Callable[..., Bot], webhook: WebhookSink) -> None:  # noqa: F811
    replay = live_replay_factory(accounts={"live": {"USD": "1000"}})
    folder = tmp_path / "policy"
    folder.mkdir()
    policy = policy_file(folder, port=free_port(), **LONG_EPISODE)
    pairs = ("BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD")
    extra = {"order_types": LIMIT_ENTRY_MARKET_EXIT, "pairs": pairs, "max_open_trades": 4,
             "unfilledtimeout": {"entry": 60, "exit": 60, "unit": "minutes"},
             "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                            "policy_file": str(policy),
                            "universe_file": str(REPO / "config" / "universe.yaml")}],
             **webhook.config()}
    bot = live_bots(replay, replay.key("live-1"), name="live", strategy="CapProbeStrategy",
                    extra=extra)

    def control(path: str, body: Any, method: str) -> Any:
        return replay.control(path, body, method)

    answers = scenario(bot, webhook, control, pairs)
    check_every_kind(webhook, bot)
    print("live REST answers:", json.dumps(answers, indent=1))
    print("live webhook messages:", json.dumps(webhook.messages, indent=1, ensure_ascii=False))
