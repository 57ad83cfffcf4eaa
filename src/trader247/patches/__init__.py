"""The few places where we change freqtrade's behaviour, one small module each.

Freqtrade has no plugin API for these; each patch is installed by the plugin that needs it, when
freqtrade loads that plugin (dry-run and live only), and is idempotent. The whole list, with
what else of freqtrade's we override or read, is ``trader247.freqtrade_surface``:

- ``execute_entry_gate``: ``FreqtradeBot.execute_entry``, by ``ExposureCapMixin.ft_bot_start``;
- ``iteration_timing``: ``FreqtradeBot.process``, when our metrics exporter starts;
- ``markets_guard``: ``Exchange._load_async_markets`` of the bot's exchange object only, by
  ``TieredLiquidityPairList.__init__`` (the pairlist owns the markets);
- ``idempotent_create`` and ``market_fill``: ``create_order`` of the bot's live ccxt instance
  (``live_api``: never a class), by ``ExposureCapMixin.ft_bot_start``, the part of ours that
  places orders.

Every module lists what it relies on (:class:`Needs`, :func:`source_problems`); ``install``
checks that first and, on a freqtrade that changed, names the freqtrade function: the cap gate
refuses to start (:class:`FreqtradeChanged`), the others log one error and stay out.
``tests/compat`` runs the same checks on every supported release.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from freqtrade.exceptions import OperationalException

POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
MARKER = "__trader247_patch__"
"""Attribute on each wrapper naming the patch: how ``install`` knows it already ran."""


class FreqtradeChanged(OperationalException):  # type: ignore[misc]  # freqtrade is untyped
    """Freqtrade's code is not what a patch was written for (an untested release)."""


@dataclass(frozen=True)
class Needs:
    """The parameters (name -> kind) a patch relies on in one freqtrade callable.

    ``exact``: no other parameter (besides ``self``) may exist, for a wrapper that passes none.
    """

    qualname: str
    parameters: Mapping[str, inspect._ParameterKind]
    exact: bool = False

    def problems(self, function: Callable[..., Any]) -> list[str]:
        try:
            signature = inspect.signature(inspect.unwrap(function))
        except (TypeError, ValueError):
            return [f"{self.qualname} has no inspectable signature"]
        found = signature.parameters
        signature = _plain(signature)
        missing = [f"{name} ({kind.description})" for name, kind in self.parameters.items()
                   if name not in found or found[name].kind is not kind]
        extra = [name for name in found if name != "self" and name not in self.parameters]
        problems = [f"{self.qualname}{signature} lacks {', '.join(missing)}"] if missing else []
        if self.exact and extra:
            problems.append(f"{self.qualname}{signature} has parameters it did not have: "
                            f"{', '.join(extra)}")
        return problems


def _plain(signature: inspect.Signature) -> inspect.Signature:
    """Names, kinds and defaults only: what a message needs, not annotations."""
    empty = inspect.Parameter.empty
    return signature.replace(
        parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
        return_annotation=empty)


def source_problems(qualname: str, function: Callable[..., Any],
                    fragments: Iterable[str]) -> list[str]:
    """Behaviour a patch relies on that a signature cannot show: calls inside ``function``."""
    try:
        source = inspect.getsource(inspect.unwrap(function))
    except (OSError, TypeError):
        return [f"{qualname}: source not available"]
    return [f"{qualname} no longer contains `{fragment}`" for fragment in fragments
            if fragment not in source]


def refuse(patch: str, problems: list[str]) -> FreqtradeChanged:
    from freqtrade import __version__

    return FreqtradeChanged(
        f"trader247 patch {patch}: freqtrade {__version__} changed what it relies on: "
        + "; ".join(problems))


def installed(function: Any, patch: str) -> bool:
    return bool(getattr(function, MARKER, None) == patch)
