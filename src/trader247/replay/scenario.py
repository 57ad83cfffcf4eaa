"""Scenario files (YAML or JSON): faults, price scripts, order book shape, product overrides.

Every key is validated; an error names the file and the key path (``faults[2].status``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from trader247.replay.auth import AccountSetup, KeysError, parse_balances, parse_fee_tier
from trader247.replay.brokerage import DEFAULT_VOLUME_SHARE
from trader247.replay.faults import Fault, ScenarioError, number_field, parse_fault, parse_window
from trader247.replay.faults import product_id as to_product_id
from trader247.replay.pricescript import PriceScript

# Advanced Trade's product fields in the order the API returns them.
PRODUCT_FIELDS = (
    "product_id", "price", "price_percentage_change_24h", "volume_24h",
    "volume_percentage_change_24h", "base_increment", "quote_increment", "quote_min_size",
    "quote_max_size", "base_min_size", "base_max_size", "base_name", "quote_name", "watched",
    "is_disabled", "new", "status", "cancel_only", "limit_only", "post_only", "trading_disabled",
    "auction_mode", "product_type", "quote_currency_id", "base_currency_id",
    "fcm_trading_session_details", "mid_market_price", "alias", "alias_to",
    "base_display_symbol", "quote_display_symbol", "view_only", "price_increment",
    "display_name", "product_venue", "approximate_quote_24h_volume", "new_at",
)
# Not a Coinbase field: drops the product from every listing (a removed market).
HIDDEN = "hidden"
_TOP_KEYS = ("seed", "faults", "price_script", "price_scripts", "book", "products", "accounts",
             "matching")


@dataclass(frozen=True)
class BookShape:
    spread_bps: float | None = None  # None ("auto"): one tick on liquid books, see book.py
    depth_levels: int = 50
    step_bps: float = 1.0
    # quote value per level; None = scaled to the pair's 24 h quote volume
    level_quote_size: float | None = None


@dataclass
class BookConfig:
    default: BookShape = field(default_factory=BookShape)
    pairs: dict[str, BookShape] = field(default_factory=dict)

    def for_pair(self, product_id: str) -> BookShape:
        return self.pairs.get(product_id, self.default)


@dataclass
class Scenario:
    seed: int = 0
    faults: list[Fault] = field(default_factory=list)
    price_scripts: list[PriceScript] = field(default_factory=list)
    book: BookConfig = field(default_factory=BookConfig)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    # opening balances by account (keys file accounts come first, these are applied after)
    accounts: dict[str, AccountSetup] = field(default_factory=dict)
    # share of the replayed volume a resting limit order may take while the price crosses it
    volume_share: Decimal = DEFAULT_VOLUME_SHARE


def parse_matching(raw: Any, where: str) -> Decimal:
    raw = _mapping(raw, where)
    unknown = set(raw) - {"volume_share"}
    if unknown:
        raise ScenarioError(f"{where}.{sorted(unknown)[0]}: unknown key (expected volume_share)")
    share = number_field(raw, "volume_share", where, default=float(DEFAULT_VOLUME_SHARE),
                         minimum=0)
    if share > 1:
        raise ScenarioError(f"{where}.volume_share: must be within [0, 1], got {share}")
    return Decimal(repr(share))


def parse_accounts(raw: Any, where: str) -> dict[str, AccountSetup]:
    out: dict[str, AccountSetup] = {}
    for name, setup in _mapping(raw, where).items():
        here = f"{where}.{name}"
        setup = _mapping(setup, here)
        unknown = set(setup) - {"balances", "fee_tier"}
        if unknown:
            raise ScenarioError(f"{here}.{sorted(unknown)[0]}: unknown key (expected balances, "
                                "fee_tier)")
        try:
            out[str(name)] = AccountSetup(parse_balances(setup.get("balances", {}),
                                                         f"{here}.balances"),
                                          parse_fee_tier(setup.get("fee_tier"),
                                                         f"{here}.fee_tier"))
        except KeysError as exc:
            raise ScenarioError(str(exc)) from None
    return out


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return raw


def _list(raw: Any, where: str) -> list[Any]:
    if isinstance(raw, Mapping):
        return [raw]
    if not isinstance(raw, list):
        raise ScenarioError(f"{where}: expected a list, got {type(raw).__name__}")
    return raw


def parse_price_script(raw: Any, where: str, now_s: float | None = None) -> PriceScript:
    raw = _mapping(raw, where)
    unknown = set(raw) - {"pair", "start_s", "end_s", "duration_s", "from_multiplier",
                          "to_multiplier"}
    if unknown:
        raise ScenarioError(f"{where}.{sorted(unknown)[0]}: unknown key for a price script")
    start, end = parse_window(raw, where, now_s)
    if end is None:
        raise ScenarioError(f"{where}.end_s: a price script needs end_s or duration_s")
    pair = raw.get("pair")
    if pair is not None and (not isinstance(pair, str) or not pair.strip()):
        raise ScenarioError(f"{where}.pair: expected a pair like 'BTC/USD', got {pair!r}")
    values = [number_field(raw, key, where, default=1.0) for key in ("from_multiplier",
                                                                 "to_multiplier")]
    for key, value in zip(("from_multiplier", "to_multiplier"), values, strict=True):
        if value <= 0:
            raise ScenarioError(f"{where}.{key}: must be > 0, got {value}")
    return PriceScript(start, end, values[0], values[1], to_product_id(pair) if pair else None)


def parse_book_shape(raw: Any, where: str, base: BookShape) -> BookShape:
    raw = _mapping(raw, where)
    unknown = set(raw) - {"spread_bps", "depth_levels", "step_bps", "level_quote_size"}
    if unknown:
        raise ScenarioError(f"{where}.{sorted(unknown)[0]}: unknown key for the book shape")
    spread: float | None = base.spread_bps
    if raw.get("spread_bps") == "auto":
        spread = None
    elif "spread_bps" in raw:
        spread = number_field(raw, "spread_bps", where, minimum=0)
    shape = replace(
        base,
        spread_bps=spread,
        depth_levels=number_field(raw, "depth_levels", where, default=base.depth_levels, minimum=1,
                             integer=True),
        step_bps=number_field(raw, "step_bps", where, default=base.step_bps, minimum=0),
        level_quote_size=number_field(raw, "level_quote_size", where, default=base.level_quote_size,
                                 minimum=0),
    )
    if shape.depth_levels > 1000:
        raise ScenarioError(f"{where}.depth_levels: at most 1000, got {shape.depth_levels}")
    return shape


def parse_book(raw: Any, where: str, base: BookConfig | None = None) -> BookConfig:
    raw = _mapping(raw, where)
    base = base or BookConfig()
    default = parse_book_shape({k: v for k, v in raw.items() if k != "pairs"}, where,
                               base.default)
    pairs = dict(base.pairs)
    for pair, shape in _mapping(raw.get("pairs", {}), f"{where}.pairs").items():
        pairs[to_product_id(pair)] = parse_book_shape(shape, f"{where}.pairs.{pair}", default)
    return BookConfig(default, pairs)


def parse_products(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for pair, fields in _mapping(raw, where).items():
        here = f"{where}.{pair}"
        fields = _mapping(fields, here)
        for key, value in fields.items():
            if key == "product_id" or (key not in PRODUCT_FIELDS and key != HIDDEN):
                raise ScenarioError(f"{here}.{key}: not an overridable product field")
            if value is not None and not isinstance(value, str | int | float | bool | list):
                raise ScenarioError(f"{here}.{key}: expected a scalar, got {value!r}")
        out[to_product_id(str(pair))] = dict(fields)
    return out


def parse_scenario(raw: Any, source: str) -> Scenario:
    if raw is None:
        return Scenario()
    raw = _mapping(raw, source)
    unknown = set(raw) - set(_TOP_KEYS)
    if unknown:
        raise ScenarioError(f"{source}: unknown key {sorted(unknown)[0]!r} "
                            f"(expected {', '.join(_TOP_KEYS)})")
    seed = number_field(raw, "seed", source, default=0, integer=True)
    scenario = Scenario(seed=seed)
    for i, item in enumerate(_list(raw.get("faults", []), f"{source}: faults")):
        scenario.faults.append(parse_fault(item, f"{source}: faults[{i}]", fault_id=f"f{i + 1}",
                                           seed=seed + i + 1))
    for key in ("price_script", "price_scripts"):
        for i, item in enumerate(_list(raw.get(key, []), f"{source}: {key}")):
            scenario.price_scripts.append(parse_price_script(item, f"{source}: {key}[{i}]"))
    if "book" in raw:
        scenario.book = parse_book(raw["book"], f"{source}: book")
    if "products" in raw:
        scenario.products = parse_products(raw["products"], f"{source}: products")
    if "accounts" in raw:
        scenario.accounts = parse_accounts(raw["accounts"], f"{source}: accounts")
    if "matching" in raw:
        scenario.volume_share = parse_matching(raw["matching"], f"{source}: matching")
    return scenario


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    source = f"scenario file {path}"
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
    except (ValueError, ImportError) as exc:
        raise ScenarioError(f"{source}: not valid JSON: {exc}") from None
    except Exception as exc:  # yaml.YAMLError; a parse error is the file's, not ours
        problem = getattr(exc, "problem", None) or type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(f"{source}: not valid YAML: {problem}{where}") from None
    return parse_scenario(raw, source)
