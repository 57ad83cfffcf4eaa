"""The words the operator reads: one definition of each (README "What the operator sees").

Every log line, chat message and lock reason of a cap decision starts with one of these codes,
in the stable ``CODE: key=value`` format, so a grep of the log, a Telegram search or a webhook
filter finds every case of a kind. ``tests/core/test_words.py`` pins the spellings: a renamed
word breaks the operators' alerts and filters, so it must be a visible decision.

Decisions:
- ``ENTRY_CLAMPED`` is not ``ENTRY_REFUSED``: an entry that got less than it asked for was
  placed (with the granted stake); a refused one was not placed at all.
- A refusal names why in one more word: ``EXPOSURE_OVER_CAP`` (the cap is REDUCING),
  ``NO_HEADROOM`` (at the target entries fill up to), ``BELOW_MIN_STAKE`` (what the cap allows
  is under the exchange minimum), ``TRIM_COOLDOWN``, ``CLUSTER_OVER_CAP`` / ``ASSET_OVER_CAP``,
  and in a fleet ``FLEET_OVER_CAP`` (the account has no room: the fleet refused) or
  ``FLEET_UNAVAILABLE`` (its database does not answer).
"""

from __future__ import annotations

from enum import StrEnum


class Word(StrEnum):
    # Entries (the gate's decisions)
    ENTRY_OK = "ENTRY_OK"
    ENTRY_CLAMPED = "ENTRY_CLAMPED"
    ENTRY_REFUSED = "ENTRY_REFUSED"
    # Why a refusal (and the gate's reason codes)
    EXPOSURE_OVER_CAP = "EXPOSURE_OVER_CAP"
    NO_HEADROOM = "NO_HEADROOM"
    BELOW_MIN_STAKE = "BELOW_MIN_STAKE"
    TRIM_COOLDOWN = "TRIM_COOLDOWN"
    CLUSTER_OVER_CAP = "CLUSTER_OVER_CAP"
    ASSET_OVER_CAP = "ASSET_OVER_CAP"
    FLEET_OVER_CAP = "FLEET_OVER_CAP"
    FLEET_UNAVAILABLE = "FLEET_UNAVAILABLE"
    # The global lock (its reason is EXPOSURE_OVER_CAP: ...)
    CAP_LOCK_PLACED = "CAP_LOCK_PLACED"
    CAP_LOCK_RESTORED = "CAP_LOCK_RESTORED"
    CAP_LOCK_LIFTED = "CAP_LOCK_LIFTED"
    # The cap's state and its trims
    CAP_STATE = "CAP_STATE"
    TRIM_ROUND = "TRIM_ROUND"
    # A position valued at a price that is not current
    MARK_FALLBACK = "MARK_FALLBACK"
