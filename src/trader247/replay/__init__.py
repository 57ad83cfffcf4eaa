"""Offline Coinbase Advanced Trade replay exchange (see README.md in this package).

Import-light on purpose: ``python -m trader247.replay --help`` must not load numpy.
"""
