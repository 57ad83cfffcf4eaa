"""Symbol spelling: Coinbase product ids, ccxt pairs and bare bases.

Config files carry Coinbase spellings (``BTC-USD``) while freqtrade and ccxt use ``BTC/USD``;
a rule may also name a bare base (``BTC``) meaning every quote of that base. Everything in the
core compares the normalised form produced by :func:`to_pair`.

A pair written without its separator (``ADAUSD``) has the form of a bare base and matched
nothing, silently (ADA/USD fell out of its tier). :func:`glued_pair` recognises it
when its head is a known base and its tail one of :data:`QUOTE_CURRENCIES`; the callers decide
which bases are known (the config check: the files' own pairs and the default universe; the
pairlist at bot start: the exchange's markets).
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

__all__ = [
    "QUOTE_CURRENCIES",
    "SymbolSet",
    "asset_of",
    "glued_pair",
    "is_bare",
    "split_pair",
    "symbol_matches",
    "to_pair",
]

_SEPARATORS = ("/", "-")
_FORBIDDEN = frozenset(" \t\r\n:")


def _check_token(token: str, symbol: str) -> str:
    if not token or any(ch in _FORBIDDEN for ch in token):
        raise ValueError(f"invalid symbol {symbol!r}: expected BASE, BASE-QUOTE or BASE/QUOTE")
    return token


def to_pair(symbol: str) -> str:
    """Normalise ``BTC-USD`` / ``btc/usd`` to ``BTC/USD``; a bare base stays bare (``BTC``).

    Raises ``ValueError`` for empty or malformed symbols (``BTC-``, ``A/B/C``, ``BTC/USD:USD``):
    the universe is spot only, and a silently mangled rule would quietly match nothing.
    """
    if not isinstance(symbol, str):
        raise ValueError(f"invalid symbol {symbol!r}: not a string")
    return _to_pair_cached(symbol)


# The same few hundred pair strings come back on every refresh; caching keeps normalisation off
# the per-refresh budget (errors are not cached, so a bad symbol raises every time).
@lru_cache(maxsize=8192)
def _to_pair_cached(symbol: str) -> str:
    text = symbol.strip().upper()
    sep = next((s for s in _SEPARATORS if s in text), None)
    if sep is None:
        return _check_token(text, symbol)
    parts = text.split(sep)
    if len(parts) != 2 or any(other in text for other in _SEPARATORS if other != sep):
        raise ValueError(f"invalid symbol {symbol!r}: expected BASE, BASE-QUOTE or BASE/QUOTE")
    base, quote = (_check_token(p, symbol) for p in parts)
    return f"{base}/{quote}"


# Coinbase Advanced Trade's quote currencies; longest first so that ADAUSDC reads ADA-USDC.
QUOTE_CURRENCIES: Final = ("USDC", "USDT", "USD", "EUR", "GBP", "BTC", "ETH")


def glued_pair(symbol: str, known_bases: Set[str]) -> str | None:
    """``ADAUSD`` -> ``ADA-USD``: a bare symbol that is not itself a known base but is a known
    base followed by a quote currency; ``None`` otherwise (``CBETH``: ``CB`` is no known base,
    ``BTC-USD``: not bare)."""
    text = symbol.strip().upper()
    if any(sep in text for sep in _SEPARATORS) or text in known_bases:
        return None
    for quote in QUOTE_CURRENCIES:
        base = text.removesuffix(quote)
        if base and base != text and base in known_bases:
            return f"{base}-{quote}"
    return None


def is_bare(symbol: str) -> bool:
    """True when the (normalised) symbol names a base currency only."""
    return "/" not in to_pair(symbol)


def split_pair(pair: str) -> tuple[str, str]:
    """``"BTC-USD"`` -> ``("BTC", "USD")``. A bare base has no quote: ``ValueError``."""
    norm = to_pair(pair)
    base, sep, quote = norm.partition("/")
    if not sep:
        raise ValueError(f"{pair!r} is a bare base, not a pair")
    return base, quote


def asset_of(symbol: str) -> str:
    """The asset (base currency) a symbol stands for: ``DOGE/USD``, ``DOGE-USD``, ``doge`` ->
    ``DOGE``. The one definition, for config symbols and for the pairs of live positions.

    Total on strings (never raises): it runs in the entry gate and the trimmer on whatever pair a
    position or a fleet member reports, where an exception would stop cap enforcement; config
    symbols were validated by their model before they get here. Edge cases, decided:

    - ``/`` wins over ``-``: ccxt's ``BASE/QUOTE`` is authoritative, so the base is what comes
      before the first ``/`` (``ETH/USDC:USDC`` -> ``ETH``); without ``/`` it is what comes
      before the first ``-`` (Coinbase ids, also multi-part ones: ``BTC-PERP-INTX`` -> ``BTC``).
    - A bare base is its own asset (``BTC`` -> ``BTC``).
    - Upper-cased, surrounding blanks dropped: ``doge-usd`` and ``DOGE/USD`` are one asset.
    - A fleet key ``bot|pair`` (``core.fleet``) is the pair after the last ``|``, so cluster and
      asset caps hold for the whole account in a fleet.
    """
    pair = symbol.rpartition("|")[2]
    for separator in _SEPARATORS:
        if separator in pair:
            pair = pair.split(separator, 1)[0]
            break
    return pair.strip().upper()


def symbol_matches(rule_symbol: str, pair: str) -> bool:
    """Does a rule symbol (pair or bare base) cover ``pair``? A bare base matches every quote."""
    rule = to_pair(rule_symbol)
    target = to_pair(pair)
    if "/" in rule:
        return rule == target
    return rule == target.partition("/")[0]


@dataclass(frozen=True)
class SymbolSet:
    """Pre-split rule symbols so that matching a pair is two set look-ups (hot path: 800 pairs)."""

    pairs: frozenset[str] = frozenset()
    bases: frozenset[str] = frozenset()

    @classmethod
    def of(cls, symbols: Iterable[str]) -> SymbolSet:
        pairs: set[str] = set()
        bases: set[str] = set()
        for sym in symbols:
            norm = to_pair(sym)
            (pairs if "/" in norm else bases).add(norm)
        return cls(frozenset(pairs), frozenset(bases))

    def matches(self, pair: str) -> bool:
        """``pair`` must already be normalised (``BTC/USD``)."""
        return pair in self.pairs or pair.partition("/")[0] in self.bases

    def matches_exact(self, pair: str) -> bool:
        return pair in self.pairs

    def matches_base(self, pair: str) -> bool:
        return pair.partition("/")[0] in self.bases

    def __bool__(self) -> bool:
        return bool(self.pairs or self.bases)
