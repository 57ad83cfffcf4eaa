"""The one rule for patches of a live bot's ccxt instance (``idempotent_create``, ``market_fill``):
which instance, and when not at all.

They patch the instance freqtrade's exchange object holds (``exchange._api``), never a class, and
only for a live bot: dry-run never reaches the exchange's order endpoints. Each can be turned off
by its own environment variable set to ``0`` (rollback by configuration), and each marks the
instance so a second install (the pairlist and the mixin both install) does nothing.
"""

from __future__ import annotations

import os
from typing import Any


def unguarded_live_api(exchange: Any, disable_env: str, marker: str) -> Any | None:
    """The bot's live ccxt instance still to patch; None when ``disable_env`` is ``0``, the bot
    runs dry, or the instance already carries ``marker``."""
    if os.environ.get(disable_env) == "0" or getattr(exchange, "_config", {}).get("dry_run", True):
        return None
    api = exchange._api
    return None if getattr(api, marker, False) else api
