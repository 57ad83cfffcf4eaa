"""24h volume in US dollars, whatever currency the exchange reported it in.

The original bot read Coinbase ``volume_24h`` (BASE units: 5928.37 BTC) as dollars and showed BTC
at "$6K". Every figure leaving this module is therefore either a real USD amount or ``None`` with a
reason; a base-unit count is only ever used multiplied by a price.

The settings (pegged quotes, volume source, suspect ratio) are passed in, never defaulted here:
their one definition is ``liquidity:`` in ``trader247.core.config``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal, NamedTuple, get_args

from trader247.core.symbols import split_pair, to_pair

__all__ = [
    "NO_USD_PRICE",
    "VOLUME_SOURCES",
    "TickerSnapshot",
    "UsdPriceIndex",
    "UsdVolume",
    "VolumeSource",
    "build_usd_price_index",
    "parse_amount",
    "parse_price",
    "quote_to_usd",
    "ticker_from_ccxt",
    "usd_volume",
]

VolumeSource = Literal["quote_first", "quote", "base_times_price"]
VOLUME_SOURCES: Final[tuple[str, ...]] = get_args(VolumeSource)

# Same spelling as ``universe.Reason.NO_USD_PRICE`` (a StrEnum): kept as a plain string here so
# this module does not import the universe module that imports it.
NO_USD_PRICE: Final = "NO_USD_PRICE"
USD: Final = "USD"


def parse_amount(value: object) -> float | None:
    """A non-negative finite number, or ``None``.

    Exchanges send numbers as strings ("5928.37"), nulls, empty strings and occasionally NaN;
    a negative 24h volume is garbage, not a short position.
    """
    kind = type(value)
    number: float
    # Hot paths first (one call per field per ticker per refresh): floats from ccxt, strings
    # from Coinbase's ``info``. ``float()`` already ignores surrounding white space.
    if kind is float:
        number = value  # type: ignore[assignment]
    elif kind is str:
        try:
            number = float(value)  # type: ignore[arg-type]  # kind is str
        except ValueError:
            return None
    elif value is None or kind is bool:
        return None
    elif isinstance(value, (int, float, Decimal)):  # noqa: UP038 - the tuple form is faster
        number = float(value)
    else:
        return None
    # NaN fails both comparisons; inf fails the second.
    return number if 0.0 <= number < math.inf else None


def parse_price(value: object) -> float | None:
    """Like :func:`parse_amount`, but zero is not a price (it would value any volume at $0)."""
    number = parse_amount(value)
    return number if number is not None and number > 0 else None


@dataclass(frozen=True)
class TickerSnapshot:
    """One pair's 24h ticker in plain numbers.

    ``quote_volume`` is in QUOTE currency, ``base_volume`` in BASE units, ``timestamp`` in epoch
    SECONDS (``None`` when the exchange did not say; treated as fresh).
    """

    pair: str
    base: str
    quote: str
    last: float | None
    quote_volume: float | None
    base_volume: float | None
    timestamp: float | None = None


class UsdVolume(NamedTuple):
    """Immutable result; a NamedTuple rather than a frozen dataclass because one is built per
    ticker per refresh and frozen-dataclass construction is ~3x slower."""

    usd: float | None
    method: str
    reason: str | None
    suspect: bool
    detail: str


@dataclass(frozen=True)
class UsdPriceIndex:
    """USD price per currency code from one batch of tickers; callable as ``usd_price_of``."""

    prices: Mapping[str, float]

    def __call__(self, currency: str) -> float | None:
        return self.prices.get(currency.upper())


def build_usd_price_index(
    tickers: Iterable[TickerSnapshot] | Mapping[str, TickerSnapshot],
    pegged_quotes: Iterable[str],
) -> UsdPriceIndex:
    """USD prices from the same ticker batch: ``X/USD`` last beats ``X/<pegged>`` last.

    One extra hop (``X/BTC`` × BTC's USD price) covers currencies with no USD or stablecoin
    market. A pegged currency is worth exactly $1 whatever its own ``USDT/USD`` ticker says:
    that is what "pegged" means in the config, and dropping a code from ``pegged_quotes`` is the
    switch for a depeg (it is then priced from its market like BTC).
    """
    items = tickers.values() if isinstance(tickers, Mapping) else tickers
    pegged = frozenset(q.upper() for q in pegged_quotes)
    direct: dict[str, float] = {}
    via_pegged: dict[str, float] = {}
    hop: list[tuple[str, str, float]] = []
    for t in items:
        last = parse_price(t.last)
        base, quote = t.base.upper(), t.quote.upper()
        if last is None or base == USD or base in pegged:
            continue
        if quote == USD:
            direct.setdefault(base, last)
        elif quote in pegged:
            via_pegged.setdefault(base, last)
        else:
            hop.append((base, quote, last))
    prices: dict[str, float] = {USD: 1.0, **dict.fromkeys(pegged, 1.0)}
    for found in (direct, via_pegged):
        for base, last in found.items():
            prices.setdefault(base, last)
    for base, quote, last in hop:
        quote_usd = prices.get(quote)
        if base not in prices and quote_usd is not None:
            prices[base] = last * quote_usd
    return UsdPriceIndex(prices)


def quote_to_usd(
    quote: str, usd_price_of: Callable[[str], float | None], pegged_quotes: Collection[str]
) -> float | None:
    """USD value of one unit of ``quote``: 1 for USD and pegged quotes, else its market price.

    ``pegged_quotes`` holds upper-case codes (``UniverseRules`` normalises them once, because this
    runs for every ticker on every refresh).
    """
    q = quote.upper()
    if q == USD or q in pegged_quotes:
        return 1.0
    return parse_price(usd_price_of(q))


def usd_volume(
    ticker: TickerSnapshot,
    usd_price_of: Callable[[str], float | None],
    *,
    pegged_quotes: Collection[str],
    source: VolumeSource,
    suspect_ratio: float,
) -> UsdVolume:
    """24h USD volume of one ticker.

    ``source``: ``quote_first`` (quote volume, else base × last), ``quote`` and
    ``base_times_price`` (one method only: rollback switches). ``suspect`` is set when the quote
    volume and base × last are both known and differ by more than ``suspect_ratio``×, the
    signature of a base-unit figure sitting in a quote-volume field (or the reverse).
    """
    if source not in VOLUME_SOURCES:
        raise ValueError(f"volume source {source!r} not one of {VOLUME_SOURCES}")
    # Figures in ``detail`` use 12 significant digits: cents survive on money-sized numbers
    # (4999999.99 must not print as 5e+06) and sub-dollar prices such as SHIB's still show.
    quote_vol = parse_amount(ticker.quote_volume)
    base_vol = parse_amount(ticker.base_volume)
    last = parse_price(ticker.last)
    base_times_last = base_vol * last if base_vol is not None and last is not None else None
    note = _suspect_note(quote_vol, base_times_last, suspect_ratio)
    suspect = bool(note)
    rate = quote_to_usd(ticker.quote, usd_price_of, pegged_quotes)
    if rate is None:
        return UsdVolume(
            None, "none", NO_USD_PRICE, suspect, f"no USD price for quote {ticker.quote}{note}"
        )
    if source != "base_times_price" and quote_vol is not None:
        return UsdVolume(
            quote_vol * rate,
            "quote_volume",
            None,
            suspect,
            f"quote_volume={quote_vol:.12g} {ticker.quote} x {rate:.12g}{note}",
        )
    if source != "quote" and base_vol is not None and last is not None:
        return UsdVolume(
            base_vol * last * rate,
            "base_times_last",
            None,
            suspect,
            f"base_volume={base_vol:.12g} {ticker.base} x last={last:.12g} x {rate:.12g}{note}",
        )
    missing = {
        "quote_first": "no quote volume and no base volume x last",
        "quote": "no quote volume",
        "base_times_price": "no base volume x last",
    }[source]
    return UsdVolume(None, "none", NO_USD_PRICE, suspect, f"{missing} (source={source}){note}")


def _suspect_note(
    quote_vol: float | None, base_times_last: float | None, suspect_ratio: float
) -> str:
    """`` suspect: ...`` when both figures are known and differ by more than ``suspect_ratio``x,
    else ``""``."""
    if quote_vol is None or base_times_last is None:
        return ""
    low, high = min(quote_vol, base_times_last), max(quote_vol, base_times_last)
    ratio = (math.inf if low == 0 else high / low) if high > 0 else 1.0
    if not ratio > suspect_ratio:  # also a NaN ratio (two infinite figures): not suspect
        return ""
    return (
        f" suspect: quote_volume={quote_vol:.12g}"
        f" base_times_last={base_times_last:.12g} ratio={ratio:.12g}"
    )


def _first(*candidates: object, parse: Callable[[object], float | None]) -> float | None:
    for value in candidates:
        number = parse(value)
        if number is not None:
            return number
    return None


def _timestamp_s(ccxt_ticker: Mapping[str, Any]) -> float | None:
    ms = parse_amount(ccxt_ticker.get("timestamp"))
    if ms is not None:
        return ms / 1000.0
    text = ccxt_ticker.get("datetime")
    if isinstance(text, str) and text:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        # Exchange times are UTC; a naive value must not pick up the host's local zone.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def ticker_from_ccxt(
    pair: str, ccxt_ticker: Mapping[str, Any], market: Mapping[str, Any] | None = None
) -> TickerSnapshot:
    """Map a ccxt ticker (and optional market) to a :class:`TickerSnapshot`.

    Quote volume prefers Coinbase's ``info.approximate_quote_24h_volume`` (quote currency), then
    ccxt ``quoteVolume``; base volume is ``baseVolume`` or ``info.volume_24h`` (BASE units). The
    first value that parses wins, so an empty string falls through to the next source.
    ``ValueError`` when ``pair`` is not a spot pair symbol (e.g. ``BTC/USD:USD``).
    """
    raw_info = ccxt_ticker.get("info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
    base = quote = None
    if market is not None:
        b, q = market.get("base"), market.get("quote")
        if isinstance(b, str) and b and isinstance(q, str) and q:
            base, quote = b.upper(), q.upper()
    if base is None or quote is None:
        base, quote = split_pair(pair)
    return TickerSnapshot(
        pair=to_pair(pair),
        base=base,
        quote=quote,
        last=_first(
            ccxt_ticker.get("last"), ccxt_ticker.get("close"), info.get("price"), parse=parse_price
        ),
        quote_volume=_first(
            info.get("approximate_quote_24h_volume"),
            ccxt_ticker.get("quoteVolume"),
            parse=parse_amount,
        ),
        base_volume=_first(
            ccxt_ticker.get("baseVolume"), info.get("volume_24h"), parse=parse_amount
        ),
        timestamp=_timestamp_s(ccxt_ticker),
    )
