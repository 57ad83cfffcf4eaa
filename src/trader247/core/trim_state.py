"""Trim memory (pure): what trims remember between cycles and its transitions.

Placed, filled, partial, rejected, cancelled, expired, cycle rebase, cap-state advance. Split
from :mod:`trader247.core.trims`, which plans rounds from it and re-exports these names; the
adapter ``cap_persistence`` stores it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from trader247.core.exposure import CapPolicy, CapState
from trader247.core.trim_order import TrimOrder

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class OpenTrim:
    placed_at: float
    stake: float
    cycle: int


@dataclass(frozen=True)
class TrimState:
    """Everything trims need to remember. Never mutated: the functions below return new states.

    ``started``, ``startup_hold`` and ``episode_rejected`` describe this process run and are
    deliberately not persisted. ``failed`` counts cancelled, rejected and timed-out trims;
    ``timed_out`` is the timed-out subset; ``partial`` counts trims closed with only part filled
    (neither filled nor failed: their remainder is re-planned).
    """

    cap_state: CapState = CapState.ACTIVE
    last_cycle: int | None = None
    last_round_cycle: int | None = None
    open_trims: Mapping[str, OpenTrim] = field(default_factory=dict)
    cooldowns: Mapping[str, int] = field(default_factory=dict)
    episode_trimmed: frozenset[str] = frozenset()
    attempted: int = 0
    filled: int = 0
    failed: int = 0
    timed_out: int = 0
    partial: int = 0
    thrash_episodes: int = 0
    last_reducing_exit_cycle: int | None = None
    recent_rounds: tuple[int, ...] = ()
    # "cluster=MEME", "asset=DOGE". Stored under its first name, "reducing_groups": a state
    # written by this version stays readable by the one before it (a rollback keeps its episodes).
    reducing_clusters: frozenset[str] = frozenset()
    started: bool = False
    startup_hold: bool = False
    episode_rejected: frozenset[str] = frozenset()

    @property
    def pending_stake(self) -> float:
        return sum(trim.stake for trim in self.open_trims.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready. Open trims are kept so a restart never places a second trim for a pair."""
        return {
            "version": STATE_VERSION,
            "cap_state": self.cap_state.value,
            "last_cycle": self.last_cycle,
            "last_round_cycle": self.last_round_cycle,
            "open_trims": {
                pair: {"placed_at": t.placed_at, "stake": t.stake, "cycle": t.cycle}
                for pair, t in sorted(self.open_trims.items())
            },
            "cooldowns": dict(sorted(self.cooldowns.items())),
            "episode_trimmed": sorted(self.episode_trimmed),
            "attempted": self.attempted,
            "filled": self.filled,
            "failed": self.failed,
            "timed_out": self.timed_out,
            "partial": self.partial,
            "thrash_episodes": self.thrash_episodes,
            "last_reducing_exit_cycle": self.last_reducing_exit_cycle,
            "recent_rounds": list(self.recent_rounds),
            "reducing_groups": sorted(self.reducing_clusters),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrimState:
        """Inverse of :meth:`to_dict`. Missing keys take their defaults; a new version fails."""
        version = data.get("version")
        if version != STATE_VERSION:
            raise ValueError(f"trim state version must be {STATE_VERSION}, got {version!r}")
        open_trims = {
            str(pair): OpenTrim(float(t["placed_at"]), float(t["stake"]), int(t["cycle"]))
            for pair, t in data.get("open_trims", {}).items()
        }
        return cls(
            cap_state=CapState(data.get("cap_state", CapState.ACTIVE.value)),
            last_cycle=_opt_int(data.get("last_cycle")),
            last_round_cycle=_opt_int(data.get("last_round_cycle")),
            open_trims=open_trims,
            cooldowns={str(k): int(v) for k, v in data.get("cooldowns", {}).items()},
            episode_trimmed=frozenset(str(p) for p in data.get("episode_trimmed", ())),
            attempted=int(data.get("attempted", 0)),
            filled=int(data.get("filled", 0)),
            failed=int(data.get("failed", 0)),
            timed_out=int(data.get("timed_out", 0)),
            partial=int(data.get("partial", 0)),
            thrash_episodes=int(data.get("thrash_episodes", 0)),
            last_reducing_exit_cycle=_opt_int(data.get("last_reducing_exit_cycle")),
            recent_rounds=tuple(int(c) for c in data.get("recent_rounds", ())),
            reducing_clusters=frozenset(str(g) for g in data.get("reducing_groups", ())),
        )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)



# --- state transitions (pure) -------------------------------------------------------------


def on_trim_placed(
    state: TrimState, order: TrimOrder, *, now: float, cycle: int, policy: CapPolicy
) -> TrimState:
    """Record a trim order the exchange accepted. Starts the pair's re-entry cooldown."""
    return replace(
        state,
        open_trims={**state.open_trims, order.pair: OpenTrim(now, order.stake_to_sell, cycle)},
        cooldowns={**state.cooldowns, order.pair: cycle + policy.reentry_cooldown_cycles},
        episode_trimmed=state.episode_trimmed | {order.pair},
        attempted=state.attempted + 1,
    )


def on_trim_filled(
    state: TrimState, pair: str, now: float, *, complete: bool = True
) -> tuple[TrimState, float | None]:
    """Record a trim order that closed with a fill; returns the placement-to-fill latency (None
    for an unknown trim).

    ``complete`` False: only part of it filled (module doc, "Partial fills"). The order is
    closed either way, so the pair has no open trim any more; a partial one is not counted
    filled and the pair may be planned again for the remainder.
    """
    trim = state.open_trims.get(pair)
    if trim is None:
        return state, None
    open_trims = _without(state.open_trims, pair)
    if complete:
        new = replace(state, open_trims=open_trims, filled=state.filled + 1)
    else:
        new = replace(state, open_trims=open_trims, partial=state.partial + 1,
                      episode_trimmed=state.episode_trimmed - {pair})
    return new, max(0.0, now - trim.placed_at)


# An order is stamped a moment after its write-ahead ``placed_at``; clocks of one host agree to
# well under this.
FILL_MATCH_TOLERANCE_S = 1.0


def reconcile_fills(state: TrimState, fills: Mapping[str, float]) -> TrimState:
    """After a restart: open trims whose order filled before the kill are filled.

    ``fills`` maps a pair to the fill time of its newest filled trim order in the database. A
    kill between freqtrade committing the fill and our state write would otherwise keep the pair
    in ``open_trims``: its stake held back from the next rounds, then expired as failed and
    trimmed a second time in the same episode. A fill older than the open trim belongs to an
    earlier round and is ignored.
    """
    for pair, filled_at in fills.items():
        trim = state.open_trims.get(pair)
        if trim is not None and filled_at >= trim.placed_at - FILL_MATCH_TOLERANCE_S:
            state, _ = on_trim_filled(state, pair, filled_at)
    return state


def on_trim_cancelled(state: TrimState, pair: str) -> TrimState:
    """A trim order was cancelled (or timed out): counted as failed, planned again next round."""
    if pair not in state.open_trims:
        return state
    return replace(
        state,
        open_trims=_without(state.open_trims, pair),
        episode_trimmed=state.episode_trimmed - {pair},
        failed=state.failed + 1,
    )


def on_trim_rejected(state: TrimState, pair: str) -> TrimState:
    """The exchange refused the trim's create (no order exists): failed, and the pair sits out
    the rest of this REDUCING episode (module doc, "Rejected trims")."""
    if pair not in state.open_trims:
        return state
    return replace(on_trim_cancelled(state, pair),
                   episode_rejected=state.episode_rejected | {pair})


def expire_trims(
    state: TrimState, now: float, policy: CapPolicy
) -> tuple[TrimState, tuple[str, ...]]:
    """Trims unfilled for more than ``trim_timeout_seconds`` (exactly the timeout still waits)."""
    expired = tuple(
        sorted(
            pair
            for pair, trim in state.open_trims.items()
            if now - trim.placed_at > policy.trim_timeout_seconds
        )
    )
    if not expired:
        return state, ()
    remaining = {p: t for p, t in state.open_trims.items() if p not in expired}
    return (
        replace(
            state,
            open_trims=remaining,
            episode_trimmed=state.episode_trimmed - set(expired),
            failed=state.failed + len(expired),
            timed_out=state.timed_out + len(expired),
        ),
        expired,
    )


def in_cooldown(state: TrimState, pair: str, cycle: int) -> bool:
    """True while a recently trimmed pair must not be re-entered."""
    until = state.cooldowns.get(pair)
    return until is not None and cycle < until


def _without(mapping: Mapping[str, OpenTrim], pair: str) -> dict[str, OpenTrim]:
    return {p: t for p, t in mapping.items() if p != pair}


def rebase_cycles(state: TrimState, cycle: int) -> TrimState:
    """Shift stored cycle stamps after the cycle counter went backwards (restart)."""
    if state.last_cycle is None or cycle >= state.last_cycle:
        return state
    delta = cycle - state.last_cycle - 1

    def shift(value: int | None) -> int | None:
        return None if value is None else value + delta

    return replace(
        state,
        last_cycle=cycle - 1,
        last_round_cycle=shift(state.last_round_cycle),
        last_reducing_exit_cycle=shift(state.last_reducing_exit_cycle),
        cooldowns={p: until + delta for p, until in state.cooldowns.items()},
        open_trims={p: replace(t, cycle=t.cycle + delta) for p, t in state.open_trims.items()},
        recent_rounds=tuple(c + delta for c in state.recent_rounds),
    )


def advance_state(state: TrimState, new: CapState, cycle: int, policy: CapPolicy) -> TrimState:
    old = state.cap_state
    if old is new:
        return state
    if new is CapState.ACTIVE:
        return replace(
            state,
            cap_state=new,
            last_reducing_exit_cycle=cycle,
            episode_trimmed=frozenset(),
            episode_rejected=frozenset(),
        )
    last_exit = state.last_reducing_exit_cycle
    thrash = last_exit is not None and cycle - last_exit <= 2 * policy.trim_interval_cycles
    return replace(
        state,
        cap_state=new,
        episode_trimmed=frozenset(),
        episode_rejected=frozenset(),
        thrash_episodes=state.thrash_episodes + int(thrash),
    )
