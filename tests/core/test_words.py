"""The operator's words: one definition each, spelled as the README documents them."""

from __future__ import annotations

import re
from pathlib import Path

from tests.shipped import shipped_cap_policy

from trader247.core.exposure import (
    CapState,
    Position,
    Snapshot,
    clamp_entry_stake,
    measure,
    over_cap_reason,
)
from trader247.core.fleet import reserve
from trader247.core.words import Word

README = Path(__file__).resolve().parents[2] / "README.md"
SPELLINGS = {
    "ENTRY_OK", "ENTRY_CLAMPED", "ENTRY_REFUSED", "EXPOSURE_OVER_CAP", "NO_HEADROOM",
    "BELOW_MIN_STAKE", "TRIM_COOLDOWN", "CLUSTER_OVER_CAP", "ASSET_OVER_CAP", "FLEET_OVER_CAP",
    "FLEET_UNAVAILABLE", "CAP_LOCK_PLACED", "CAP_LOCK_RESTORED", "CAP_LOCK_LIFTED", "CAP_STATE",
    "TRIM_ROUND", "MARK_FALLBACK",
}


def test_the_words_are_spelled_as_operators_filter_for_them() -> None:
    assert {word.value for word in Word} == SPELLINGS
    assert all(word.value == word.name for word in Word)


def test_every_word_an_operator_can_see_is_in_the_readme_section() -> None:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"\n## What the operator sees\n(.*?)\n## ", text, re.S)
    assert section is not None, "README lacks the section 'What the operator sees'"
    missing = {w.value for w in Word if w is not Word.ENTRY_OK} - set(
        re.findall(r"`([A-Z_]+)", section.group(1)))
    assert not missing, f"words not documented in the README section: {sorted(missing)}"
    assert "docs/img/frequi-cap-lock.png" in section.group(1)


def test_the_gates_reasons_start_with_the_words() -> None:
    policy = shipped_cap_policy()
    over = measure(Snapshot(700.0, (Position("BTC/USD", 3.0, 100.0),)), policy)
    assert over_cap_reason(over).startswith(f"{Word.EXPOSURE_OVER_CAP}: ")
    decision, _ = reserve(Snapshot(700.0, (Position("a|BTC/USD", 3.0, 100.0),)), policy,
                          CapState.ACTIVE, requested=10.0, min_stake=1.0, max_stake=1e9)
    assert decision.reason.startswith(f"{Word.FLEET_OVER_CAP}: ")
    under = measure(Snapshot(900.0, (Position("BTC/USD", 1.0, 100.0),)), policy)
    for proposed, word in ((10.0, Word.ENTRY_OK), (500.0, Word.ENTRY_CLAMPED),
                           (0.5, Word.BELOW_MIN_STAKE)):
        reason = clamp_entry_stake(proposed, under, CapState.ACTIVE, min_stake=1.0,
                                   max_stake=1e9).reason
        assert reason.startswith(f"{word}: "), reason
