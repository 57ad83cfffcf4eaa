"""A process running the cap's database loop under freqtrade's SIGTERM handler, for
``test_sigterm.py``: ``python -m tests.reliability.sigterm_child URL MODE BOT``.

What it stands in for, step by step (the real code is called, nothing of ours is faked):
- freqtrade's ``trade`` command: ``term_handler`` raises ``KeyboardInterrupt`` (a copy of
  freqtrade's nested function, which cannot be imported); the mixin's ``ft_bot_start`` then
  latches the signals (``trader247.interrupts.latch_signals``);
- one bot iteration: ``_cap_loop``'s ``raise_if_signalled``, the fleet's heartbeat, lead and
  take-trims (``CapFleet.account`` / ``round``), a reservation (``CapFleet.reserve``) and the cap
  state's write (``CapStatePersistence.persist``), each outage caught as those callers catch it
  (``FleetUnavailable`` / ``StateWriteError``: logged, the bot goes on);
- freqtrade's clean shutdown: the interrupt reaches the top, ``worker.exit()`` in a ``finally``
  runs our ``ft_bot_cleanup`` (leave the fleet, save the state), exit code 130 as
  ``freqtrade.main`` returns after a ``KeyboardInterrupt``.

MODE ``exit``: one SIGTERM ends the process through that shutdown. MODE ``rearm``: it stands in
for many processes, one per SIGTERM: the interrupt is caught at the top, its fate printed as one
line ``fate <raised|latched> <outages while the signal was pending>``, the latch re-armed, and
the loop goes on. A signal after which an iteration completed twice without an interrupt
(the latch raises at the start of the next one) prints ``fate lost <outages>``. SIGTERM is
blocked while the child does its own bookkeeping, so every signal lands in the loop's code.
"""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType
from typing import Any

from sqlalchemy import create_engine

from tests.shipped import shipped_cap_policy
from trader247.adapters.fleet_store import FleetStore, FleetUnavailable
from trader247.adapters.state_store import StateStore, StateWriteError
from trader247.core.exposure import CapState, Position
from trader247.core.fleet import FleetPolicy
from trader247.interrupts import latch_signals, raise_if_signalled

MAX_ITERATIONS = 100_000  # the loop's bound; the test ends a child long before
MAX_SECONDS = 120.0
STATE_KEY = "trader247_cap_state"
TERM = {signal.SIGTERM}


def term_handler(signum: int, frame: FrameType | None) -> None:
    """freqtrade/commands/trade_commands.py: start_trading's handler."""
    raise KeyboardInterrupt()


class Bot:
    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.fleet = FleetStore.connect(url, FleetPolicy("sigterm", 30.0))
        self.state = StateStore(create_engine(url))
        self.policy = shipped_cap_policy()
        self.outages = 0
        self.fleet.join(name, self.policy.max_total_at_risk_pct, f"child:{name}", 1000.0)

    def iteration(self, n: int) -> None:
        raise_if_signalled()
        positions = [Position("BTC/USD", 0.001 * (n % 7), 100.0)]
        for step in (lambda: self.fleet.heartbeat(self.name, 25.0, positions, (), 1000.0),
                     lambda: (self.fleet.lead(self.name), self.fleet.take_trims(self.name)),
                     self.reserve,
                     lambda: self.state.save(STATE_KEY, f'{{"cycle": {n}}}')):
            try:
                step()
            except (FleetUnavailable, StateWriteError) as exc:
                self.outages += 1
                print(f"outage {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def reserve(self) -> None:
        grant = self.fleet.reserve(self.name, "ETH/USD", stake_balance=1000.0,
                                   cap_policy=self.policy, state=CapState.ACTIVE,
                                   requested=1.0, min_stake=None, max_stake=1.0)
        if grant.reservation_id is not None:
            self.fleet.release(grant.reservation_id)

    def cleanup(self) -> None:
        """``ft_bot_cleanup``: leave the fleet, save the state (in the interrupt's ``finally``)."""
        try:
            self.fleet.leave(self.name, f"child:{self.name}")
        finally:
            self.fleet.dispose()
        self.state.save(STATE_KEY, '{"shutdown": true}')


def run_until_interrupted(bot: Bot) -> None:
    deadline = time.monotonic() + MAX_SECONDS
    for n in range(MAX_ITERATIONS):
        if time.monotonic() > deadline:
            break
        bot.iteration(n)
    print("limit reached without a signal", flush=True)


def exit_mode(bot: Bot) -> int:
    print("ready", flush=True)
    try:
        try:
            run_until_interrupted(bot)
        finally:
            bot.cleanup()
    except KeyboardInterrupt:
        return 130
    return 3


def arrivals() -> int:
    """SIGTERMs that reached the latch: one that arrives inside a database call reaches
    freqtrade's handler only later (``trader247.interrupts``, case 3), or never when the next
    iteration's ``raise_if_signalled`` raises it first."""
    latched: Any = signal.getsignal(signal.SIGTERM)
    return int(latched.received)


def rearm() -> None:
    """The next SIGTERM is a new process's: nothing received yet, by us or the latch."""
    latched: Any = signal.getsignal(signal.SIGTERM)
    latched.received = 0
    latched.deferred_since = None


def rearm_mode(bot: Bot) -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, TERM)
    print("ready", flush=True)
    deadline = time.monotonic() + MAX_SECONDS
    outages_before, quiet_iterations = 0, 0
    for n in range(MAX_ITERATIONS):
        if time.monotonic() > deadline:
            break
        fate = None
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, TERM)
            bot.iteration(n)
            signal.pthread_sigmask(signal.SIG_BLOCK, TERM)
        except KeyboardInterrupt as exc:
            signal.pthread_sigmask(signal.SIG_BLOCK, TERM)
            fate = "latched" if exc.args else "raised"
        if not arrivals():
            outages_before = bot.outages
            continue
        if fate is None:
            quiet_iterations += 1
            if quiet_iterations < 2:
                continue  # the latch raises at the start of the next iteration
            fate = "lost"
        print(f"fate {fate} {bot.outages - outages_before}", flush=True)
        rearm()
        outages_before, quiet_iterations = bot.outages, 0
    print("limit reached", flush=True)
    return 0


def main() -> int:
    url, mode, name = sys.argv[1:4]
    signal.signal(signal.SIGTERM, term_handler)
    bot = Bot(url, name)
    assert latch_signals() == ["SIGTERM", "SIGINT"]
    return exit_mode(bot) if mode == "exit" else rearm_mode(bot)


if __name__ == "__main__":
    sys.exit(main())
