"""Field types of the config models and symbol normalisation.

- Scalars are strict: ``"25"`` is not a number and ``1`` is not ``true``; an int is accepted
  where a float is expected. NaN and infinities are rejected.
- Ranges are checked by :class:`Bounds`, so messages read ``must be > 0 and <= 100 (got 250)``
  and the generated JSON Schema carries the same limits for editor completion. These bounds are
  the one declaration of every range: the core's value objects trust what ``to_core()`` builds.
- Symbols may be written ``BTC-USD``, ``BTC/USD`` or a bare base ``BTC`` (every quote); they are
  kept as written and compared in the normalised form of :func:`normalize_symbol`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import (
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictFloat,
    StrictStr,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from trader247.core.config.problems import show_value
from trader247.core.symbols import to_pair

__all__ = [
    "CURRENCY_PATTERN",
    "FROZEN",
    "SYMBOL_PATTERN",
    "Bounds",
    "Currency",
    "Matches",
    "Percent",
    "PositiveFloat",
    "Symbol",
    "Text",
    "covers",
    "norm_or_none",
    "normalize_symbol",
    "overlap",
]

SYMBOL_PATTERN: Final = r"^[A-Z0-9]{1,20}([-/][A-Z0-9]{1,20})?$"
CURRENCY_PATTERN: Final = r"^[A-Z0-9]{1,20}$"
_SYMBOL_RE: Final = re.compile(SYMBOL_PATTERN)

FROZEN: Final = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
"""Every section: immutable, unknown keys are errors, no NaN or infinity."""


def _num(x: float) -> str:
    return show_value(x)


class _AfterCheck:
    """A pydantic ``Annotated`` marker: ``check`` runs after the type's own validation."""

    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))


@dataclass(frozen=True)
class Bounds(_AfterCheck):
    """Range check with a readable message, also written into the JSON Schema.

    Used as ``Annotated[StrictFloat, Bounds(gt=0, le=100)]``.
    """

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def describe(self) -> str:
        terms = []
        if self.gt is not None:
            terms.append(f"> {_num(self.gt)}")
        if self.ge is not None:
            terms.append(f">= {_num(self.ge)}")
        if self.lt is not None:
            terms.append(f"< {_num(self.lt)}")
        if self.le is not None:
            terms.append(f"<= {_num(self.le)}")
        return "must be " + " and ".join(terms)

    def contains(self, value: float) -> bool:
        return not (
            math.isnan(value)
            or (self.gt is not None and not value > self.gt)
            or (self.ge is not None and not value >= self.ge)
            or (self.lt is not None and not value < self.lt)
            or (self.le is not None and not value <= self.le)
        )

    def check(self, value: Any) -> Any:
        if not self.contains(value):
            raise PydanticCustomError(
                "out_of_range",
                "{bounds} (got {got})",
                {"bounds": self.describe(), "got": show_value(value)},
            )
        return value

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        js = handler(schema)
        for key, value in (
            ("exclusiveMinimum", self.gt),
            ("minimum", self.ge),
            ("exclusiveMaximum", self.lt),
            ("maximum", self.le),
        ):
            if value is not None:
                js[key] = value
        return js


@dataclass(frozen=True)
class Matches(_AfterCheck):
    """String form check (symbols, currency codes, non-empty text) with a readable message."""

    pattern: str
    expected: str

    def check(self, value: str) -> str:
        if not re.match(self.pattern, value):
            raise PydanticCustomError(
                "bad_form",
                "must be {expected} (got {got})",
                {"expected": self.expected, "got": show_value(value)},
            )
        return value

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        js = handler(schema)
        js["pattern"] = self.pattern
        return js


Symbol = Annotated[
    StrictStr,
    Matches(SYMBOL_PATTERN, "a symbol like BTC-USD, BTC/USD or BTC (upper-case letters/digits)"),
]
Currency = Annotated[StrictStr, Matches(CURRENCY_PATTERN, "a currency code like USDC")]
Text = Annotated[StrictStr, Matches(r"^\S(.*\S)?$", "a non-empty string")]
PositiveFloat = Annotated[StrictFloat, Bounds(gt=0)]
Percent = Annotated[StrictFloat, Bounds(gt=0, le=100)]


def normalize_symbol(symbol: str) -> str:
    """``BTC-USD`` / ``BTC/USD`` -> ``BTC/USD`` (freqtrade form); a bare base stays ``BTC``.

    Raises ``ValueError`` unless ``symbol`` is in one of the three accepted config forms.
    """
    if not isinstance(symbol, str) or not _SYMBOL_RE.match(symbol):
        raise ValueError(f"invalid symbol {symbol!r}: expected BTC-USD, BTC/USD or BTC")
    return to_pair(symbol)


def overlap(a: str, b: str) -> bool:
    """Do two normalised symbols cover a common pair?"""
    if a == b:
        return True
    if "/" in a and "/" in b:
        return False
    return a.partition("/")[0] == b.partition("/")[0]


def covers(rule: str, pair: str) -> bool:
    """Does normalised rule ``rule`` cover every pair that normalised ``pair`` covers?"""
    return rule == pair or ("/" not in rule and pair.partition("/")[0] == rule)

def norm_or_none(symbol: str) -> str | None:
    """:func:`normalize_symbol`, or ``None`` for a symbol the model already reported."""
    try:
        return normalize_symbol(symbol)
    except ValueError:
        return None
