"""``protections:`` of ``policy.yaml``: freqtrade's own protections in freqtrade's format."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)
from pydantic_core import PydanticCustomError

from trader247.core.config.fields import FROZEN, Bounds, Matches
from trader247.core.config.problems import closest, show_value
from trader247.core.plugin_names import PROTECTION

__all__ = ["PROTECTION_METHODS", "PROTECTION_PARAMETERS", "ProtectionConfig"]

PROTECTION_METHODS: Final = ("StoplossGuard", "MaxDrawdown", "CooldownPeriod", "LowProfitPairs")
_WINDOW_PARAMETERS: Final = frozenset(
    {"stop_duration", "stop_duration_candles", "unlock_at", "lookback_period",
     "lookback_period_candles"}
)
PROTECTION_PARAMETERS: Final[dict[str, frozenset[str]]] = {
    "StoplossGuard": _WINDOW_PARAMETERS
    | {"trade_limit", "only_per_pair", "only_per_side", "required_profit"},
    "MaxDrawdown": _WINDOW_PARAMETERS
    | {"trade_limit", "max_allowed_drawdown", "calculation_mode"},
    "CooldownPeriod": _WINDOW_PARAMETERS,
    "LowProfitPairs": _WINDOW_PARAMETERS | {"trade_limit", "required_profit", "only_per_side"},
}
"""Parameters of freqtrade 2026.9's own protections (freqtrade/plugins/protections/*.py)."""

_Minutes = Annotated[StrictInt, Bounds(ge=1)]


class ProtectionConfig(BaseModel):
    """One of freqtrade's own protections, in freqtrade's format (``method`` + its parameters).

    Freqtrade 2026.9 takes protections only from the strategy; ``trader247.protection_list``
    hands these to it after ``ExposureCap``, which is always there and must not be listed.
    Parameters a method does not know are reported by :func:`check_policy`.
    """

    model_config = FROZEN

    method: StrictStr = Field(
        description="StoplossGuard, MaxDrawdown, CooldownPeriod or LowProfitPairs.",
        json_schema_extra={"enum": list(PROTECTION_METHODS)},
    )
    stop_duration: _Minutes | None = Field(None, description="Lock length in minutes.")
    stop_duration_candles: _Minutes | None = Field(None, description="Lock length in candles.")
    unlock_at: (
        Annotated[StrictStr, Matches(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "a time HH:MM (UTC)")]
        | None
    ) = Field(None, description='Lock until this time of day, "HH:MM" UTC (quoted).')
    lookback_period: _Minutes | None = Field(None, description="Window in minutes.")
    lookback_period_candles: _Minutes | None = Field(None, description="Window in candles.")
    trade_limit: Annotated[StrictInt, Bounds(ge=1)] | None = Field(
        None, description="Trades needed in the window before the protection acts."
    )
    only_per_pair: StrictBool | None = Field(None, description="StoplossGuard: pair locks only.")
    only_per_side: StrictBool | None = Field(None, description="Lock only the losing side.")
    required_profit: Annotated[StrictFloat, Bounds(gt=-1)] | None = Field(
        None, description="Profit ratio below which a trade counts (0.0: any loss)."
    )
    max_allowed_drawdown: Annotated[StrictFloat, Bounds(ge=0, le=1)] | None = Field(
        None, description="MaxDrawdown: drawdown ratio that locks (0.1 = 10 %)."
    )
    calculation_mode: Literal["ratios", "equity"] | None = Field(
        None, description="MaxDrawdown: 'equity' is relative to the account balance."
    )

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method == PROTECTION:
            raise PydanticCustomError(
                "exposure_cap_listed",
                "{name} is always added by 247trader (first, from risk.*); remove it here",
                {"name": PROTECTION},
            )
        if method not in PROTECTION_METHODS:
            hint = closest(method, PROTECTION_METHODS)
            raise PydanticCustomError(
                "unknown_protection",
                "unknown protection {got}{hint} (expected one of {known})",
                {
                    "got": show_value(method),
                    "hint": f" (did you mean {hint}?)" if hint else "",
                    "known": ", ".join(PROTECTION_METHODS),
                },
            )
        return method

    @field_validator("unlock_at", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1440:
            # YAML 1.1 reads an unquoted 12:30 as the base-60 number 750.
            hint = f"{value // 60:02d}:{value % 60:02d}"
            raise PydanticCustomError(
                "unquoted_time",
                'must be a quoted time: unlock_at: "{hint}" (YAML read {hint} as the number {got})',
                {"hint": hint, "got": value},
            )
        return value

    def parameters(self) -> dict[str, Any]:
        """The parameters that are set, as freqtrade reads them (``method`` excluded)."""
        return {
            name: value
            for name, value in self.model_dump(exclude={"method"}).items()
            if value is not None
        }

    def to_freqtrade(self) -> dict[str, Any]:
        """``{"method": ..., <set parameters>}``: an entry of the strategy's ``protections``."""
        return {"method": self.method, **self.parameters()}
