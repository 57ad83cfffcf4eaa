"""Pure decision core: no freqtrade, ccxt, prometheus or file I/O imports; time is passed in."""
