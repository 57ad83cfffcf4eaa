"""247trader: Freqtrade plugins built from a Coinbase spot bot's production fixes.

Kept import-free on purpose: the start-up hook imports this package on every Python start.
"""

__version__ = "0.1.0"
TESTED_FREQTRADE_VERSION = "2026.9"
