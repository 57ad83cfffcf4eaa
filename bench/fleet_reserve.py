"""Fleet entry-gate latency: a PostgreSQL reservation vs the one-bot in-process gate ([H]).

Stock freqtrade has no account-wide gate, so the baseline is our own one-bot gate (the core's
``clamp_entry_stake`` on a snapshot, what a bot without a fleet pays) measured in the same run.
The fleet gate is one locked transaction on a throw-away PostgreSQL cluster on loopback (the
tests' ``tests/pg.py``): 3 threads (3 bots) racing reservations, each followed by a release.
Goal: p95 < 10 ms.

Second figure: the fleet's cost per bot iteration (``CapFleet``: heartbeat with 20 positions,
leader lease, trims taken, then the same evaluation) vs the one-bot evaluation alone.

Run: ``.venv/bin/python bench/fleet_reserve.py [--per-bot N]`` (``make postgres`` first).
``--smoke``: 5 reservations per bot (``bench/_smoke.py``); with ``TRADER247_TEST_PG_CLUSTER``
set (the test suite's cluster, ``tests/pg.py``) it borrows that cluster instead of starting one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pg import SHARED_ENV, PostgresCluster  # noqa: E402
from tests.shipped import shipped_cap_policy  # noqa: E402

import _smoke  # noqa: E402
from trader247.adapters.cap_controller import CapController  # noqa: E402
from trader247.adapters.cap_fleet import CapFleet  # noqa: E402
from trader247.adapters.fleet_store import FleetStore  # noqa: E402
from trader247.core.exposure import (  # noqa: E402
    CapState,
    Position,
    Snapshot,
    clamp_entry_stake,
    measure,
)
from trader247.core.fleet import FleetPolicy  # noqa: E402

BOTS = ("a", "b", "c")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_bot_gate(n: int) -> list[float]:
    policy = shipped_cap_policy()
    positions = tuple(Position(f"P{i}/USD", 1.0, 10.0) for i in range(20))
    times = []
    for _ in range(n):
        start = time.perf_counter()
        clamp_entry_stake(5.0, measure(Snapshot(5000.0, positions), policy), CapState.ACTIVE,
                          min_stake=1.0, max_stake=1e9)
        times.append(time.perf_counter() - start)
    return times


def fleet_gate(store: FleetStore, per_bot: int) -> list[float]:
    policy = shipped_cap_policy()
    times: list[float] = []
    lock = threading.Lock()

    def racer(bot: str) -> None:
        for i in range(per_bot):
            start = time.perf_counter()
            grant = store.reserve(bot, f"P{i}/USD", stake_balance=10_000.0, cap_policy=policy,
                                  state=CapState.ACTIVE, requested=1.0, min_stake=0.5,
                                  max_stake=1e9)
            elapsed = time.perf_counter() - start
            if grant.reservation_id:
                store.release(grant.reservation_id)
            with lock:
                times.append(elapsed)

    threads = [threading.Thread(target=racer, args=(b,)) for b in BOTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times


def iteration_cost(store: FleetStore, n: int) -> tuple[list[float], list[float]]:
    """Per-iteration time of the cap's evaluation alone and with the fleet part around it."""
    policy = shipped_cap_policy()
    own = Snapshot(5000.0, tuple(Position(f"P{i}/USD", 1.0, 10.0) for i in range(20)))
    alone = CapController(policy=policy, stake_currency="USD", cycle_seconds=5.0)
    member = CapController(policy=policy, stake_currency="USD", cycle_seconds=5.0)
    fleet = CapFleet(store, "a", 25.0, "bench:1", time.time, shared_wallet=True)
    single, fleet_times = [], []
    for _ in range(n):
        start = time.perf_counter()
        alone.evaluate(own, 0.0, time.time())
        single.append(time.perf_counter() - start)
        start = time.perf_counter()
        fleet.begin_iteration()
        member.evaluate(fleet.account(own, member), 0.0, time.time())
        fleet.round(member, time.time())
        fleet_times.append(time.perf_counter() - start)
    return single, fleet_times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-bot", type=int, default=300)
    _smoke.add_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.per_bot = 5
    shared = os.environ.get(SHARED_ENV)
    cluster = PostgresCluster.from_env(shared) if shared else PostgresCluster.start()
    database = f"bench_fleet_{os.getpid()}"
    try:
        url = cluster.create_database(database)
        store = FleetStore.connect(url, FleetPolicy("bench", lease_seconds=30.0))
        for bot in BOTS:
            store.join(bot, 25.0)
            store.report(bot, 25.0, [Position(f"{bot.upper()}/USD", 10.0, 10.0)])
        fleet = fleet_gate(store, args.per_bot)
        loop_alone, loop_fleet = iteration_cost(store, args.per_bot)
        store.dispose()
    finally:
        if shared:  # its owner stops it
            cluster.drop_database(database)
        else:
            cluster.stop()
    single = one_bot_gate(len(fleet))
    for name, values in (("one-bot gate (in process)", single), ("fleet reservation", fleet)):
        print(f"{name:28s} n={len(values):5d} p50={statistics.median(values) * 1e3:8.3f} ms "
              f"p95={percentile(values, 0.95) * 1e3:8.3f} ms")
    p95 = percentile(fleet, 0.95) * 1e3
    print(f"fleet p95 {p95:.2f} ms (goal < 10 ms): {'OK' if p95 < 10 else 'MISSED'}; "
          f"ratio p50 fleet/one-bot {statistics.median(fleet) / statistics.median(single):.0f}x")
    for name, values in (("iteration: cap alone", loop_alone),
                         ("iteration: cap + fleet", loop_fleet)):
        print(f"{name:28s} n={len(values):5d} p50={statistics.median(values) * 1e3:8.3f} ms "
              f"p95={percentile(values, 0.95) * 1e3:8.3f} ms")
    extra = statistics.median(loop_fleet) - statistics.median(loop_alone)
    print(f"fleet overhead per iteration p50 +{extra * 1e3:.2f} ms (3 transactions)")
    return _smoke.exit_code(args.smoke, p95 < 10)


if __name__ == "__main__":
    raise SystemExit(main())
