"""``trader247 migrate``: turn the original bot's config directory (247trader-v2's
``policy.yaml``, ``universe.yaml``, ``app.yaml``) into a freqtrade ``config.json`` plus our
``policy.yaml`` / ``universe.yaml``, with a Markdown report of what became of every key.

``migrate(source_dir, target_dir)`` is the whole job (``build``); ``table`` lists the rules.
"""

from trader247.migrate.build import DestinationError, migrate
from trader247.migrate.model import Migration, Row, Status

__all__ = ["DestinationError", "Migration", "Row", "Status", "migrate"]
