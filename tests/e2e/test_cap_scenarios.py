"""At-risk cap scenarios through a real ``trader247 run`` dry-run bot on the replay exchange ([C]).

Positions are opened with freqtrade's own REST API (``/forceenter``), prices are scripted through
the replay exchange's control API, and the bot's log and REST API are the observations.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import PAIRS, Replay, enter, http, policy_file, wait_for_log
from trader247.cli.processes import stop

pytestmark = pytest.mark.e2e

def rounds(log: str) -> list[tuple[int, int]]:
    """(cycle, orders) of every trim round the bot logged."""
    return [(int(m["cycle"]), int(m["orders"])) for m in re.finditer(
        r"TRIM_ROUND: .*?orders=(?P<orders>\d+) .*?cycle=(?P<cycle>\d+)", log)]


def test_rally_from_20_to_over_cap_trims_back_calmly(
    tmp_path: Path, replay: Replay, start_bot: Any
) -> None:
    bot = start_bot(replay, policy_file(tmp_path))
    enter(bot, 50.0)  # 4 x $50 of $1000: 20 % at risk
    http("POST", f"{replay.url}/_replay/price_script",
         {"duration_s": 15, "from_multiplier": 1.0, "to_multiplier": 1.6}, auth=False)

    locks_seen: list[str] = []
    deadline = time.monotonic() + 150
    log = ""
    while time.monotonic() < deadline:
        locks_seen += [lock["reason"] for lock in bot.get("locks")["locks"]]
        log = bot.log.read_text()
        if "entries resume (lock lifted)" in log:
            break
        time.sleep(0.5)
    assert "entries resume (lock lifted)" in log, log[-3000:]

    trim_rounds = rounds(log)
    assert trim_rounds, log[-3000:]
    assert all(orders <= 3 for _, orders in trim_rounds)
    cycles = [cycle for cycle, _ in trim_rounds]
    assert all(later - earlier >= 3 for earlier, later in zip(cycles, cycles[1:], strict=False))
    # Prices keep rising while it trims, so rounds continue; still bounded and never thrashing.
    assert len(trim_rounds) <= 8
    assert any(reason.startswith("EXPOSURE_OVER_CAP: at_risk=") for reason in locks_seen)
    # One episode only: no re-entry ping-pong, no second lock.
    assert log.count("entries blocked until exposure is back under target") == 1
    assert "Traceback" not in log

    code = stop(bot.process, grace=10.0, sig=signal.SIGTERM)
    assert code == 0
    assert not bot.pid_file.exists()


def test_start_at_50_percent_trims_gradually_with_entries_blocked(
    tmp_path: Path, replay: Replay, start_bot: Any
) -> None:
    # The seed's case: the bot ran with the emergency 80 % cap and holds 50 %; restart at 25 %.
    loose = start_bot(replay, policy_file(tmp_path, max_total_at_risk_pct=80.0), name="loose")
    enter(loose, 125.0)  # 4 x $125 of $1000: 50 %
    assert stop(loose.process, grace=10.0) == 0

    # One spare slot, so that it is the cap (not max_open_trades) that refuses a new entry.
    bot = start_bot(replay, policy_file(tmp_path), name="strict", slots=len(PAIRS) + 1)
    plan = wait_for_log(bot.log, r"at_risk 5\d\.\d% > cap 25\.0%: trimming \$\d+\.\d\d over ~\d+ "
                                 r"rounds? \(~\d+ (min|s)\)", timeout=60, process=bot.process)
    locks = bot.get("locks")["locks"]
    assert any(lock["reason"].startswith("EXPOSURE_OVER_CAP") for lock in locks), locks
    with contextlib.suppress(urllib.error.HTTPError):  # freqtrade answers 502 on a refusal
        bot.post("forceenter", {"pair": "LINK/USD", "stakeamount": 20})
    assert sorted(t["pair"] for t in bot.get("status")) == sorted(PAIRS)
    log = wait_for_log(bot.log, r"TRIM_ROUND:", count=2, timeout=120, process=bot.process)
    assert all(orders <= 3 for _, orders in rounds(log))
    assert "Traceback" not in plan + log


def test_unfilled_trim_is_cancelled_after_the_timeout_and_replanned(
    tmp_path: Path, replay: Replay, start_bot: Any
) -> None:
    # Trims are limit sells at the ask ("same" side): in a flat market nobody takes them.
    limit_exits = {
        "order_types": {"entry": "market", "exit": "limit", "emergency_exit": "market",
                        "force_entry": "market", "force_exit": "market",
                        "stoploss": "market", "stoploss_on_exchange": False},
        "exit_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
    }
    bot = start_bot(replay, policy_file(tmp_path, trim_timeout_seconds=10), extra=limit_exits)
    enter(bot, 50.0)
    # A wide book: the replay moves its price inside each 5m candle in real time, and with the
    # automatic one-tick spread any uptick crossed a trim resting at the ask, so whether it timed
    # out hung on the time of day the test ran. A trim resting at an ask 5 % above the bid
    # fills only if the price rises 5 % within the timeout.
    http("POST", f"{replay.url}/_replay/book", {"spread_bps": 500}, auth=False)
    # A step, not a 1 s ramp: a trim priced at the ask while the ramp still rose was crossed by
    # the rest of the ramp and filled (seen once on a loaded machine), so nothing timed out.
    http("POST", f"{replay.url}/_replay/price_script",
         {"duration_s": 0.01, "from_multiplier": 1.0, "to_multiplier": 1.6}, auth=False)
    log = wait_for_log(bot.log, r"trim timed out: pair=\S+ after \d+s, cancelling and re-planning",
                       timeout=120, process=bot.process)
    timed_out = re.search(r"trim timed out: pair=(\S+)", log)
    assert timed_out is not None
    pair = timed_out.group(1)
    # The cancelled pair comes back in a later round.
    later = wait_for_log(bot.log, rf"TRIM_ROUND: .*pairs=\S*{re.escape(pair)}", count=2,
                         timeout=120, process=bot.process)
    assert "Traceback" not in later
