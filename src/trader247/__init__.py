"""247trader: Freqtrade plugins built from a Coinbase spot bot's production fixes.

Kept import-free on purpose: the start-up hook imports this package whenever freqtrade is imported.
"""

__version__ = "0.1.0"

FREQTRADE_RELEASES = ("2026.6", "2026.7", "2026.8", "2026.9")
"""The freqtrade releases (year.month) we test, oldest first: the one place of the range.

``make test-compat`` runs the plugin end-to-end subset on each; the start-up hook refuses any
other release with one message; ``pyproject.toml``'s ``freqtrade`` dependency must equal
``>=first,<month after last`` (``tests/compat/test_release_range.py`` holds them together).
"""
