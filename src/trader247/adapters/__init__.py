"""Adapters between freqtrade objects and the pure core (freqtrade imports live here only)."""
