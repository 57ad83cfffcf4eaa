"""Bundled market data: the pair catalog (``catalog``) and the seeded candle generator.

``python -m trader247.datagen --out user_data/data/coinbase`` writes the data set. Importing this
package stays cheap (no pandas): ``catalog`` and ``settings`` use the standard library only.
"""
