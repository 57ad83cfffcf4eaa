"""At-risk exposure: ONE definition shared by the entry gate, the trimmer, the protection and
metrics.

The original bot thrashed because its entry gate and its trimmer measured exposure differently.
Everything here derives from :func:`measure`; nothing else may compute an exposure percentage.

Definitions (every amount is in the stake currency: USD, USDC, EUR, BTC...; nothing assumes USD):

- ``position value = amount x mark_price`` with ``amount`` the *filled* base amount
  (for freqtrade: ``trade.amount`` once an entry has filled, else 0).
- ``at_risk = sum(position value) + sum(open_entry_stake)`` (+ external holdings, if counted).
- ``equity = stake_balance + sum(position value)`` (+ external holdings, if counted).

Open entry orders: ``stake_balance`` is the TOTAL stake-currency balance, free plus what is locked
in open orders (freqtrade ``Wallets.get_total(stake_currency)``; its dry-run wallet defines total
the same way). Stake locked by an open entry order is thus in equity exactly once (inside the
balance) and in at_risk exactly once (as ``open_entry_stake``). When the order fills, that stake
leaves the balance and reappears as position value, so neither equity nor at_risk jumps: an open
entry neither double counts nor vanishes. An adapter that only has the free balance
(``get_free`` excludes locked stake) builds the snapshot with :meth:`Snapshot.from_free_balance`.

Open exit orders (trims) keep their base amount in the position until filled: exposure drops when
the sale happens, not when it is requested. The trimmer accounts for pending trims itself.

Equity <= 0 (a drained or mis-read wallet): ``at_risk_pct`` is 0 when nothing is at risk, else
``+inf``, so any holding with no equity behind it is over every cap; cap and target values are 0.

Comparisons are made on values with a tolerance of a billionth of equity: a difference that small
is float noise from summing positions, not exposure, and the boundary tests ("exactly at the cap")
must not depend on summation order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from trader247.core.cluster_limits import ClusterLimits
from trader247.core.words import Word

TrimMode = Literal["proportional", "largest_first"]

_REL_TOL = 1e-9

USD_LIKE = frozenset(
    {"USD", "USDC", "USDT", "BUSD", "TUSD", "USDP", "DAI", "FDUSD", "PYUSD", "USDS", "GUSD"}
)


def _check_finite(name: str, value: float, *, minimum: float | None = 0.0) -> None:
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" and >= {minimum:g}"
        raise ValueError(f"{name} must be finite{bound}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Position:
    """One open trade. ``open_entry_stake`` is the stake still waiting in open entry orders."""

    pair: str
    amount: float
    mark_price: float
    open_entry_stake: float = 0.0

    def __post_init__(self) -> None:
        _check_finite(f"{self.pair}: amount", self.amount)
        _check_finite(f"{self.pair}: mark_price", self.mark_price)
        _check_finite(f"{self.pair}: open_entry_stake", self.open_entry_stake)

    @property
    def value(self) -> float:
        return self.amount * self.mark_price


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the wallet holds right now. ``stake_balance`` is the TOTAL balance (see module doc)."""

    stake_balance: float
    positions: tuple[Position, ...] = ()
    external_holdings_value: float = 0.0

    def __post_init__(self) -> None:
        _check_finite("stake_balance", self.stake_balance, minimum=None)
        _check_finite("external_holdings_value", self.external_holdings_value)
        # Callers naturally pass lists; a tuple keeps the snapshot immutable and hashable.
        object.__setattr__(self, "positions", tuple(self.positions))

    @classmethod
    def from_free_balance(
        cls,
        free_balance: float,
        positions: Iterable[Position],
        external_holdings_value: float = 0.0,
    ) -> Snapshot:
        """Build from a balance that excludes stake locked in open entry orders."""
        positions = tuple(positions)
        locked = sum(p.open_entry_stake for p in positions)
        return cls(free_balance + locked, positions, external_holdings_value)


@dataclass(frozen=True, slots=True)
class CapPolicy:
    """The at-risk cap and how trims enforce it.

    No defaults and no range checks: the one set of defaults and every field's range live in
    ``trader247.core.config.RiskConfig`` (``policy.yaml``, its ``Bounds``), whose ``to_core()``
    builds this object; the core trusts the values it builds. ``__post_init__`` keeps only the
    rule across fields that no field's bounds can express (band below the cap).

    ``cluster_limits``: the per-cluster and per-asset limits (``risk.max_per_cluster_pct``,
    ``risk.max_per_asset_pct``), enforced by the same gate and trimmer through
    :mod:`trader247.core.clusters`; empty means off.
    """

    max_total_at_risk_pct: float
    trim_band_pct: float
    trim_interval_cycles: int
    trim_timeout_seconds: float
    max_trims_per_cycle: int
    trim_on_start: bool
    trim_mode: TrimMode
    reentry_cooldown_cycles: int
    count_external_holdings: bool
    trims_enabled: bool
    cluster_limits: ClusterLimits

    def __post_init__(self) -> None:
        # A target at or below zero would trim everything (check_policy tells the user first).
        cap, band = self.max_total_at_risk_pct, self.trim_band_pct
        if not band < cap:
            raise ValueError(f"trim_band_pct must be < max_total_at_risk_pct ({cap:g}), "
                             f"got {band!r}")

    @property
    def target_pct(self) -> float:
        """Where a trim aims: far enough under the cap that one tick cannot re-trigger it."""
        return self.max_total_at_risk_pct - self.trim_band_pct


@dataclass(frozen=True, slots=True)
class Exposure:
    """The measured exposure. ``headroom`` is negative when over the cap."""

    at_risk: float
    equity: float
    at_risk_pct: float
    cap_value: float
    target_value: float
    headroom: float
    cap_pct: float
    target_pct: float
    tolerance: float = field(default=0.0, repr=False)

    @property
    def over_cap(self) -> bool:
        return self.at_risk > self.cap_value + self.tolerance

    @property
    def at_or_below_target(self) -> bool:
        return self.at_risk <= self.target_value + self.tolerance

    @property
    def excess_over_target(self) -> float:
        """What must be sold to get back to the target (0 when already there)."""
        return 0.0 if self.at_or_below_target else self.at_risk - self.target_value


def measure(snapshot: Snapshot, policy: CapPolicy) -> Exposure:
    """The one exposure definition (module doc). O(number of positions)."""
    held = 0.0
    entering = 0.0
    for position in snapshot.positions:
        held += position.value
        entering += position.open_entry_stake
    external = snapshot.external_holdings_value if policy.count_external_holdings else 0.0
    at_risk = held + entering + external
    equity = snapshot.stake_balance + held + external
    at_risk_pct = _pct(at_risk, equity)
    base = max(equity, 0.0)
    # pct * base / 100 rather than base * (pct / 100): 25 * 260 / 100 is exactly 65.0.
    cap_value = policy.max_total_at_risk_pct * base / 100.0
    target_value = policy.target_pct * base / 100.0
    return Exposure(
        at_risk=at_risk,
        equity=equity,
        at_risk_pct=at_risk_pct,
        cap_value=cap_value,
        target_value=target_value,
        headroom=cap_value - at_risk,
        cap_pct=policy.max_total_at_risk_pct,
        target_pct=policy.target_pct,
        tolerance=_REL_TOL * max(abs(equity), abs(at_risk)),
    )


def _pct(at_risk: float, equity: float) -> float:
    if equity > 0:
        return at_risk / equity * 100.0
    # No equity behind a holding: over every cap, so the gate blocks and the trimmer sells.
    return 0.0 if at_risk == 0 else math.inf


class CapState(Enum):
    """NautilusTrader-style trading state: REDUCING lets only exposure-reducing orders through."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"


def next_state(previous: CapState, exposure: Exposure, policy: CapPolicy) -> CapState:
    """Hysteresis: enter REDUCING strictly above the cap, leave only at or below cap - band.

    ``policy`` is accepted so every caller passes the same object the exposure was measured with;
    the thresholds themselves travel in ``exposure``.
    """
    del policy  # thresholds are already in the Exposure measured with this policy
    if previous is CapState.REDUCING:
        return CapState.ACTIVE if exposure.at_or_below_target else CapState.REDUCING
    return CapState.REDUCING if exposure.over_cap else CapState.ACTIVE


@dataclass(frozen=True, slots=True)
class EntryDecision:
    """``stake`` None means: do not enter. ``reason`` is a stable ``CODE: key=value`` string."""

    stake: float | None
    reason: str

    @property
    def allowed(self) -> bool:
        return self.stake is not None


def over_cap_reason(exposure: Exposure) -> str:
    return (
        f"{Word.EXPOSURE_OVER_CAP}: at_risk={exposure.at_risk_pct:.1f}% "
        f"cap={exposure.cap_pct:.1f}% target={exposure.target_pct:.1f}%"
    )


def clamp_entry_stake(
    proposed_stake: float,
    exposure: Exposure,
    state: CapState,
    *,
    min_stake: float | None,
    max_stake: float,
    cluster_room: tuple[str, float] | None = None,
) -> EntryDecision:
    """The entry gate: an entry may take at_risk up to the target (cap - band), never further.

    Filling up to the cap itself would put the book one uptick away from a trim, and a trim one
    downtick away from new entries: the seed's thrash. The band is the room price drift gets
    before trims start, so entries stop at the target and trims start above the cap.

    ``min_stake`` may be None (freqtrade passes None when the market has no limit).
    ``cluster_room``: ``(label, headroom)`` of the tightest cluster or asset limit of the pair
    (:func:`trader247.core.clusters.gate_entry`), e.g. ``("cluster=MEME", 6.8)``.
    An ACTIVE state with an exposure already over the cap (state not yet advanced this cycle)
    is refused like REDUCING: the gate must not depend on the caller's bookkeeping order.
    """
    if state is CapState.REDUCING or exposure.over_cap:
        return EntryDecision(None, over_cap_reason(exposure))
    floor = 0.0 if min_stake is None else min_stake
    # Ties go to the earlier bound so the reason names the most natural limit.
    limits = (
        ("proposed", proposed_stake),
        ("headroom", exposure.target_value - exposure.at_risk),
        *((cluster_room,) if cluster_room is not None else ()),
        ("max_stake", max_stake),
    )
    limited_by, stake = min(limits, key=lambda item: item[1])
    if limited_by == "headroom" and stake <= exposure.tolerance:
        stake = 0.0  # float noise of the sums (module doc), not room: reported as none
    if stake <= 0 or stake < floor:
        return EntryDecision(
            None,
            f"{Word.BELOW_MIN_STAKE}: stake={_num(max(stake, 0.0))} min_stake={_num(floor)} "
            f"limited_by={limited_by}",
        )
    if limited_by == "proposed":
        return EntryDecision(stake, f"{Word.ENTRY_OK}: stake={_num(stake)}")
    return EntryDecision(
        stake,
        f"{Word.ENTRY_CLAMPED}: stake={_num(stake)} proposed={_num(proposed_stake)} "
        f"limited_by={limited_by}",
    )


def _num(value: float) -> str:
    # Ten significant digits: readable for USD and still exact to the satoshi for BTC stakes.
    return f"{value:.10g}"


def format_stake(amount: float, stake_currency: str) -> str:
    """``$65.00`` for USD-like stakes, else ``0.0012 BTC`` / ``65 EUR`` (no "$" assumed)."""
    code = stake_currency.upper()
    if code in USD_LIKE:
        return f"${amount:,.2f}"
    text = f"{amount:.8f}".rstrip("0").rstrip(".")
    return f"{text} {code}"
