"""Stateful: the start-up hold of ``trim_on_start: false`` ([T] item 2).

``trim_on_start: false``: when the first evaluation after a (re)start finds the cap breached
(REDUCING), the breach is left to the operator: no trim is planned until exposure is back at or
under the target; a breach that starts later is trimmed as usual (``core.trims`` module doc).
The hold lives in ``TrimState.startup_hold``, which is not persisted: every restart decides it
again at its first evaluation.

The real ``CapController`` is evaluated on accounts at and around the boundaries (under the
target, exactly at it, between target and cap, exactly at the cap, one cent over it, far over
it), its trims fill or not, and the bot restarts from its saved state. The model: the hold is
on from a first evaluation that ends REDUCING until an evaluation that ends ACTIVE; while it is
on no order is planned (and the plan says ``STARTUP_HOLD``); once it is off it never says so.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from tests.shipped import shipped_cap_policy
from tests.stateful.budget import bounded
from trader247.adapters.cap_controller import CapController
from trader247.core.exposure import CapState, Position, Snapshot

CAP = shipped_cap_policy(trim_on_start=False, trim_interval_cycles=1)  # 25 %, target 23 %
EQUITY = 1000.0
# at-risk in USD of a $1000 account: under the target, at it, between, at the cap, a cent over.
AT_RISK = st.sampled_from([400.0, 250.01, 240.0, 230.0, 250.0, 100.0, 229.99])
SETTINGS = bounded(max_examples=200, steps=25)


class StartupHoldMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now, self.saved = 1_800_000_000.0, None
        self.positions = {"BTC/USD": 0.0, "ETH/USD": 0.0}
        self._start()

    def _start(self) -> None:
        self.controller = CapController(policy=CAP, stake_currency="USD", cycle_seconds=5.0)
        if self.saved is not None:
            self.controller.restore(self.saved)
        self.first, self.hold = True, False

    @rule(at_risk=AT_RISK, split=st.sampled_from([0.5, 1.0]))
    def account(self, at_risk: float, split: float) -> None:
        """The account moves (prices, exits, deposits): ``at_risk`` of $1000 in two pairs."""
        self.positions = {"BTC/USD": at_risk * split, "ETH/USD": at_risk * (1 - split)}

    @rule()
    def evaluate(self) -> None:
        self.now += 5.0
        held = sum(self.positions.values())
        snapshot = Snapshot(EQUITY - held, tuple(
            Position(pair, usd / 100.0, 100.0) for pair, usd in self.positions.items() if usd))
        self.controller.evaluate(snapshot, 1.0, self.now)
        plan = self.controller.last_plan
        assert plan is not None
        if self.first:
            self.hold = plan.state is CapState.REDUCING
        elif plan.state is CapState.ACTIVE:
            self.hold = False
        self.first = False
        if self.hold:
            assert not plan.orders, f"trims planned under the start-up hold: {plan.summary}"
            assert plan.summary.startswith("STARTUP_HOLD"), plan.summary
        else:
            assert not plan.summary.startswith("STARTUP_HOLD"), plan.summary
        for order in plan.orders:  # placed at once (adjust_trade_position)
            assert self.controller.trim_for(order.pair) == order
            assert self.controller.trim_placed(order, self.now)
        self.saved = self.controller.to_dict()

    @rule(share=st.sampled_from([1.0, 0.5]))
    def trims_fill(self, share: float) -> None:
        """The open trims are sold (or half of each)."""
        for pair, trim in sorted(self.controller.trim_state.open_trims.items()):
            self.positions[pair] = max(0.0, self.positions[pair] - trim.stake * share)
            self.controller.trim_filled(pair, self.now, complete=share == 1.0)

    @rule()
    def restart(self) -> None:
        self._start()


def test_startup_hold_machine() -> None:
    run_state_machine_as_test(StartupHoldMachine, settings=SETTINGS)
