"""The operator's notices of cap decisions: words, texts, boundaries, and the episode throttle."""

from __future__ import annotations

import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.cap_notices import (
    EntryRequest,
    EpisodeThrottle,
    entry_notice,
    headroom,
    lock_notice,
    mark_notice,
    refusal_word,
    state_log_line,
)
from trader247.core.exposure import (
    CapState,
    EntryDecision,
    Exposure,
    Position,
    Snapshot,
    clamp_entry_stake,
    measure,
    over_cap_reason,
)
from trader247.core.messages import format_state_change
from trader247.core.words import Word

POLICY = shipped_cap_policy()  # cap 25 %, target 23 %
FORCED_NEW = EntryRequest("ADA/USD", 60.0, forced=True, held=False)
FORCED_HELD = EntryRequest("BTC/USD", 60.0, forced=True, held=True)


def exposure(at_risk: float, equity: float = 1000.0) -> Exposure:
    return measure(Snapshot(equity - at_risk, (Position("BTC/USD", at_risk / 10.0, 10.0),)),
                   POLICY)


def gate(at_risk: float, proposed: float = 60.0, min_stake: float | None = 1.0,
         state: CapState = CapState.ACTIVE) -> tuple[EntryDecision, Exposure]:
    measured = exposure(at_risk)
    return clamp_entry_stake(proposed, measured, state, min_stake=min_stake,
                             max_stake=1e9), measured


# ------------------------------------------------------------------ why a refusal


@pytest.mark.parametrize(("reason", "fleet", "word"), [
    ("EXPOSURE_OVER_CAP: at_risk=29.2% cap=25.0% target=23.0%", False, Word.EXPOSURE_OVER_CAP),
    ("EXPOSURE_OVER_CAP: at_risk=29.2% cap=25.0% target=23.0%", True, Word.FLEET_OVER_CAP),
    ("FLEET_OVER_CAP: at_risk=29.2% cap=25.0% target=23.0%", True, Word.FLEET_OVER_CAP),
    ("FLEET_UNAVAILABLE: pair=ADA/USD (no entries until ...)", True, Word.FLEET_UNAVAILABLE),
    ("BELOW_MIN_STAKE: stake=0 min_stake=1 limited_by=headroom", False, Word.NO_HEADROOM),
    # the fleet's headroom refused it: the README's word for every fleet refusal
    ("BELOW_MIN_STAKE: stake=0 min_stake=1 limited_by=headroom", True, Word.FLEET_OVER_CAP),
    ("BELOW_MIN_STAKE: stake=0.02 min_stake=1 limited_by=headroom", True, Word.FLEET_OVER_CAP),
    ("BELOW_MIN_STAKE: stake=0.02 min_stake=1 limited_by=headroom", False, Word.BELOW_MIN_STAKE),
    ("BELOW_MIN_STAKE: stake=0.0101 min_stake=1 limited_by=headroom", False,
     Word.BELOW_MIN_STAKE),
    # what a fill leaves over at the target: a hundredth of the minimum is none
    ("BELOW_MIN_STAKE: stake=0.01 min_stake=1 limited_by=headroom", False, Word.NO_HEADROOM),
    ("BELOW_MIN_STAKE: stake=0 min_stake=0 limited_by=headroom", False, Word.NO_HEADROOM),
    ("BELOW_MIN_STAKE: stake=0 min_stake=1 limited_by=cluster=MEME", False, Word.NO_HEADROOM),
    ("BELOW_MIN_STAKE: stake=0.5 min_stake=1 limited_by=proposed", False, Word.BELOW_MIN_STAKE),
    ("BELOW_MIN_STAKE: stake=0 min_stake=1 limited_by=max_stake", False, Word.BELOW_MIN_STAKE),
    ("TRIM_COOLDOWN: pair=ADA/USD cycle=12", False, Word.TRIM_COOLDOWN),
    ("CLUSTER_OVER_CAP: cluster=MEME at_risk=5.1% cap=4.0%", False, Word.CLUSTER_OVER_CAP),
    ("ASSET_OVER_CAP: asset=DOGE at_risk=9.0% cap=8.0%", False, Word.ASSET_OVER_CAP),
])
def test_every_refusal_names_why_in_one_word(reason: str, fleet: bool, word: Word) -> None:
    assert refusal_word(EntryDecision(None, reason), fleet=fleet) is word


# ------------------------------------------------------------------ entries at the boundaries


@pytest.mark.parametrize(("at_risk", "proposed", "outcome"), [
    (200.0, 30.0, None),                      # $30 of $30 headroom: granted in full, no notice
    (200.0, 30.01, Word.ENTRY_CLAMPED),       # one cent over the headroom: clamped to $30
    (229.0, 60.0, Word.ENTRY_CLAMPED),        # headroom $1.00 = the minimum stake: clamped
    (229.01, 60.0, Word.ENTRY_REFUSED),       # one cent under the minimum: refused
    (230.0, 60.0, Word.ENTRY_REFUSED),        # at the target: no headroom
])
def test_a_notice_exactly_when_the_cap_changed_the_entry(
        at_risk: float, proposed: float, outcome: Word | None) -> None:
    decision, measured = gate(at_risk, proposed)
    notice = entry_notice(FORCED_NEW, decision, measured, stake_currency="USD")
    assert (notice.word if notice else None) is outcome


def test_a_clamp_says_requested_granted_at_risk_cap_and_headroom() -> None:
    decision, measured = gate(223.09)
    notice = entry_notice(FORCED_NEW, decision, measured, stake_currency="USD")
    assert notice is not None and notice.level == "info" and notice.kind == "forceenter"
    assert notice.log == (
        "ENTRY_CLAMPED: pair=ADA/USD via=force_entry position=new requested=60 granted=6.91 "
        "limited_by=headroom at_risk=22.3% cap=25.0% target=23.0% headroom=6.91")
    assert notice.text == (
        "📏 ENTRY_CLAMPED ADA/USD (/forceenter): $60.00 requested, $6.91 granted (limited by "
        "headroom). at_risk 22.3% ($223.09 of $1,000.00 equity); cap 25.0%, entries fill up "
        "to target 23.0%: headroom $6.91.")
    assert "REFUSED" not in notice.log + notice.text  # CLAMPED is not REFUSED


def test_freqtrades_own_max_stake_is_not_the_caps_clamp() -> None:
    measured = exposure(100.0)
    decision = clamp_entry_stake(60.0, measured, CapState.ACTIVE, min_stake=1.0, max_stake=50.0)
    assert decision.stake == 50.0
    assert entry_notice(FORCED_NEW, decision, measured, stake_currency="USD") is None


@pytest.mark.parametrize(("at_risk", "state", "word", "why"), [
    (292.0, CapState.REDUCING, "EXPOSURE_OVER_CAP",
     "the cap is REDUCING: no entries until at_risk <= target 23.0%"),
    (230.0, CapState.ACTIVE, "NO_HEADROOM",
     "no headroom: at_risk is at target 23.0%, where entries stop"),
    (229.98, CapState.ACTIVE, "BELOW_MIN_STAKE",
     "the cap allows $0.02 (headroom), below the exchange minimum $1.00"),
])
def test_a_refusal_says_why_in_the_log_and_the_chat(
        at_risk: float, state: CapState, word: str, why: str) -> None:
    decision, measured = gate(at_risk, state=state)
    notice = entry_notice(FORCED_HELD, decision, measured, stake_currency="USD")
    assert notice is not None and notice.level == "warning" and notice.kind == "forceenter"
    assert notice.log.startswith(f"ENTRY_REFUSED {word}: pair=BTC/USD via=force_entry "
                                 "position=held requested=60 at_risk=")
    assert notice.log.endswith(f"; reason {decision.reason}")
    assert notice.text.startswith("⛔ ENTRY_REFUSED BTC/USD (/forceenter, increase of a held "
                                  f"position, $60.00): {why}.")
    assert notice.text.endswith(f"[{decision.reason}]")


def test_a_fleet_refusal_reads_fleet_over_cap_and_a_database_away_has_no_figures() -> None:
    decision, measured = gate(230.0)
    fleet = EntryRequest("ADA/USD", 60.0, forced=False, held=False, fleet=True)
    notice = entry_notice(fleet, decision, measured, stake_currency="USD")
    assert notice is not None
    assert notice.log.startswith("ENTRY_REFUSED FLEET_OVER_CAP: pair=ADA/USD via=strategy "
                                 "position=new requested=60 scope=fleet at_risk=23.0%")
    assert "fleet at_risk 23.0%" in notice.text and notice.kind == "refusal"  # a strategy's
    away = EntryDecision(None, "FLEET_UNAVAILABLE: pair=ADA/USD (no entries until the fleet "
                               "database answers)")
    notice = entry_notice(fleet, away, None, stake_currency="USD")
    assert notice is not None
    assert notice.log == ("ENTRY_REFUSED FLEET_UNAVAILABLE: pair=ADA/USD via=strategy "
                          f"position=new requested=60 scope=fleet; reason {away.reason}")
    assert "the fleet database does not answer" in notice.text


def test_money_is_in_the_stake_currency() -> None:
    measured = measure(Snapshot(0.0777, (Position("ETH/BTC", 0.5, 0.0446),)), POLICY)
    decision = clamp_entry_stake(0.05, measured, CapState.ACTIVE, min_stake=0.0001,
                                 max_stake=1.0)
    request = EntryRequest("ETH/BTC", 0.05, forced=True, held=False)
    notice = entry_notice(request, decision, measured, stake_currency="BTC")
    assert notice is not None and "$" not in notice.text and " BTC requested" in notice.text


def test_headroom_is_to_the_target_and_never_negative() -> None:
    assert headroom(exposure(200.0)) == pytest.approx(30.0)
    assert headroom(exposure(300.0)) == 0.0


# ------------------------------------------------------------------ locks, marks, state


def test_lock_notices_keep_the_phrases_tests_and_operators_wait_for() -> None:
    over = exposure(292.0)
    reason = over_cap_reason(over)
    placed = lock_notice("placed", reason, over)
    assert placed.log == (f"CAP_LOCK_PLACED: {reason}: entries blocked until exposure is back "
                          "under target")
    assert placed.level == "warning" and reason in placed.text and "Pair Locks" in placed.text
    restored = lock_notice("restored", reason, over)
    assert restored.word is Word.CAP_LOCK_RESTORED and restored.level == "warning"
    assert "was deleted" in restored.text and "Deleting it does not allow entries" in restored.text
    # a restore is not a second episode: the phrase counted per episode is the placement's only
    assert "entries blocked until" not in restored.log + restored.text
    lifted = lock_notice("lifted", "", exposure(229.0))
    assert lifted.log == "CAP_LOCK_LIFTED: exposure back under target: entries resume (lock lifted)"
    assert lifted.text == ("🔓 CAP_LOCK_LIFTED: at_risk 22.9%, back at or below target 23.0%: "
                           "the EXPOSURE_OVER_CAP lock is lifted, entries allowed.")


@pytest.mark.parametrize(("source", "what"), [
    ("candle_close", "the last analyzed candle's close"),
    ("open_rate", "the trade's open rate (no candle either)")])
def test_a_fallback_mark_is_a_warning_naming_the_price_used(source: str, what: str) -> None:
    notice = mark_notice("BTC/USD", source, 101.5)  # type: ignore[arg-type]
    assert notice.log.startswith(f"MARK_FALLBACK: pair=BTC/USD source={source} price=101.5 ")
    assert notice.level == "warning" and f"{what}, 101.5" in notice.text


def test_state_change_log_line() -> None:
    assert state_log_line(CapState.ACTIVE, CapState.REDUCING, exposure(312.0)) == (
        "CAP_STATE: ACTIVE -> REDUCING: at_risk=31.2% cap=25.0% target=23.0%")


def test_with_trims_disabled_reducing_promises_no_trims() -> None:
    text = format_state_change(CapState.ACTIVE, CapState.REDUCING, exposure(312.0),
                               stake_currency="USD", trimming=False)
    assert "trimming" not in text
    assert text.endswith("New entries blocked; no trims (nothing is sold): entries resume at or "
                         "below target 23.0% ($230.00).")


# ------------------------------------------------------------------ the episode throttle


def test_one_notice_per_word_and_pair_per_episode() -> None:
    throttle = EpisodeThrottle()
    assert throttle.allow("ENTRY_REFUSED", "ADA/USD", 0.0)
    assert not throttle.allow("ENTRY_REFUSED", "ADA/USD", 1.0)
    assert not throttle.allow("ENTRY_REFUSED", "ADA/USD", 1e9)  # no reminder by default
    assert throttle.repeats("ENTRY_REFUSED", "ADA/USD") == 2
    assert throttle.allow("ENTRY_REFUSED", "SOL/USD", 1.0)   # another pair
    assert throttle.allow("ENTRY_CLAMPED", "ADA/USD", 1.0)   # another word
    throttle.end("ADA/USD")                                   # ADA's situation cleared
    assert throttle.repeats("ENTRY_REFUSED", "ADA/USD") == 0
    assert throttle.allow("ENTRY_REFUSED", "ADA/USD", 2.0)
    assert not throttle.allow("ENTRY_REFUSED", "SOL/USD", 2.0)  # SOL's episode goes on
    throttle.new_episode()                                    # the cap changed state
    assert throttle.allow("ENTRY_REFUSED", "SOL/USD", 3.0)


def test_a_reminder_passes_exactly_remind_after_seconds_later() -> None:
    throttle = EpisodeThrottle(remind_after=3600.0)
    assert throttle.allow("MARK_FALLBACK", "BTC/USD", 100.0)
    assert not throttle.allow("MARK_FALLBACK", "BTC/USD", 3699.999)
    assert throttle.allow("MARK_FALLBACK", "BTC/USD", 3700.0)
    assert not throttle.allow("MARK_FALLBACK", "BTC/USD", 3701.0)


@pytest.mark.parametrize("remind_after", [0.0, -1.0, float("inf"), float("nan")])
def test_a_reminder_interval_must_be_positive_and_finite(remind_after: float) -> None:
    with pytest.raises(ValueError, match="remind_after must be > 0"):
        EpisodeThrottle(remind_after=remind_after)
