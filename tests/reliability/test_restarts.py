"""kill -9 and restart ([F] item 2): no double trims, no lost trades, at-risk bounded.

The harness and the precise definitions are in :mod:`tests.reliability.restartlab`. Two
versions share them:

- ``test_restarts_short`` (default run, ``e2e``, < 60 s): the bot is killed right after a
  ``TRIM_ROUND:`` line (while that round's orders are placed), restarted REDUCING, refuses a
  force entry, is killed again a random moment after it is up, and the third start trims back
  to the target and stops cleanly.
- ``test_restarts_soak`` (``make soak``): 20 kills (``TRADER247_RESTART_CYCLES``) at random
  moments after the process start, about a third of them right after a ``TRIM_ROUND:`` line,
  with rallies, dips and top-up entries between them. The seed is printed and taken from
  ``TRADER247_RESTART_SEED`` when set.

Both write their table to ``reports/reliability/restarts[_short].md`` and print it.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import time
import urllib.error
from pathlib import Path

import pytest

from tests.reliability.restartlab import (
    CYCLES_ENV,
    FILL_FORGOTTEN,
    RETRIMMED,
    SEED_ENV,
    Audit,
    CyclePlan,
    KillMoment,
    RestartLab,
    RunRecord,
    kill_phase,
    render,
    write_report,
)

# Defects found by this suite; each is pinned by a strict xfail test below.
RESTORE_DEFECT = (
    "defect: the cap restore does not reconcile trader247_cap_state with the orders table. A "
    "kill -9 between a trim's fill (committed by freqtrade) and order_filled's state write "
    "restarts with that pair in open_trims: its stake stays 'pending' (the next rounds sell "
    "less), it expires after trim_timeout_seconds as failed/timed_out, leaves episode_trimmed "
    "and is trimmed again in the same REDUCING episode")
DCA_DEFECT = (
    "defect: /forceenter on a pair with an open trade is freqtrade's position adjustment "
    "(execute_entry mode 'pos_adjust'), for which freqtrade calls neither custom_stake_amount "
    "nor confirm_trade_entry: ExposureCapMixin never sees it and the entry fills while REDUCING")


def seed_from_env(default: int | None) -> int:
    raw = os.environ.get(SEED_ENV)
    if raw:
        return int(raw)
    # The soak explores a new seed each run (printed, so a failure can be replayed).
    return default if default is not None else random.SystemRandom().randrange(1_000_000)


def soak_plan(rng: random.Random, cycles: int) -> list[CyclePlan]:
    trim_cycles = {0, *rng.sample(range(1, cycles), k=max(1, round(cycles / 3)))}
    plans = []
    for i in range(cycles):
        # Draw every value each cycle so one seed always gives the same whole plan.
        trim_delay, random_delay = rng.uniform(0.0, 0.4), rng.uniform(2.0, 30.0)
        peak, ramp, dip = rng.uniform(0.27, 0.34), rng.uniform(2.0, 6.0), rng.uniform(0.75, 0.9)
        action = rng.choices(["rally", "dip", "idle"], weights=[0.45, 0.35, 0.2])[0]
        if i == 0:
            plans.append(CyclePlan(KillMoment("trim", trim_delay), "open", peak, ramp))
        elif i in trim_cycles:
            plans.append(CyclePlan(KillMoment("trim", trim_delay), "rally", peak, ramp))
        else:
            plans.append(CyclePlan(KillMoment("random", random_delay), action, peak, ramp, dip))
    return plans


def check(lab: RestartLab, audit: Audit, final: RunRecord, report: str) -> None:
    failures = audit.failures()
    known = {name: failures.pop(name) for name in (RETRIMMED, FILL_FORGOTTEN) if name in failures}
    assert not failures, f"{failures}\n\n{report}"
    assert lab.settled, f"the last run did not get back to ACTIVE under the target\n\n{report}"
    assert final.exit_code == 0, report
    trim_kills = [run for run in lab.runs if run.moment is not None and run.moment.kind == "trim"]
    assert trim_kills and any(
        kill_phase(run, audit.rounds).startswith("round") for run in trim_kills), report
    probes = [p for p in lab.probes if p.conclusive]
    assert probes, f"no force entry was attempted while REDUCING\n\n{report}"
    assert not any(p.accepted for p in probes), report
    assert audit.trim_orders > 0, report
    if known:
        # Everything else held; this run's kill landed in the window of a defect already
        # pinned (strictly) by test_restore_keeps_a_trim_fill_made_before_the_kill.
        pytest.xfail(f"{RESTORE_DEFECT}: {known}")


@pytest.mark.e2e
def test_restarts_short(tmp_path: Path, data_dir: Path) -> None:
    seed = seed_from_env(20261125)
    rng = random.Random(seed)
    print(f"restarts (short): seed {seed} ({SEED_ENV} to replay)")
    began = time.monotonic()
    with RestartLab(tmp_path, data_dir, seed) as lab:
        lab.run_killed(CyclePlan(KillMoment("trim", rng.uniform(0.0, 0.25)), "open",
                                 peak=0.30, ramp_s=3.0))
        lab.run_killed(CyclePlan(KillMoment("up", rng.uniform(3.0, 6.0)), "idle"))
        final = lab.run_final(timeout=60.0)
    wall = time.monotonic() - began
    audit = lab.audit()
    report = render(lab, audit, "Restarts (short)", wall)
    write_report(report, "restarts_short.md")
    print(report)
    check(lab, audit, final, report)


@pytest.mark.soak
@pytest.mark.timeout(2400)
def test_restarts_soak(tmp_path: Path, data_dir: Path) -> None:
    seed = seed_from_env(None)
    cycles = int(os.environ.get(CYCLES_ENV, "20"))
    rng = random.Random(seed)
    print(f"restarts (soak): seed {seed}, {cycles} kills ({SEED_ENV}, {CYCLES_ENV})", flush=True)
    began = time.monotonic()
    with RestartLab(tmp_path, data_dir, seed) as lab:
        for i, plan in enumerate(soak_plan(rng, cycles)):
            run = lab.run_killed(plan)
            print(f"  kill {i}: {plan.moment.describe()} -> {kill_phase(run, lab.rounds())}",
                  flush=True)
        final = lab.run_final(timeout=180.0)
    wall = time.monotonic() - began
    audit = lab.audit()
    report = render(lab, audit, f"Restarts (soak, {cycles} kills)", wall)
    write_report(report, "restarts.md")
    print(report)
    check(lab, audit, final, report)


@pytest.mark.e2e
@pytest.mark.xfail(strict=True, reason=RESTORE_DEFECT)
def test_restore_keeps_a_trim_fill_made_before_the_kill(tmp_path: Path, data_dir: Path) -> None:
    """Deterministic form of the window the random kills hit: after the round's trims have
    filled, the persisted state is put back to what a kill between one trim's fill and its
    ``order_filled`` write leaves (that pair still in ``open_trims``, ``filled`` one lower);
    the restarted bot must see from the orders table that the trim filled."""
    with RestartLab(tmp_path, data_dir, seed=0) as lab:
        run = lab.start_run()
        lab.wait_up(run)
        lab.act(run, "open")
        lab.act(run, "rally", CyclePlan(KillMoment("trim", 0.0), "rally", peak=0.30, ramp_s=1.0))
        lab.wait_log(run, r"TRIM_ROUND:")
        planned = re.search(r"TRIM_ROUND: .*?orders=(\d+)", run.tail.text)
        assert planned is not None
        lab.wait_log(run, r"trim filled: pair=", count=int(planned[1]))
        time.sleep(1.5)  # the last fill's state write
        lab.kill(run)
        assert run.snapshot is not None and run.snapshot.cap_state is not None
        state = run.snapshot.cap_state
        trim_state = state["trim_state"]
        filled = [o for o in run.snapshot.trims if not o.is_open and o.filled > 0
                  and o.pair not in trim_state["open_trims"]]
        assert filled, state
        last = max(filled, key=lambda o: o.order_date)
        trim_state["open_trims"][last.pair] = {
            "placed_at": last.order_date - 0.05, "stake": last.filled * last.average,
            "cycle": state["cycle"]}
        trim_state["filled"] -= 1
        with sqlite3.connect(lab.db) as db:
            db.execute("UPDATE KeyValueStore SET string_value = ? "
                       "WHERE key = 'trader247_cap_state'", (json.dumps(state),))
        db.close()

        # The default timeout (75 s): the forgotten fill must not merely expire as failed.
        again = lab.start_run(trim_timeout=75)
        lab.wait_up(again)
        assert lab.fresh(again) is not None  # it has evaluated after the restore
        after = lab.stop_run(again)
    assert again.exit_code == 0
    assert after.cap_state is not None
    restored = after.cap_state["trim_state"]
    assert last.pair not in restored["open_trims"], restored
    assert restored["failed"] == trim_state["failed"], restored


@pytest.mark.e2e
@pytest.mark.xfail(strict=True, reason=DCA_DEFECT)
def test_force_entry_into_a_held_pair_is_refused_while_reducing(
    tmp_path: Path, data_dir: Path
) -> None:
    with RestartLab(tmp_path, data_dir, seed=0) as lab:
        run = lab.start_run()
        lab.wait_up(run)
        lab.act(run, "open")
        lab.act(run, "rally", CyclePlan(KillMoment("trim", 0.0), "rally", peak=0.40, ramp_s=1.0))
        deadline = time.time() + 30
        before = lab.fresh(run)
        while (before is None or not before.reducing) and time.time() < deadline:
            before = lab.fresh(run)
        assert before is not None and before.reducing
        answer: object = None
        try:
            answer = run.bot.post("forceenter", {"pair": "BTC/USD", "stakeamount": 20})
        except urllib.error.HTTPError as exc:
            answer = exc.code
        after = lab.fresh(run)
        entries = {t["pair"]: t["nr_of_successful_entries"] for t in run.bot.get("status")}
        lab.stop_run(run)
    assert after is not None and after.reducing  # the attempt was made while REDUCING
    assert entries["BTC/USD"] == 1, (answer, before, after)
