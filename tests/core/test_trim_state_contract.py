"""Trim state contract: the persisted format, restart rebasing, episode resets, fill latency.

The state file outlives the process: a key renamed or a default changed loads yesterday's
counters as zeros, and a cycle stamp shifted the wrong way after a restart re-trims a pair in
cooldown or skips a round. These tests pin the exact values an operator and a restart rely on.
"""

from __future__ import annotations

import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.exposure import CapState
from trader247.core.trim_order import TrimOrder
from trader247.core.trim_state import (
    STATE_VERSION,
    OpenTrim,
    TrimState,
    advance_state,
    on_trim_filled,
    on_trim_placed,
    on_trim_rejected,
    rebase_cycles,
)

# config/policy.yaml: interval 3, cooldown 6
POLICY = shipped_cap_policy()

FULL = TrimState(
    cap_state=CapState.REDUCING,
    last_cycle=40,
    last_round_cycle=36,
    open_trims={"B/USD": OpenTrim(1000.5, 12.25, 36), "A/USD": OpenTrim(990.0, 7.5, 33)},
    cooldowns={"B/USD": 42, "A/USD": 39},
    episode_trimmed=frozenset({"B/USD", "A/USD"}),
    attempted=11,
    filled=5,
    failed=4,
    timed_out=3,
    partial=2,
    thrash_episodes=6,
    last_reducing_exit_cycle=20,
    recent_rounds=(30, 33, 36),
    reducing_clusters=frozenset({"cluster=MEME", "asset=DOGE"}),
    started=True,
    startup_hold=True,
    episode_rejected=frozenset({"C/USD"}),
)

# What the state file holds for FULL: keys sorted, one spelling each; a reader of old files
# (the restart) depends on every key name.
FULL_DICT = {
    "version": STATE_VERSION,
    "cap_state": "REDUCING",
    "last_cycle": 40,
    "last_round_cycle": 36,
    "open_trims": {
        "A/USD": {"placed_at": 990.0, "stake": 7.5, "cycle": 33},
        "B/USD": {"placed_at": 1000.5, "stake": 12.25, "cycle": 36},
    },
    "cooldowns": {"A/USD": 39, "B/USD": 42},
    "episode_trimmed": ["A/USD", "B/USD"],
    "attempted": 11,
    "filled": 5,
    "failed": 4,
    "timed_out": 3,
    "partial": 2,
    "thrash_episodes": 6,
    "last_reducing_exit_cycle": 20,
    "recent_rounds": [30, 33, 36],
    "reducing_groups": ["asset=DOGE", "cluster=MEME"],  # the stored name is the old one
}


# --- persisted format ---------------------------------------------------------------------


def test_to_dict_is_the_documented_file_format() -> None:
    assert FULL.to_dict() == FULL_DICT
    assert list(FULL.to_dict()["open_trims"]) == ["A/USD", "B/USD"]
    assert list(FULL.to_dict()["cooldowns"]) == ["A/USD", "B/USD"]


def test_from_dict_reads_every_key_and_drops_the_per_run_fields() -> None:
    restored = TrimState.from_dict(FULL_DICT)
    assert restored == TrimState(
        cap_state=FULL.cap_state,
        last_cycle=FULL.last_cycle,
        last_round_cycle=FULL.last_round_cycle,
        open_trims=FULL.open_trims,
        cooldowns=FULL.cooldowns,
        episode_trimmed=FULL.episode_trimmed,
        attempted=11, filled=5, failed=4, timed_out=3, partial=2, thrash_episodes=6,
        last_reducing_exit_cycle=20,
        recent_rounds=(30, 33, 36),
        reducing_clusters=FULL.reducing_clusters,
    )
    assert not restored.started and not restored.startup_hold
    assert restored.episode_rejected == frozenset()


def test_from_dict_of_a_minimal_file_is_the_fresh_state() -> None:
    # An old file with only its version: every counter starts at 0, nothing is pending.
    assert TrimState.from_dict({"version": STATE_VERSION}) == TrimState()
    assert TrimState.from_dict({"version": STATE_VERSION}).to_dict() == TrimState().to_dict()


def test_from_dict_converts_json_numbers_and_strings() -> None:
    # JSON written by another tool: floats for ints, ints for floats.
    data = {"version": STATE_VERSION, "last_cycle": 7.0, "last_round_cycle": None,
            "last_reducing_exit_cycle": 3.0,
            "open_trims": {"A/USD": {"placed_at": 5, "stake": 2, "cycle": 4.0}},
            "cooldowns": {"A/USD": 10.0}}
    state = TrimState.from_dict(data)
    assert state.last_cycle == 7 and type(state.last_cycle) is int
    assert state.last_round_cycle is None
    assert state.last_reducing_exit_cycle == 3 and type(state.last_reducing_exit_cycle) is int
    trim = state.open_trims["A/USD"]
    assert (type(trim.placed_at), type(trim.stake), type(trim.cycle)) == (float, float, int)
    assert state.cooldowns == {"A/USD": 10}


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_from_dict_refuses_another_version_naming_it(version: object) -> None:
    data = {} if version is None else {"version": version}
    with pytest.raises(ValueError) as info:
        TrimState.from_dict(data)
    assert str(info.value) == f"trim state version must be {STATE_VERSION}, got {version!r}"


@pytest.mark.parametrize(
    "trims, pending",
    [({}, 0.0), ({"A/USD": OpenTrim(0.0, 7.5, 0)}, 7.5),
     ({"A/USD": OpenTrim(0.0, 7.5, 0), "B/USD": OpenTrim(0.0, 2.25, 0)}, 9.75)],
)
def test_pending_stake_is_the_sum_of_open_trims(trims: dict[str, OpenTrim],
                                                 pending: float) -> None:
    assert TrimState(open_trims=trims).pending_stake == pending


# --- transitions --------------------------------------------------------------------------


@pytest.mark.parametrize("filled_at, latency", [(100.0, 0.0), (100.25, 0.25), (99.5, 0.0)])
def test_fill_latency_is_never_negative_and_exact(filled_at: float, latency: float) -> None:
    state = on_trim_placed(TrimState(), TrimOrder("A/USD", 10.0, 5.0, "t"), now=100.0, cycle=1,
                           policy=POLICY)
    assert on_trim_filled(state, "A/USD", filled_at)[1] == latency
    assert on_trim_filled(state, "A/USD", filled_at, complete=False)[1] == latency


def test_placed_records_the_trim_the_cooldown_and_the_episode() -> None:
    state = on_trim_placed(FULL, TrimOrder("C/USD", 4.0, 2.0, "t"), now=2000.0, cycle=41,
                           policy=POLICY)
    assert state.open_trims["C/USD"] == OpenTrim(2000.0, 4.0, 41)
    assert state.open_trims["A/USD"] == FULL.open_trims["A/USD"]
    assert state.cooldowns == {**FULL.cooldowns, "C/USD": 41 + 6}
    assert state.episode_trimmed == FULL.episode_trimmed | {"C/USD"}
    assert state.attempted == FULL.attempted + 1


def test_rejected_fails_frees_and_excludes_the_pair() -> None:
    state = on_trim_rejected(FULL, "A/USD")
    assert "A/USD" not in state.open_trims and "B/USD" in state.open_trims
    assert state.failed == FULL.failed + 1 and state.timed_out == FULL.timed_out
    assert state.episode_rejected == {"C/USD", "A/USD"}
    assert state.episode_trimmed == {"B/USD"}


# --- restart: cycle rebase ------------------------------------------------------------------


def test_rebase_shifts_every_stamp_so_the_new_cycle_follows_the_last() -> None:
    # The counter restarted at 0 after cycle 40: every stamp moves by 0 - 40 - 1 = -41.
    state = rebase_cycles(FULL, 0)
    assert state.last_cycle == -1
    assert state.last_round_cycle == 36 - 41
    assert state.last_reducing_exit_cycle == 20 - 41
    assert state.cooldowns == {"B/USD": 42 - 41, "A/USD": 39 - 41}
    assert state.open_trims == {"B/USD": OpenTrim(1000.5, 12.25, 36 - 41),
                                "A/USD": OpenTrim(990.0, 7.5, 33 - 41)}
    assert state.recent_rounds == (30 - 41, 33 - 41, 36 - 41)
    # Everything else is untouched.
    assert (state.attempted, state.filled, state.failed, state.thrash_episodes) == (11, 5, 4, 6)
    assert state.episode_trimmed == FULL.episode_trimmed
    # So each cooldown has as many cycles left after the restart as it had before.
    assert [until - state.last_cycle for until in state.cooldowns.values()] == [
        until - FULL.last_cycle for until in FULL.cooldowns.values()]


def test_rebase_keeps_unset_stamps_unset() -> None:
    state = TrimState(last_cycle=10)
    assert rebase_cycles(state, 2) == TrimState(last_cycle=1)


@pytest.mark.parametrize("cycle", [40, 41, 100])
def test_no_rebase_when_the_counter_did_not_go_back(cycle: int) -> None:
    # Re-evaluating the same cycle (40) is not a restart: nothing shifts.
    assert rebase_cycles(FULL, cycle) is FULL


def test_no_rebase_before_the_first_evaluation() -> None:
    state = TrimState(cooldowns={"A/USD": 5})
    assert rebase_cycles(state, -10) is state


# --- cap state episodes -----------------------------------------------------------------------


def test_entering_reducing_starts_a_fresh_episode() -> None:
    # Cluster trims ran while the total was ACTIVE: their pairs are not excluded from the total's
    # new episode, nor are pairs rejected in the clusters' episode.
    active = TrimState(episode_trimmed=frozenset({"A/USD"}),
                       episode_rejected=frozenset({"B/USD"}), last_reducing_exit_cycle=None)
    state = advance_state(active, CapState.REDUCING, 10, POLICY)
    assert state.cap_state is CapState.REDUCING
    assert state.episode_trimmed == frozenset() and state.episode_rejected == frozenset()
    assert state.thrash_episodes == 0 and state.last_reducing_exit_cycle is None


def test_leaving_reducing_ends_the_episode_and_stamps_the_exit() -> None:
    state = advance_state(FULL, CapState.ACTIVE, 50, POLICY)
    assert state.cap_state is CapState.ACTIVE
    assert state.last_reducing_exit_cycle == 50
    assert state.episode_trimmed == frozenset() and state.episode_rejected == frozenset()
    assert state.thrash_episodes == FULL.thrash_episodes


@pytest.mark.parametrize("cycle, thrash", [(25, 1), (26, 1), (27, 0)])
def test_thrash_boundary_is_two_intervals(cycle: int, thrash: int) -> None:
    # Exit at 20, interval 3: a re-entry at 26 (= 20 + 2 x 3) is thrash, at 27 it is not.
    active = TrimState(last_reducing_exit_cycle=20, thrash_episodes=1)
    assert advance_state(active, CapState.REDUCING, cycle, POLICY).thrash_episodes == 1 + thrash


@pytest.mark.parametrize("cap_state", list(CapState))
def test_same_state_changes_nothing(cap_state: CapState) -> None:
    state = TrimState(cap_state=cap_state, episode_trimmed=frozenset({"A/USD"}))
    assert advance_state(state, cap_state, 5, POLICY) is state
