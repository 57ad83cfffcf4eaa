"""The per-bot cap controller (``cap_controller.CapController``): what one evaluation tells the
lock, the log and the state store, the entry gate it answers, and its trim bookkeeping.

Shipped policy: cap 25 %, band 2 (target 23 %), a trim round every 3 cycles, trims time out after
75 s, cooldown 6 cycles. Equity $1000 in every book below.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.shipped import shipped_cap_policy

from trader247.adapters.cap_controller import CapController, stake_to_return
from trader247.core.clusters import ClusterLimits
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.core.trims import TrimOrder

OVER = Snapshot(700.0, (Position("BTC/USD", 3.0, 100.0),))    # 30 % > 25 %
UNDER = Snapshot(900.0, (Position("BTC/USD", 1.0, 100.0),))   # 10 %: $130 headroom
LOCK_REASON = "EXPOSURE_OVER_CAP: at_risk=30.0% cap=25.0% target=23.0%"
PLAN_LINE = "at_risk 30.0% > cap 25.0%: trimming $70.00 over ~1 round (~15 s)"


class Writes:
    """``on_change``: the state store's write-ahead, recording the cycle of each write."""

    def __init__(self, controller: CapController, ok: bool = True) -> None:
        self.controller, self.ok, self.cycles = controller, ok, []
        controller.on_change = self

    def __call__(self) -> bool:
        self.cycles.append(self.controller.cycle)
        return self.ok


def controller(**changes: object) -> CapController:
    return CapController(shipped_cap_policy(**changes), "USD", cycle_seconds=5.0)


# ------------------------------------------------------------------ evaluate
def test_one_evaluation_per_cycle_tells_what_changed_and_writes_only_then() -> None:
    cap = controller()
    writes = Writes(cap)
    calm = cap.evaluate(UNDER, 1.0, 1000.0)
    assert (calm.state, calm.state_changed, calm.lock_reason, calm.plan_line) == (
        CapState.ACTIVE, False, None, None)
    over = cap.evaluate(OVER, 1.0, 1005.0)
    assert (over.state, over.state_changed, over.lock_reason, over.plan_line) == (
        CapState.REDUCING, True, LOCK_REASON, PLAN_LINE)
    still = cap.evaluate(OVER, 1.0, 1010.0)  # no round this cycle (every 3rd), no change
    assert (still.state, still.state_changed, still.lock_reason, still.plan_line) == (
        CapState.REDUCING, False, LOCK_REASON, None)
    cap.evaluate(OVER, 1.0, 1015.0)
    round_two = cap.evaluate(OVER, 1.0, 1020.0)  # cycle 5: the next round, no state change
    assert cap.last_plan is not None and [o.pair for o in cap.last_plan.orders] == ["BTC/USD"]
    assert round_two.state_changed is False
    assert writes.cycles == [2, 5]  # the state change with its round, then the next round
    assert cap.cycle == 5 and cap.last_exposure is not None
    assert cap.last_exposure.at_risk == pytest.approx(300.0)


def test_a_trim_that_timed_out_is_reported_expired_and_written() -> None:
    cap = controller()
    cap.evaluate(OVER, 1.0, 1000.0)
    order = cap.trim_for("BTC/USD")
    assert order is not None and cap.trim_placed(order, 1000.0)
    writes = Writes(cap)
    assert cap.evaluate(OVER, 1.0, 1075.0).expired_pairs == ()  # 75 s: not yet
    assert writes.cycles == []
    expired = cap.evaluate(OVER, 1.0, 1076.0)
    assert expired.expired_pairs == ("BTC/USD",) and expired.state_changed is False
    assert writes.cycles == [3]


def test_a_restart_while_reducing_logs_the_plan_line_on_its_first_evaluation() -> None:
    """No state change (REDUCING before and after the restart), but the operator of the
    restarted bot is told what it is doing."""
    before = controller()
    before.evaluate(OVER, 1.0, 1000.0)
    restarted = controller()
    restarted.restore(before.to_dict())
    assert restarted.state is CapState.REDUCING and restarted.cycle == 1
    first = restarted.evaluate(OVER, 1.0, 1005.0)
    assert first.state_changed is False and first.plan_line is not None
    assert first.plan_line.startswith("at_risk 30.0% > cap 25.0%")
    assert restarted.evaluate(OVER, 1.0, 1010.0).plan_line is None


def test_leaving_reducing_is_a_change_without_a_lock() -> None:
    cap = controller()
    cap.evaluate(OVER, 1.0, 1000.0)
    calm = cap.evaluate(Snapshot(780.0, (Position("BTC/USD", 2.2, 100.0),)), 1.0, 1005.0)
    assert (calm.state, calm.state_changed, calm.lock_reason, calm.plan_line) == (
        CapState.ACTIVE, True, None, None)


def test_the_plan_line_counts_time_in_this_bots_cycles() -> None:
    slow = CapController(shipped_cap_policy(), "USD", cycle_seconds=60.0)
    line = slow.evaluate(OVER, 1.0, 1000.0).plan_line
    assert line == "at_risk 30.0% > cap 25.0%: trimming $70.00 over ~1 round (~3 min)"
    euro = CapController(shipped_cap_policy(), "EUR", cycle_seconds=5.0)
    assert "trimming 70 EUR over" in (euro.evaluate(OVER, 1.0, 1000.0).plan_line or "")


# ------------------------------------------------------------------ the entry gate
def test_a_pair_in_cooldown_is_refused_with_its_reason_until_the_cooldown_ends() -> None:
    cap = controller()
    cap.trim_state = replace(cap.trim_state, cooldowns={"ADA/USD": 7})
    cap.cycle = 6
    refused = cap.gate_entry("ADA/USD", 50.0, UNDER, min_stake=1.0, max_stake=1e9)
    assert (refused.stake, refused.reason) == (None, "TRIM_COOLDOWN: pair=ADA/USD cycle=6")
    other = cap.gate_entry("SOL/USD", 50.0, UNDER, min_stake=1.0, max_stake=1e9)
    assert other.stake == pytest.approx(50.0)
    cap.cycle = 7
    assert cap.gate_entry("ADA/USD", 50.0, UNDER, min_stake=1.0, max_stake=1e9).stake == 50.0


@pytest.mark.parametrize(("min_stake", "stake"), [
    (130.0, 130.0),     # the headroom is exactly the exchange minimum: granted
    (130.01, None),     # one cent more: refused
])
def test_the_gate_clamps_to_the_headroom_and_refuses_under_the_minimum(
        min_stake: float, stake: float | None) -> None:
    decision = controller().gate_entry("SOL/USD", 500.0, UNDER, min_stake=min_stake,
                                       max_stake=1e9)
    assert decision.stake == (None if stake is None else pytest.approx(stake))


def test_the_gate_refuses_everything_while_reducing() -> None:
    cap = controller()
    cap.evaluate(OVER, 1.0, 1000.0)
    decision = cap.gate_entry("SOL/USD", 5.0, UNDER, min_stake=1.0, max_stake=1e9)
    assert decision.stake is None and decision.reason.startswith("EXPOSURE_OVER_CAP")


def test_the_gate_applies_the_pairs_own_asset_cap() -> None:
    """5 % per asset: $50 of equity $1000, target $46. DOGE held for $40 has $6 left; SOL,
    not held, the whole total headroom up to the asset target."""
    limits = ClusterLimits.from_definitions({}, {}, 5.0)
    cap = controller(cluster_limits=limits)
    book = Snapshot(900.0, (Position("BTC/USD", 0.6, 100.0), Position("DOGE/USD", 160.0, 0.25)))
    doge = cap.gate_entry("DOGE/USD", 30.0, book, min_stake=1.0, max_stake=1e9)
    sol = cap.gate_entry("SOL/USD", 30.0, book, min_stake=1.0, max_stake=1e9)
    assert doge.stake == pytest.approx(6.0) and sol.stake == pytest.approx(30.0)


# ------------------------------------------------------------------ trims
def test_trim_latencies_are_kept_for_the_last_1000_fills() -> None:
    cap = controller()
    cap.evaluate(OVER, 1.0, 1000.0)
    order = cap.trim_for("BTC/USD")
    assert order is not None
    for n in range(1001):
        cap.trim_placed(order, 1000.0)
        cap.trim_filled("BTC/USD", 1000.0 + n)
    assert len(cap.trim_latencies) == 1000
    assert cap.trim_latencies[0] == 1.0 and cap.trim_latencies[-1] == 1000.0


def test_a_fill_of_a_pair_without_an_open_trim_records_no_latency() -> None:
    cap = controller()
    assert cap.trim_filled("BTC/USD", 1000.0) is None
    assert cap.trim_latencies == []


def test_a_trim_whose_write_ahead_failed_is_not_placed() -> None:
    cap = controller()
    cap.evaluate(OVER, 1.0, 1000.0)
    order = cap.trim_for("BTC/USD")
    assert order is not None
    Writes(cap, ok=False)
    assert cap.trim_placed(order, 1000.0) is False
    assert "BTC/USD" not in cap.trim_state.open_trims


def test_a_reset_starts_a_fresh_cap_in_the_same_object() -> None:
    cap = controller()
    cap.evaluate(OVER, 1.0, 1000.0)
    cap.trim_filled("BTC/USD", 1001.0)
    cap.trim_latencies.append(3.0)
    cap.reset()
    assert (cap.cycle, cap.last_plan, cap.last_exposure, cap.trim_latencies) == (0, None, None, [])
    assert cap.state is CapState.ACTIVE and cap.trim_for("BTC/USD") is None
    assert cap.evaluate(UNDER, 1.0, 1.0).state_changed is False


def test_a_state_written_without_a_cycle_restores_at_cycle_zero() -> None:
    """A state file from before the cycle was written (``to_dict`` has had it since)."""
    before = controller()
    before.evaluate(OVER, 1.0, 1000.0)
    restarted = controller()
    restarted.cycle = 9
    restarted.restore({"trim_state": before.trim_state.to_dict()})
    assert restarted.cycle == 0 and restarted.state is CapState.REDUCING


@pytest.mark.parametrize(("order", "stake", "amount", "returned"), [
    (TrimOrder("BTC/USD", 50.0, 0.5, "r"), 80.0, 1.0, -40.0),
    (TrimOrder("BTC/USD", 50.0, 0.5, "r"), 80.0, 0.0, -80.0),   # nothing held: the whole stake
    (TrimOrder("BTC/USD", 50.0, 1.0, "r"), 80.0, 1.0, -80.0),   # exactly what is held
])
def test_the_stake_returned_is_at_freqtrades_cost_basis(
        order: TrimOrder, stake: float, amount: float, returned: float) -> None:
    assert stake_to_return(order, stake, amount) == pytest.approx(returned)
