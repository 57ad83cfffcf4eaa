"""Three live fleet bots stopped with a plain SIGTERM, again and again ([T] item 3).

Seen live: 1 of ~33 bot stops with three live bots ignored its SIGTERM (the interrupt turned into
``FLEET_UNAVAILABLE`` inside the fleet store's ``pool_pre_ping``); ``trader247 stop`` / ``docker
stop`` then killed it: no cap state saved, still a member of the fleet. Here each round starts
the three bots of one account (live mode on the replay's private API, one fleet in PostgreSQL,
each bot's own freqtrade database), lets them run their loops, sends each one SIGTERM at a
random moment (``kill``, nothing else) and requires for every bot:

- it exits by itself within the shipped ``shutdown.stop_grace_seconds`` (what ``trader247
  stop`` waits before SIGKILL), with exit code 0 (``trader247 run``: freqtrade's 130 after a
  requested stop);
- its cap state was written by the shutdown (``cap state persisted on shutdown``; the row in its
  own database is newer than the signal);
- it left the fleet: its member row has no lease (``reported_at`` 0) and it holds no leadership;
- its signal handlers were latched (``SIGNALS_LATCHED``): a SIGTERM whose interrupt Python
  discards still stops it at its next loop.

The next round starts the same bots again, which also proves each name was freed at once (a
member that did not leave is refused for ``lease_seconds``). Three rounds (9 stops) in the
default suite; the ``soak`` variant runs 15 (45 stops).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.live import launch_live_bot, live_replay_factory, wait_ready  # noqa: F401
from tests.e2e.support import Bot, wait_for_log
from tests.e2e.test_fleet import fleet_policy
from tests.shipped import shipped
from trader247.cli.processes import stop

pytestmark = pytest.mark.e2e

NAMES = ("alpha", "beta", "gamma")
REPO = Path(__file__).resolve().parents[2]
HARD_S = 30.0  # docker-compose's stop_grace_period: longer than this is a hang
MARKET = {"entry": "market", "exit": "market", "emergency_exit": "market",
          "force_entry": "market", "force_exit": "market", "stoploss": "market",
          "stoploss_on_exchange": False}


def bot_extra(tmp_path: Path, name: str, fleet_url: str) -> dict[str, Any]:
    policy = fleet_policy(tmp_path / name, fleet_url)
    universe = tmp_path / name / "universe.yaml"
    universe.write_text((REPO / "config" / "universe.yaml").read_text())
    return {"bot_name": name, "order_types": MARKET,
            "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                           "policy_file": str(policy), "universe_file": str(universe)}]}


def members(fleet_url: str) -> tuple[dict[str, float], set[str]]:
    """Each member's last report (0 once it left) and the bots holding a leader lease."""
    engine = create_engine(fleet_url)
    try:
        with engine.connect() as c:
            reported = {str(b): float(at) for b, at in c.execute(text(
                "SELECT bot, reported_at FROM trader247_fleet_member"))}
            leaders = {str(b) for (b,) in c.execute(text(
                "SELECT bot FROM trader247_fleet_leader"))}
    finally:
        engine.dispose()
    return reported, leaders


def state_written_at(database: Path) -> datetime:
    """When the cap state row was last written (naive UTC, as the state store writes it)."""
    with sqlite3.connect(database) as c:
        (value,) = c.execute("SELECT updated_at FROM trader247_state WHERE key = "
                             "'trader247_cap_state'").fetchone()
    return datetime.fromisoformat(value)


def wait_all_looping(fleet_url: str, timeout: float = 120.0) -> None:
    """Every bot of this round joined and then reported again: its loop runs the fleet's
    heartbeat (a left member's report is 0, a join's is the first one)."""
    deadline = time.monotonic() + timeout
    first: dict[str, float] = {}
    reported: dict[str, float] = {}
    while time.monotonic() < deadline:
        reported = members(fleet_url)[0]
        for name in NAMES:
            if reported.get(name, 0.0) > 0.0:
                first.setdefault(name, reported[name])
        if all(reported.get(name, 0.0) > first.get(name, float("inf")) for name in NAMES):
            return
        time.sleep(0.3)
    raise AssertionError(f"not every bot ran a heartbeat within {timeout:g} s: {reported}")


def stop_round(bots: dict[str, Bot], rng: random.Random, grace: float
               ) -> tuple[dict[str, str], dict[str, datetime]]:
    """SIGTERM each bot at a random moment of its loop: what went wrong per bot, and when each
    was signalled (naive UTC, as the state store writes its rows)."""
    problems: dict[str, str] = {}
    signalled: dict[str, float] = {}
    at: dict[str, datetime] = {}
    for name in rng.sample(sorted(bots), len(bots)):
        time.sleep(rng.uniform(0.0, 1.5))  # process_throttle_secs is 1: anywhere in a loop
        at[name] = datetime.now(UTC).replace(tzinfo=None)
        os.kill(bots[name].process.pid, signal.SIGTERM)
        signalled[name] = time.monotonic()
    took: dict[str, float] = {}
    for name, bot in bots.items():
        try:
            code = bot.process.wait(timeout=max(0.0, signalled[name] + HARD_S - time.monotonic()))
        except subprocess.TimeoutExpired:
            problems[name] = f"still running {HARD_S:g} s after SIGTERM at {at[name]:%H:%M:%S.%f}"
            continue
        took[name] = round(time.monotonic() - signalled[name], 2)
        if took[name] > grace:
            problems[name] = f"exited {took[name]} s after SIGTERM: over the {grace:g} s grace"
        if code != 0:
            problems[name] = f"exit code {code}"
    print(f"exited {took} s after SIGTERM (grace {grace:g} s)")
    return problems, at


def check_shutdown(bot: Bot, database: Path, signalled: datetime, fleet: tuple[
        dict[str, float], set[str]], name: str) -> str | None:
    reported, leaders = fleet
    log = bot.log.read_text()
    if "SIGNALS_LATCHED: signals=SIGTERM,SIGINT" not in log:
        return "freqtrade's signal handlers were not latched (ft_bot_start)"
    if "cap state persisted on shutdown" not in log:
        return "no 'cap state persisted on shutdown'"
    if state_written_at(database) < signalled:
        return "cap state row older than the SIGTERM"
    if reported.get(name) != 0.0 or name in leaders:
        return f"still in the fleet: reported_at={reported.get(name)} leader={name in leaders}"
    return None


@pytest.mark.parametrize("rounds", [
    3, pytest.param(15, marks=[pytest.mark.soak, pytest.mark.timeout(1200)])])
def test_fleet_bots_stopped_with_sigterm_save_their_state_and_leave(
        tmp_path: Path, postgres_url: str, live_replay_factory: Any,  # noqa: F811
        rounds: int) -> None:
    replay = live_replay_factory(accounts={"live": {"USD": "3000"}}, keys_per_account=3)
    grace = shipped().policy.shutdown.stop_grace_seconds
    extras = {name: bot_extra(tmp_path, name, postgres_url) for name in NAMES}
    rng = random.Random(247)
    running: list[Bot] = []
    try:
        for round_ in range(rounds):
            folder = tmp_path / f"round{round_ + 1}"  # its logs; the databases stay
            folder.mkdir()
            bots = {name: launch_live_bot(folder, replay, replay.keys[i], name=name,
                                          db=str(tmp_path / f"{name}.sqlite"),
                                          strategy="CapProbeStrategy", extra=extras[name],
                                          wait=False)
                    for i, name in enumerate(NAMES)}
            running = list(bots.values())
            for bot in bots.values():
                wait_for_log(bot.log, r"Bot heartbeat|Whitelist with \d+ pairs", timeout=180,
                             process=bot.process, after=r"Dry run is disabled")
                wait_ready(bot)
            wait_all_looping(postgres_url)
            problems, signalled = stop_round(bots, rng, grace)
            fleet = members(postgres_url)
            for name, bot in bots.items():
                if name not in problems:
                    problem = check_shutdown(bot, tmp_path / f"{name}.sqlite", signalled[name],
                                             fleet, name)
                    if problem:
                        problems[name] = problem
            assert not problems, (f"round {round_ + 1}/{rounds}: {problems}\n" + "\n".join(
                f"--- {n}:\n{bots[n].log.read_text()[-2500:]}" for n in problems))
    finally:
        for bot in running:
            stop(bot.process, grace=10.0)
